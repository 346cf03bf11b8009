#!/usr/bin/env python3
"""The service of bench/oom_latency.sh: writes N PyTorch OOM messages, each after FILLER ordinary
log lines (so the classifier's merge window never folds two into one incident), INTERVAL_MS apart.
Each OOM line ends with "[t=<CLOCK_REALTIME ns at the write>]" so the reader can compute latency.
It then keeps running (on_oom = "ignore").

usage: oom_latency_writer.py N INTERVAL_MS [FILLER]
"""
import os
import sys
import time

n, interval = int(sys.argv[1]), float(sys.argv[2]) / 1000.0
filler = int(sys.argv[3]) if len(sys.argv) > 3 else 12
OOM = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.10 GiB. GPU 0 has a total "
       "capacity of 23.99 GiB of which 1.20 GiB is free. Including non-PyTorch memory, this process "
       "has 12.51 GiB memory in use. Of the allocated memory 12.00 GiB is allocated by PyTorch, and "
       "0 bytes is reserved by PyTorch but unallocated.")
time.sleep(1.0)  # let the reader subscribe
out = sys.stdout
for i in range(n):
    for k in range(filler):
        out.write("100%%|##########| 50/50 [00:01<00:00, 41.2it/s] step %d.%d\n" % (i, k))
    out.flush()
    out.write("%s [t=%d]\n" % (OOM, time.time_ns()))
    out.flush()
    time.sleep(interval)
sys.stderr.write("writer: done\n")
# A few unstamped OOMs after the readers have left: the writes that end their pipelines (the
# follower and grep get SIGPIPE on their next write, tail on its next line).
time.sleep(1.0)
for i in range(3):
    for k in range(filler):
        out.write("after %d.%d\n" % (i, k))
    out.write("%s [end]\n" % OOM)
    out.flush()
    time.sleep(0.2)
while True:
    time.sleep(3600)
