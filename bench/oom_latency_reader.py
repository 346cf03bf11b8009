#!/usr/bin/env python3
"""Reads lines from stdin, each holding one OOM line's "[t=<ns>]" stamp (an event from
`vramguard events --follow --json`, or a raw log line from `tail -F | grep`), stamps the moment it
arrived (CLOCK_REALTIME, the writer's clock), and after N lines (or the writer's "[end]" line)
writes the latency percentiles to OUT_JSON.

usage: oom_latency_reader.py N LABEL OUT_JSON
"""
import json
import re
import sys
import time

n, label, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
stamp = re.compile(r"\[t=(\d+)\]")
visible, recorded = [], []
for line in sys.stdin:
    now = time.time_ns()
    m = stamp.search(line)
    if not m:
        if "[end]" in line:  # the writer is done: fewer than N arrived
            break
        continue
    t = int(m.group(1))
    visible.append((now - t) / 1e6)
    if line.startswith("{"):
        ev = json.loads(line)
        recorded.append(ev["time_unix_ms"] - t / 1e6)
    if len(visible) >= n:
        break


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))] if xs else None


res = {"label": label, "n": len(visible),
       "visible_ms": {"p50": pct(visible, 50), "p99": pct(visible, 99), "max": max(visible or [0])}}
if recorded:
    res["recorded_ms"] = {"p50": pct(recorded, 50), "p99": pct(recorded, 99)}
with open(out, "w") as f:
    json.dump(res, f)
