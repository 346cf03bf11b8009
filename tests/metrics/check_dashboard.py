#!/usr/bin/env python3
"""Every query of the Grafana dashboard names metrics the daemon exports.

  check_dashboard.py DASHBOARD.json METRICS.txt

METRICS.txt is a scrape of `GET /metrics`; its `# TYPE` lines declare every family (the daemon
declares each family even before it has samples). A name in a query counts when it is a family,
or a histogram family's `_bucket`, `_sum` or `_count`. Exit 1 names each unknown metric.
"""
import json
import re
import sys


def families(text):
    out = {}
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


def exprs(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ("expr", "query") and isinstance(v, str):
                yield v
            else:
                yield from exprs(v)
    elif isinstance(node, list):
        for v in node:
            yield from exprs(v)


def known(name, fams):
    if name in fams:
        return True
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and fams.get(name[: -len(suffix)]) == "histogram":
            return True
    return False


def main():
    dash = json.load(open(sys.argv[1]))
    fams = families(open(sys.argv[2]).read())
    if not fams:
        print("no # TYPE lines in " + sys.argv[2], file=sys.stderr)
        return 1
    bad, seen = [], 0
    for e in exprs(dash):
        for name in re.findall(r"\bvramguard_[a-z0-9_]+", e):
            seen += 1
            if not known(name, fams):
                bad.append(name + " (in: " + e + ")")
    if seen == 0:
        print("the dashboard names no vramguard metric", file=sys.stderr)
        return 1
    for b in bad:
        print("unknown metric: " + b, file=sys.stderr)
    print("dashboard: %d metric references, %d unknown" % (seen, len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
