#!/usr/bin/env python3
"""Times commands side by side, interleaved: each round runs every command once, in an order that
rotates from round to round, so load from anything else on the machine falls on all of them alike
(hyperfine runs all of one command, then all of the next).

usage: interleave.py --runs N --warmup W --json OUT NAME=COMMAND...

A COMMAND without shell syntax is executed directly (no shell start-up in its time); one with
globs, redirections or pipes runs under /bin/sh -c, as a user would type it. Output is discarded.
Writes {"results": [{"command": NAME, "times": [s...], "median": s, "min": s, "max": s,
"mean": s}]} to OUT.
"""
import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time

SHELL_CHARS = set("*?[]<>|&;$`'\"(){}")


def argv_for(command):
    if any(c in SHELL_CHARS for c in command):
        return ["/bin/sh", "-c", command]
    return shlex.split(command)


def run_once(argv):
    start = time.perf_counter()
    subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", required=True)
    parser.add_argument("commands", nargs="+", metavar="NAME=COMMAND")
    args = parser.parse_args()
    named = []
    for spec in args.commands:
        name, sep, command = spec.partition("=")
        if not sep or not command:
            sys.exit(f"interleave.py: expected NAME=COMMAND, got {spec!r}")
        named.append((name, argv_for(command)))
    for _ in range(args.warmup):
        for _, argv in named:
            run_once(argv)
    times = {name: [] for name, _ in named}
    for r in range(args.runs):
        order = named[r % len(named):] + named[:r % len(named)]
        for name, argv in order:
            times[name].append(run_once(argv))
    results = []
    for name, _ in named:
        t = times[name]
        results.append({"command": name, "times": t, "median": statistics.median(t),
                        "min": min(t), "max": max(t), "mean": statistics.fmean(t)})
    with open(args.json, "w") as out:
        json.dump({"results": results}, out)


if __name__ == "__main__":
    main()
