#!/usr/bin/env python3
"""The OOM-intelligence regression corpus (tests/fixtures/logs/corpus): every real error text
through `vramguard explain --json`, compared with its expectation file.

  check.py --bin build/vramguard            # exit 1 on any difference (CTest: e2e.explain_corpus)
  check.py --bin build/vramguard --report   # recall, false positives, exact numbers (bench/README)

Each case is <name>.log (the text as a user pasted it) and <name>.json ({"source", "engine",
"version", "incidents": [{"kind", <field>: <value> …}], "note"}); the expected incidents are in
order and list only the numbers the text states. `ready` incidents are not compared. The whole
corpus is also run as one log (every case after a blank line and 11 separator lines, so no
merge window spans two cases) and must give the same incidents in the same order.

A case whose expectation has "known_miss": "<why>" is one the classifier gets wrong today, kept so
that the miss stays visible: it counts in the report's measures like any case, is left out of the
whole-corpus run, and does not fail the check while it still differs; once it comes out right the
check fails until the marker is removed (a fixed miss must become an ordinary case).
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys

FIELDS = ["requested_bytes", "capacity_bytes", "free_bytes", "allocated_bytes", "reserved_bytes",
          "reserved_unallocated_bytes", "process_bytes", "gpu", "pci_bus", "port", "xid"]
SEPARATOR = "\n" + "\n".join(["== next case =="] * 11) + "\n"


def cases(root):
    out = []
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            if f.endswith(".log"):
                base = os.path.join(dirpath, f[:-4])
                if os.path.exists(base + ".json"):
                    out.append(base)
    return sorted(out)


def explain(binary, text):
    r = subprocess.run([binary, "explain", "--json", "-"], input=text.encode("utf-8", "replace"),
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError("explain failed: " + r.stderr.decode(errors="replace"))
    doc = json.loads(r.stdout)
    return [i for i in doc["incidents"] if i["kind"] != "ready"]


def compare(expected, actual):
    """Returns (problems, matched pairs): expected and actual aligned in order by kind."""
    problems, pairs = [], []
    j = 0
    for k, e in enumerate(expected):
        while j < len(actual) and actual[j]["kind"] != e["kind"]:
            problems.append("unexpected %s (%s): %s" % (actual[j]["kind"], actual[j]["signature"],
                                                         actual[j]["line"][:120]))
            j += 1
        if j == len(actual):
            problems.append("missing incident %d: %s" % (k + 1, e["kind"]))
            continue
        a = actual[j]
        pairs.append((e, a))
        for f in FIELDS:
            if f in e and e[f] != a.get(f):
                problems.append("incident %d (%s) %s: expected %r, got %r" %
                                (k + 1, a["signature"], f, e[f], a.get(f)))
        j += 1
    for a in actual[j:]:
        problems.append("unexpected %s (%s): %s" % (a["kind"], a["signature"], a["line"][:120]))
    return problems, pairs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--corpus", default=os.path.join(os.path.dirname(__file__), "..", "fixtures",
                                                     "logs", "corpus"))
    ap.add_argument("--report", action="store_true")
    args = ap.parse_args()

    all_cases = cases(args.corpus)
    if not all_cases:
        print("no cases under " + args.corpus)
        return 1
    failed = 0
    known = []  # (name, why, still wrong)
    expected_total = found = false_pos = numbers = exact = 0
    positives = negatives = clean_negatives = 0
    texts, all_expected = [], []
    per_engine = {}
    # One explain process per case, as many at once as there are CPUs (a sanitizer build starts
    # slowly; the corpus keeps growing).
    logs = {}
    for base in all_cases:
        with open(base + ".log", encoding="utf-8", errors="replace") as f:
            logs[base] = f.read()
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = dict(zip(all_cases, pool.map(lambda b: explain(args.bin, logs[b]), all_cases)))
    for base in all_cases:
        text = logs[base]
        with open(base + ".json", encoding="utf-8") as f:
            spec = json.load(f)
        expected = [e for e in spec["incidents"] if e["kind"] != "ready"]
        actual = results[base]
        problems, pairs = compare(expected, actual)
        name = os.path.relpath(base, args.corpus)
        eng = per_engine.setdefault(name.split(os.sep)[0], [0, 0])
        eng[0] += 1
        if spec.get("known_miss"):
            known.append((name, spec["known_miss"], bool(problems)))
            if problems:
                eng[1] += 1
            elif not args.report:
                failed += 1
                print("FIXED %s: a known_miss that now comes out right; remove the marker" % name)
        elif problems:
            failed += 1
            eng[1] += 1
            if not args.report:
                print("FAIL %s (%s)" % (name, spec.get("source", "?")))
                for p in problems:
                    print("  " + p)
        expected_total += len(expected)
        found += len(pairs)
        false_pos += len(actual) - len(pairs)
        for e, a in pairs:
            for fld in FIELDS:
                if fld in e:
                    numbers += 1
                    exact += e[fld] == a.get(fld)
        if expected:
            positives += 1
        else:
            negatives += 1
            clean_negatives += not actual
        if not spec.get("known_miss"):
            texts.append(text.rstrip("\n"))
            all_expected.extend(expected)

    whole = explain(args.bin, SEPARATOR.join(texts) + "\n")
    whole_problems, _ = compare(all_expected, whole)

    if args.report:
        print("| measure | result |")
        print("|---|---|")
        print("| cases (files) | %d: %d with incidents, %d negatives |" %
              (len(all_cases), positives, negatives))
        print("| recall (expected incidents found, right kind) | %d / %d = %.1f %% |" %
              (found, expected_total, 100.0 * found / max(1, expected_total)))
        print("| false positives (incidents not expected) | %d (negatives clean: %d / %d) |" %
              (false_pos, clean_negatives, negatives))
        print("| stated numbers exact | %d / %d = %.1f %% |" %
              (exact, numbers, 100.0 * exact / max(1, numbers)))
        still = sum(1 for _, _, wrong in known if wrong)
        print("| cases exactly right | %d / %d (known misses: %d) |" %
              (len(all_cases) - failed - still, len(all_cases), still))
        print("| the whole corpus as one log | %s |" %
              ("same incidents" if not whole_problems else "%d differences" % len(whole_problems)))
        print()
        print("| engine | cases | not exactly right |")
        print("|---|---|---|")
        for e in sorted(per_engine):
            print("| %s | %d | %d |" % (e, per_engine[e][0], per_engine[e][1]))
        return 0
    for name, why, wrong in known:
        if wrong:
            print("known miss %s: %s" % (name, why))
    if whole_problems:
        print("FAIL the whole corpus as one log:")
        for p in whole_problems[:20]:
            print("  " + p)
    print("%d cases, %d failed; whole corpus: %s" %
          (len(all_cases), failed, "ok" if not whole_problems else "differs"))
    return 1 if failed or whole_problems else 0


if __name__ == "__main__":
    sys.exit(main())
