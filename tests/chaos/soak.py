#!/usr/bin/env python3
"""vramguard's chaos soak: a seeded random sequence of faults against a real daemon on the
simulated GPU, with the invariants checked after every fault (docs/reliability.md).

    tests/chaos/soak.py --build build --seed 42 --faults 200
    VG_BIN=build-asan/vramguard ... tests/chaos/soak.py --seed 7 --faults 30 --duration 100

Python 3 standard library only. Binaries come from --build (a build directory) or from the
VG_BIN, VG_SIMGPU, VG_DEMO and VG_FAKE_NVML environment variables (as the e2e tests take them).

On the first violation it stops, prints the seed, the fault index and the last faults with what was
observed, keeps the work directory (daemon logs, service logs, config, the fault log) and exits 1.
Exit 0: every fault recovered by itself. Exit 1: a violation, or a fault that needed a manual step
(listed at the end). Exit 2: bad usage or a harness error. Exit 130: interrupted (Ctrl-C, SIGTERM).
Every exit but SIGKILL cleans up: the daemon, every process of ours, the tmpfs mount.
"""

import argparse
import errno
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
GIB = 1 << 30
MIB = 1 << 20
TAG_RE = re.compile(r"^(.+)\.([0-9a-f]{8})-([0-9a-f]{12})(\.hook)?$")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer", "ERROR: ThreadSanitizer")
TERMINAL = ("done", "failed", "cancelled", "refused")
JOB_END_EVENTS = ("job-done", "job-failed", "job-cancelled")


class Violation(Exception):
    pass


def daemon_id(state_dir):
    """core/instance_tag.h DaemonId: FNV-1a of the state directory, 8 hex digits."""
    h = 2166136261
    for b in state_dir.encode():
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return "%08x" % h


def proc_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
        return st not in ("Z", "X")
    except OSError:
        return False


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Soak:
    def __init__(self, a):
        self.a = a
        self.seed = a.seed
        self.rng = random.Random(a.seed)           # the fault sequence
        self.jrng = random.Random(a.seed * 7919 + 1)  # job parameters
        self.work = tempfile.mkdtemp(prefix="vg-chaos.", dir=a.tmp)
        self.gpu_dir = os.path.join(self.work, "gpu")
        self.state = os.path.join(self.work, "state")
        self.sock = os.path.join(self.work, "vramguard.sock")
        self.cfg_file = os.path.join(self.work, "vramguard.toml")
        self.flag_file = os.path.join(self.work, "long-line.flag")
        self.oom_file = os.path.join(self.work, "oom-line.txt")
        self.log = open(os.path.join(self.work, "faults.log"), "a")
        os.makedirs(self.state)
        self.did = daemon_id(self.state)
        self.tmpfs = False
        self.daemon = None
        self.daemon_n = 0
        self.daemon_logs = []
        self.log_offsets = {}
        self.expect_daemon_exit = False
        self.squatters = {}     # pid -> Popen (our own foreign GPU processes)
        self.port_squat = None  # a listening socket
        self.history = []
        self.manual_steps = []
        self.faults_run = 0
        self.index = -1
        self.cursor = 0         # events read so far
        self.jobs = {}          # id -> {key, service, acked, params}
        self.keys = {}          # idempotency key -> id
        self.starts = {}        # job id -> job-started events
        self.ends = {}          # job id -> terminal event kinds
        self.job_n = 0
        self.counts = {}
        self.p1 = 21000 + self.rng.randrange(20000)
        self.p2 = self.p1 + 1
        self.variant = {"extra": True, "plain_alloc": "1GiB", "extra_model": "1GiB"}
        self.desired = {"i2v": "running", "plain": "running", "extra": "running"}
        self.env = dict(os.environ)
        self.env["VRAMGUARD_FAKE_GPU_DIR"] = self.gpu_dir
        self.env["VRAMGUARD_NVML_LIBRARY"] = a.nvml
        self.env["VRAMGUARD_SOCKET"] = self.sock
        dirs = [os.path.dirname(p) for p in (a.bin, a.simgpu, a.demo)]
        self.env["PATH"] = ":".join(dict.fromkeys(dirs)) + ":" + self.env.get("PATH", "")
        self.env.setdefault("ASAN_OPTIONS", "halt_on_error=1:detect_leaks=1")
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.env_mark = ("VRAMGUARD_FAKE_GPU_DIR=" + self.gpu_dir).encode()

    # ---- output ---------------------------------------------------------------------------
    def say(self, msg):
        line = "[%7.1fs] %s" % (time.monotonic() - self.t0, msg)
        print(line, flush=True)
        self.log.write(line + "\n")
        self.log.flush()

    def record(self, name, detail):
        self.history.append({"i": self.index, "name": name, "detail": detail, "observed": ""})
        self.counts[name] = self.counts.get(name, 0) + 1
        self.say("fault %d: %s: %s" % (self.index, name, detail))

    def observe(self, text):
        if self.history:
            h = self.history[-1]
            h["observed"] = (h["observed"] + "; " if h["observed"] else "") + text

    # ---- setup ----------------------------------------------------------------------------
    def setup(self):
        self.t0 = time.monotonic()
        if self.a.no_tmpfs:
            self.say("state dir: plain directory (--no-tmpfs): the disk-full fault is skipped")
        else:
            r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % self.a.tmpfs_mib,
                                "vg-chaos", self.state], capture_output=True, text=True)
            self.tmpfs = r.returncode == 0
            self.say("state dir: %s" % ("tmpfs of %d MiB (disk-full fault: real ENOSPC)" %
                                        self.a.tmpfs_mib if self.tmpfs else
                                        "plain directory (mount -t tmpfs failed: %s): the "
                                        "disk-full fault is skipped" % r.stderr.strip()))
        subprocess.run([self.a.simgpu, "create", "--dir", self.gpu_dir, "--gpus", "1", "--total",
                        "24GiB"], check=True, env=self.env, stdout=subprocess.DEVNULL)
        oom = [l for l in open(os.path.join(REPO, "tests/fixtures/logs/comfyui_oom.log"))
               if l.startswith("torch.OutOfMemoryError")]
        with open(self.oom_file, "w") as f:
            f.write(oom[0])
        self.write_config()
        self.start_daemon()

    def service_tables(self):
        demo_toml = open(os.path.join(REPO, "examples/demo.toml")).read()
        job_iface = demo_toml[demo_toml.index("[[service.param]]"):]
        common = ('stop = { grace = "2s"%s }\n'
                  'restart = { when = "on-failure", backoff = "200ms..2s", limit = "1000 in 1m" }\n'
                  'oom_limit = "1000 in 1h"\nlogs = { max_size = "1MiB", keep = 1 }\n')
        rel = lambda p: ', release = { http = "POST http://127.0.0.1:%d/free" }' % p
        out = []
        out.append(
            '[[service]]\nname = "i2v"\n'
            'command = ["vg-demo-service", "--port", "%d", "--model", "4GiB", "--load-time", '
            '"100ms", "--step-time", "10ms"]\n'
            'gpus = [0]\nvram = "5GiB"\nport = %d\n'
            'ready = { log = "Running on local URL", timeout = "15s" }\n'
            'liveness = { http = "http://127.0.0.1:%d/health", interval = "2s", failures = 3 }\n'
            % (self.p1, self.p1, self.p1) + common % rel(self.p1) +
            'jobs = { endpoint = "POST http://127.0.0.1:%d/generate", concurrency = 1, '
            'idempotent = false, timeout = "30s", max_payload = "64KiB" }\n\n' % self.p1 +
            job_iface + "\n")
        out.append(
            '[[service]]\nname = "plain"\n'
            'command = ["bash", "%s", "--alloc", "%s", "--oom-file", "%s", "--long-line-flag", '
            '"%s"]\ngpus = [0]\nvram = "2GiB"\n'
            'ready = { log = ".*holds", timeout = "15s" }\n'
            % (os.path.join(HERE, "sim_service.sh"), self.variant["plain_alloc"], self.oom_file,
               self.flag_file) + common % "" + "\n")
        if self.variant["extra"]:
            out.append(
                '[[service]]\nname = "extra"\n'
                'command = ["vg-demo-service", "--port", "%d", "--model", "%s", "--load-time", '
                '"100ms", "--fork-worker"]\ngpus = [0]\nvram = "2GiB"\nport = %d\n'
                'ready = { log = "Running on local URL", timeout = "15s" }\n'
                'liveness = { http = "http://127.0.0.1:%d/health", interval = "1s", failures = 3 }\n'
                % (self.p2, self.variant["extra_model"], self.p2, self.p2) + common % rel(self.p2)
                + "\n")
        return out

    def write_config(self):
        text = ('[daemon]\nstate_dir = "%s"\nsocket = "%s"\nreserve = "1GiB"\npoll = "50ms"\n\n'
                % (self.state, self.sock)) + "\n".join(self.service_tables())
        tmp = self.cfg_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.cfg_file)

    # ---- the daemon -----------------------------------------------------------------------
    def start_daemon(self):
        # A new daemon starts what its config asks for (autostart): an operator's stop given to
        # the previous daemon does not carry over.
        for name, want in self.desired.items():
            if want in ("stopped", "stopped-or-running"):
                self.desired[name] = "running"
        self.daemon_n += 1
        path = os.path.join(self.work, "daemon.%d.log" % self.daemon_n)
        self.daemon_logs.append(path)
        out = open(path, "ab")
        self.daemon = subprocess.Popen([self.a.bin, "up", "--config", self.cfg_file],
                                       stdout=out, stderr=subprocess.STDOUT, env=self.env,
                                       stdin=subprocess.DEVNULL)
        out.close()
        self.expect_daemon_exit = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            st, js, _ = self.api("GET", "/v1/status", timeout=2)
            if st == 200:
                return
            if self.daemon.poll() is not None:
                raise Violation("daemon %d exited at start with %s" %
                                (self.daemon_n, self.exit_text(self.daemon.returncode)))
            time.sleep(0.05)
        raise Violation("daemon %d did not answer within 30 s of its start" % self.daemon_n)

    @staticmethod
    def exit_text(rc):
        return "signal %s" % signal.Signals(-rc).name if rc < 0 else "status %d" % rc

    def api(self, method, path, body=None, timeout=5.0, raw=None):
        try:
            c = UnixHTTP(self.sock, timeout)
            headers = {}
            data = raw
            if body is not None:
                data = json.dumps(body).encode()
            if data is not None:
                headers["Content-Type"] = "application/json"
            c.request(method, path, body=data, headers=headers)
            r = c.getresponse()
            text = r.read()
            c.close()
            try:
                js = json.loads(text)
            except ValueError:
                js = None
            return r.status, js, text
        except (OSError, http.client.HTTPException) as e:
            return None, None, str(e)

    def cli(self, *args, timeout=30):
        r = subprocess.run([self.a.bin, *args], capture_output=True, text=True, env=self.env,
                           timeout=timeout)
        return r.returncode, r.stdout.strip(), r.stderr.strip()

    def check_daemon_alive(self):
        """Immediate violations: an unexpected exit, a sanitizer report."""
        for path in self.daemon_logs:
            off = self.log_offsets.get(path, 0)
            try:
                with open(path, "rb") as f:
                    f.seek(off)
                    chunk = f.read()
            except OSError:
                continue
            self.log_offsets[path] = off + len(chunk)
            text = chunk.decode(errors="replace")
            for mark in SANITIZER_MARKS:
                if mark in text:
                    at = text.index(mark)
                    raise Violation("sanitizer report in %s: %s" %
                                    (os.path.basename(path), text[at:at + 600]))
        if self.daemon is not None and not self.expect_daemon_exit:
            rc = self.daemon.poll()
            if rc is not None:
                raise Violation("the daemon exited by itself with %s; last log lines: %s" %
                                (self.exit_text(rc), self.tail(self.daemon_logs[-1])))

    @staticmethod
    def tail(path, n=8):
        try:
            with open(path, errors="replace") as f:
                return " | ".join(l.rstrip()[:300] for l in f.readlines()[-n:])
        except OSError:
            return "(no log)"

    # ---- observation ----------------------------------------------------------------------
    def status(self):
        st, js, text = self.api("GET", "/v1/status", timeout=5)
        if st != 200 or js is None:
            return None
        return {s["name"]: s for s in js.get("services", [])}

    def scan_procs(self):
        """Our processes: (pid, tag) for each live process carrying this daemon's instance tag or
        our simulated GPU's environment."""
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            pid = int(d)
            if pid == os.getpid():
                continue
            try:
                with open("/proc/%s/environ" % d, "rb") as f:
                    env = f.read()
            except OSError:
                continue
            tag, ours = None, False
            for kv in env.split(b"\0"):
                if kv.startswith(b"VRAMGUARD_INSTANCE="):
                    tag = kv[19:].decode(errors="replace")
                elif kv == self.env_mark:
                    ours = True
            if tag is not None:
                m = TAG_RE.match(tag)
                if not m or m.group(2) != self.did:
                    tag = None
            if (tag is not None or ours) and proc_alive(pid):
                out.append((pid, tag))
        return out

    def contexts(self):
        r = subprocess.run([self.a.simgpu, "state", "--dir", self.gpu_dir], capture_output=True,
                           text=True, env=self.env)
        js = json.loads(r.stdout)
        return [(g["index"], c["pid"], c["used_bytes"]) for g in js["gpus"] for c in g["contexts"]]

    def holders(self, procs, gpu, ctx_pid):
        target = os.path.realpath(os.path.join(self.gpu_dir, "gpu%d" % gpu, "ctx", str(ctx_pid)))
        found = []
        for pid, tag in procs:
            try:
                for fd in os.listdir("/proc/%d/fd" % pid):
                    try:
                        if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == target:
                            found.append((pid, tag))
                            break
                    except OSError:
                        pass
            except OSError:
                pass
        return found

    def read_events(self):
        while True:
            st, js, _ = self.api("GET", "/v1/events?after_id=%d&limit=1000" % self.cursor)
            if st != 200 or js is None:
                return
            evs = js.get("events", [])
            for e in evs:
                self.cursor = max(self.cursor, e["id"])
                data = e.get("data") or {}
                job = data.get("job") if isinstance(data, dict) else None
                if isinstance(job, dict):
                    job = job.get("id")
                if job is None:
                    continue
                if e["kind"] == "job-started":
                    self.starts[job] = self.starts.get(job, 0) + 1
                elif e["kind"] in JOB_END_EVENTS:
                    self.ends.setdefault(job, []).append(e["kind"])
            if len(evs) < 1000:
                return

    def problems(self, final=False):
        """What is wrong now (empty: every invariant holds). Raises Violation for what no wait
        can undo (a crash, a job run twice or ended twice, a lost job)."""
        self.check_daemon_alive()
        bad = []
        svcs = self.status()
        if svcs is None:
            return ["the daemon does not answer GET /v1/status"]
        # Services in their configured state.
        for name, want in self.desired.items():
            s = svcs.get(name)
            if want == "absent":
                if s is not None:
                    bad.append("%s is still configured (state %s), the config removed it" %
                               (name, s["state"]))
            elif s is None:
                bad.append("%s is missing from the daemon's services (config has it)" % name)
            elif want == "stopped-or-running" and s["state"] in ("stopped", "running"):
                pass
            elif s["state"] != want:
                bad.append("%s is %s (%s), configured %s" % (name, s["state"], s.get("detail"),
                                                             want))
        # No process of ours outside a live instance.
        live = {s["instance"] for s in svcs.values() if s.get("instance")}
        procs = self.scan_procs()
        for pid, tag in procs:
            if tag is None:
                continue
            base = tag[:-5] if tag.endswith(".hook") else tag
            if base not in live:
                bad.append("pid %d (%s) carries tag %s of no live instance" %
                           (pid, self.comm(pid), tag))
        # Simulated GPU memory: every live context held by a live instance (or our squatters).
        for gpu, cpid, used in self.contexts():
            hs = self.holders(procs, gpu, cpid)
            if any(p in self.squatters for p, _ in hs):
                continue
            if any(t is not None and (t[:-5] if t.endswith(".hook") else t) in live
                   for _, t in hs):
                continue
            bad.append("GPU %d: context of pid %d holds %.2f GiB outside any live instance "
                       "(holders: %s)" % (gpu, cpid, used / GIB,
                                          ", ".join("%d %s %s" % (p, self.comm(p), t)
                                                    for p, t in hs) or "none found"))
        # The state dir: no space held by files that were deleted but are still open (on the
        # tmpfs, used space beyond what its visible files take).
        if self.tmpfs:
            hidden = self.hidden_bytes()
            if hidden > self.a.hidden_mib * MIB:
                bad.append("state dir: %.1f MiB used by no visible file; deleted files still "
                           "open: %s" % (hidden / MIB, self.deleted_open() or "none found"))
        # Jobs: never lost, never run twice, never ended twice, ended within a bound.
        self.read_events()
        st, js, _ = self.api("GET", "/v1/jobs?limit=10000")
        if st == 200 and js is not None:
            by_id = {j["id"]: j for j in js.get("jobs", [])}
            for jid, j in self.jobs.items():
                got = by_id.get(jid)
                if got is None and len(by_id) < 10000:
                    raise Violation("job %d (key %s, acknowledged 202) is lost: not in GET "
                                    "/v1/jobs" % (jid, j["key"]))
                if self.starts.get(jid, 0) > 1:
                    raise Violation("job %d of non-idempotent %s started %d times" %
                                    (jid, j["service"], self.starts[jid]))
                if len(self.ends.get(jid, [])) > 1:
                    raise Violation("job %d ended %d times: %s" % (jid, len(self.ends[jid]),
                                                                   self.ends[jid]))
                if got is None:
                    continue
                j["state"] = got["state"]
                age = time.monotonic() - j["acked"]
                if got["state"] not in TERMINAL and (final or age > self.a.job_bound):
                    bad.append("job %d (%s) is still %s %.0f s after its 202 (reason: %s)" %
                               (jid, j["service"], got["state"], age, got.get("reason")))
                if final and got["state"] in TERMINAL and got["state"] != "refused" and \
                        len(self.ends.get(jid, [])) != 1:
                    bad.append("job %d is %s but has %d end events" %
                               (jid, got["state"], len(self.ends.get(jid, []))))
        else:
            bad.append("GET /v1/jobs answered %s" % st)
        return bad

    def hidden_bytes(self):
        st = os.statvfs(self.state)
        used = (st.f_blocks - st.f_bfree) * st.f_frsize
        visible = 0
        for root, dirs, files in os.walk(self.state):
            for f in files:
                try:
                    visible += os.lstat(os.path.join(root, f)).st_blocks * 512
                except OSError:
                    pass
        return used - visible

    def deleted_open(self):
        """'pid comm: path (size)' for every open file under the state dir that was deleted."""
        out = []
        prefix = os.path.realpath(self.state) + "/"
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                fds = os.listdir("/proc/%s/fd" % d)
            except OSError:
                continue
            for fd in fds:
                try:
                    link = os.readlink("/proc/%s/fd/%s" % (d, fd))
                    if link.startswith(prefix) and link.endswith(" (deleted)"):
                        size = os.stat("/proc/%s/fd/%s" % (d, fd)).st_size
                        out.append("%s %s fd %s: %s (%.1f MiB)" % (
                            d, self.comm(int(d)), fd, link[len(prefix):], size / MIB))
                except OSError:
                    pass
        return "; ".join(out[:12])

    @staticmethod
    def comm(pid):
        try:
            with open("/proc/%d/comm" % pid) as f:
                return f.read().strip()
        except OSError:
            return "?"

    def settle(self, bound=None, final=False):
        bound = bound or self.a.settle
        t = time.monotonic()
        deadline = t + bound
        bad = []
        while True:
            bad = self.problems(final=final)
            if not bad:
                self.observe("settled in %.1f s" % (time.monotonic() - t))
                return
            if time.monotonic() > deadline:
                break
            time.sleep(0.25)
        pending = ["job %d %s %.0f s after its 202" % (jid, j.get("state"),
                                                      time.monotonic() - j["acked"])
                   for jid, j in self.jobs.items() if j.get("state") not in TERMINAL]
        raise Violation("not settled within %.0f s: %s%s" % (
            bound, "; ".join(bad), " (unfinished: %s)" % ", ".join(pending) if pending else ""))

    # ---- helpers for faults ---------------------------------------------------------------
    def services(self):
        return [n for n, w in self.desired.items() if w != "absent"]

    def svc(self, name):
        st, js, _ = self.api("GET", "/v1/services/" + name)
        return js if st == 200 else None

    def wait_state(self, name, state, bound=20):
        deadline = time.monotonic() + bound
        while time.monotonic() < deadline:
            self.check_daemon_alive()
            s = self.svc(name)
            if s and s["state"] in state.split("|"):
                return s
            time.sleep(0.1)
        return None

    def submit(self, service="i2v", key=None, params=None):
        if params is None:
            params = {"resolution": self.jrng.choice([256, 512]),
                      "frames": self.jrng.randint(1, 16), "steps": self.jrng.randint(5, 40)}
        if key is None:
            self.job_n += 1
            key = "chaos-%d-%d" % (self.seed, self.job_n)
        st, js, text = self.api("POST", "/v1/jobs", {"service": service, "params": params,
                                                     "idempotency_key": key})
        if st == 202 and js is not None:
            jid = js["id"]
            if key in self.keys and self.keys[key] != jid:
                raise Violation("idempotency key %s got a second job %d (first %d)" %
                                (key, jid, self.keys[key]))
            self.keys[key] = jid
            self.jobs[jid] = {"key": key, "service": service, "acked": time.monotonic(),
                              "params": params, "state": js.get("state")}
        elif st == 200 and js is not None and js.get("duplicate"):
            if self.keys.get(key) not in (None, js.get("id")):
                raise Violation("duplicate key %s answered job %s, first was %s" %
                                (key, js.get("id"), self.keys[key]))
        return st, js

    def job_load(self):
        """A few jobs before each fault, so that faults hit jobs in flight; sometimes a repeated
        idempotency key."""
        n = self.rng.randint(0, 3)
        dup = self.rng.random() < 0.2
        codes = []
        for _ in range(n):
            st, _ = self.submit()
            codes.append(str(st))
        if dup and self.keys:
            key = sorted(self.keys)[self.jrng.randrange(len(self.keys))]
            st, js = self.submit(key=key, params=self.jobs[self.keys[key]]["params"])
            codes.append("dup:%s" % st)
        return codes

    def signal_member(self, name, which, sig):
        """Signal the main process ('main') or another member ('other') of a service."""
        s = self.svc(name)
        if not s or not s.get("pid"):
            return "no instance of %s" % name
        main = s["pid"]
        if which == "main":
            pid = main
        else:
            others = [m for m in s.get("members") or [] if m != main]
            if not others:
                return "%s has no member besides its main pid %d" % (name, main)
            pid = sorted(others)[0]
            if name == "plain":  # the shell's child is the simulated CUDA process: a ghost
                pid = min(others)
        comm = self.comm(pid)
        try:
            os.kill(pid, sig)
        except OSError as e:
            return "kill %d: %s" % (pid, e)
        return "%s pid %d (%s) of %s" % (signal.Signals(sig).name, pid, comm, name)

    def post(self, name, verb):
        st, _, _ = self.api("POST", "/v1/services/%s/%s" % (name, verb), timeout=10)
        return "%s %s→%s" % (verb, name, st)

    # ---- the faults -----------------------------------------------------------------------
    def f_kill_main(self):
        name = self.rng.choice(["i2v", "plain", "extra"])
        if self.desired.get(name) != "running":
            return "skip: %s is not configured running" % name
        return self.signal_member(name, "main", signal.SIGKILL)

    def f_kill_worker(self):
        name = self.rng.choice(["plain", "extra"])
        if self.desired.get(name) != "running":
            return "skip: %s is not configured running" % name
        return self.signal_member(name, "other", signal.SIGKILL)

    def f_stop_cont(self):
        name = self.rng.choice(["i2v", "plain", "extra"])
        secs = self.rng.uniform(0.5, 4)
        if self.desired.get(name) != "running":
            return "skip: %s is not configured running" % name
        s = self.svc(name)
        if not s or not s.get("pid"):
            return "no instance of %s" % name
        pid = s["pid"]
        try:
            os.kill(pid, signal.SIGSTOP)
            time.sleep(secs)
            os.kill(pid, signal.SIGCONT)
        except OSError as e:
            return "pid %d: %s" % (pid, e)
        return "SIGSTOP %s pid %d for %.1f s, SIGCONT" % (name, pid, secs)

    def f_kill_daemon(self):
        before = {n: (s.get("instance"), s.get("pid")) for n, s in (self.status() or {}).items()
                  if s["state"] == "running"}
        self.expect_daemon_exit = True
        self.daemon.kill()
        self.daemon.wait()
        self.start_daemon()
        # Re-adoption: a service whose process survived keeps its instance (no duplicate start).
        deadline = time.monotonic() + self.a.settle
        while True:
            now = self.status() or {}
            wrong = ["%s: instance %s (pid %s) alive but the new daemon runs %s (pid %s, %s)" %
                     (n, tag, pid, now[n].get("instance"), now[n].get("pid"), now[n]["state"])
                     for n, (tag, pid) in before.items()
                     if n in now and proc_alive(pid) and now[n].get("instance") != tag]
            if not wrong:
                break
            if time.monotonic() > deadline:
                raise Violation("not re-adopted after a daemon SIGKILL: " + "; ".join(wrong))
            time.sleep(0.25)
        return "SIGKILL daemon, restarted (daemon %d); %d running service(s) to re-adopt" % (
            self.daemon_n, len(before))

    def f_stop_daemon(self):
        secs = self.rng.uniform(0.5, 3)
        os.kill(self.daemon.pid, signal.SIGSTOP)
        time.sleep(secs)
        os.kill(self.daemon.pid, signal.SIGCONT)
        return "SIGSTOP daemon for %.1f s, SIGCONT" % secs

    def f_shutdown_race(self):
        name = self.rng.choice(["i2v", "plain", "extra"])
        verb = self.rng.choice(["start", "restart"])
        # Sometimes one service hangs (SIGSTOP), so the shutdown spends its grace on it while
        # the start arrives (issue 10, finding 4).
        stall = self.rng.choice([None, None, "i2v", "plain", "extra"])
        stalled = ""
        if stall and stall != name and self.desired.get(stall) == "running":
            s = self.svc(stall)
            if s and s.get("pid"):
                os.kill(s["pid"], signal.SIGSTOP)
                stalled = "; %s pid %d SIGSTOPped first" % (stall, s["pid"])
        self.expect_daemon_exit = True
        os.kill(self.daemon.pid, signal.SIGTERM)
        time.sleep(0.2)
        said = self.post(name, verb) if self.desired.get(name) != "absent" else "-"
        codes = self.job_load()
        try:
            rc = self.daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise Violation("the daemon did not exit within 60 s of SIGTERM")
        self.check_daemon_alive()
        if rc != 0:
            raise Violation("daemon exited with %s after SIGTERM" % self.exit_text(rc))
        # Nothing of ours may outlive the daemon's exit: processes or memory.
        time.sleep(0.3)
        procs = [(p, t) for p, t in self.scan_procs() if t is not None]
        ctx = [c for c in self.contexts()
               if not any(p in self.squatters for p, _ in self.holders(self.scan_procs(), c[0],
                                                                       c[1]))]
        if procs or ctx:
            raise Violation("left behind at shutdown (exit 0): processes %s; contexts %s" % (
                ["%d %s %s" % (p, self.comm(p), t) for p, t in procs],
                ["pid %d %.2f GiB" % (c[1], c[2] / GIB) for c in ctx]))
        self.start_daemon()
        return "SIGTERM daemon + %s + jobs %s%s; exit 0, nothing left; restarted" % (
            said, codes, stalled)

    def f_setsid_escape(self):
        if self.desired.get("plain") != "running":
            return "skip: plain is not configured running"
        d = self.signal_member("plain", "main", signal.SIGUSR2)
        time.sleep(0.5)
        return d + " (escapee started), then " + self.post("plain", "restart")

    def f_oom(self):
        if self.desired.get("plain") != "running":
            return "skip: plain is not configured running"
        s = self.wait_state("plain", "running", self.a.settle)
        if not s:
            raise Violation("plain not running before the OOM fault")
        tag = s["instance"]
        d = self.signal_member("plain", "main", signal.SIGUSR1)
        # The OOM policy (restart) must replace the instance.
        deadline = time.monotonic() + self.a.settle
        while time.monotonic() < deadline:
            self.check_daemon_alive()
            now = self.svc("plain")
            if now and now.get("instance") and now["instance"] != tag and \
                    now["state"] == "running":
                return d + " (PyTorch OOM line): restarted as %s" % now["instance"]
            time.sleep(0.2)
        st, js, _ = self.api("GET", "/v1/events?service=plain&kind=oom&limit=3")
        raise Violation("OOM printed by plain (instance %s) not acted on within %.0f s: instance "
                        "is %s; last oom events: %s" % (
                            tag, self.a.settle, (self.svc("plain") or {}).get("instance"),
                            [(e["instance"], e["data"].get("action")) for e in
                             (js or {}).get("events", [])]))

    def wait_jobs_idle(self):
        """Until no acknowledged job is unfinished (a queued job would start i2v again)."""
        deadline = time.monotonic() + self.a.job_bound
        while time.monotonic() < deadline:
            self.problems()
            if all(j.get("state") in TERMINAL for j in self.jobs.values()):
                return
            time.sleep(0.25)
        raise Violation("jobs did not finish within %.0f s: %s" % (self.a.job_bound, [
            (jid, j.get("state")) for jid, j in self.jobs.items()
            if j.get("state") not in TERMINAL]))

    def f_port_squat(self):
        secs = self.rng.uniform(1, 4)
        self.wait_jobs_idle()
        self.post("i2v", "stop")
        if not self.wait_state("i2v", "stopped", self.a.settle):
            raise Violation("i2v did not stop within %.0f s before the port squat" %
                            self.a.settle)
        sq = socket.socket()
        sq.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sq.bind(("127.0.0.1", self.p1))
            sq.listen(1)
        except OSError as e:
            sq.close()
            self.desired["i2v"] = "running"
            return "could not bind %d: %s; %s" % (self.p1, e, self.post("i2v", "start"))
        st, js = self.submit()
        jid = js.get("id") if st == 202 and js else None
        said = self.post("i2v", "start")
        time.sleep(secs)
        sq.close()
        self.desired["i2v"] = "running"
        detail = "port %d squatted %.1f s; job %s → %s; %s" % (self.p1, secs, jid, st, said)
        # A foreign holder refuses the start (docs/daemon.md). Once the port is free, does the
        # service come back by itself, and does the job end rather than wait forever?
        deadline = time.monotonic() + self.a.settle
        while True:
            self.problems()
            s = self.svc("i2v") or {}
            job = self.jobs.get(jid, {})
            if s.get("state") == "running":
                return detail + "; i2v came back by itself"
            if time.monotonic() > deadline:
                break
            time.sleep(0.25)
        if s.get("state") == "failed":
            if jid is not None and job.get("state") not in TERMINAL:
                raise Violation("job %s is still %s %.0f s after its service i2v failed to start "
                                "(%s)" % (jid, job.get("state"), self.a.settle, s.get("detail")))
            self.manual("i2v stayed failed after the port was freed (%s); job %s ended %s" %
                        (s.get("detail"), jid, job.get("state")))
            return detail + "; needed a manual start: " + self.post("i2v", "start")
        return detail + "; i2v is %s" % s.get("state")

    def manual(self, what):
        """A fault the daemon did not recover from without a person: the soak does the operator's
        step, counts it and goes on; the run then exits 1 (issue 10's target: none)."""
        self.manual_steps.append((self.index, what))
        self.say("MANUAL STEP at fault %d: %s" % (self.index, what))

    def f_squatter(self):
        """A foreign process on the GPU (no tag): must not be taken for ours, nor break jobs."""
        size = self.rng.choice(["512MiB", "1GiB", "2GiB"])
        secs = self.rng.uniform(1, 5)
        ready = os.path.join(self.work, "squatter.ready")
        env = dict(self.env)
        env.pop("VRAMGUARD_INSTANCE", None)
        p = subprocess.Popen([self.a.simgpu, "run", "--dir", self.gpu_dir, "--alloc", size,
                              "--ready-file", ready], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.squatters[p.pid] = p
        time.sleep(secs)
        p.kill()
        p.wait()
        self.squatters.pop(p.pid, None)
        try:
            os.unlink(ready)
        except OSError:
            pass
        return "foreign GPU process with %s for %.1f s" % (size, secs)

    def f_reload(self):
        change = self.rng.choice(["toggle-extra", "plain-alloc", "extra-model"])
        if change == "toggle-extra":
            self.variant["extra"] = not self.variant["extra"]
        elif change == "plain-alloc":
            self.variant["plain_alloc"] = "768MiB" if self.variant["plain_alloc"] == "1GiB" \
                else "1GiB"
        else:
            self.variant["extra_model"] = "512MiB" if self.variant["extra_model"] == "1GiB" \
                else "1GiB"
        self.write_config()
        # What the daemon does on reload: an added service starts, a removed one goes, a changed
        # one is stopped and started with its new config (autostart); an unchanged one keeps the
        # state an operator left it in (a `stop` before the reload stands).
        if change == "toggle-extra":
            self.desired["extra"] = "running" if self.variant["extra"] else "absent"
        elif change == "plain-alloc":
            if self.desired.get("plain") != "absent":
                self.desired["plain"] = "running"
        elif self.variant["extra"]:
            self.desired["extra"] = "running"
        rc, out, err = self.cli("reload")
        return "%s (extra %s, plain %s, extra model %s); vramguard reload → %d %s" % (
            change, "on" if self.variant["extra"] else "off", self.variant["plain_alloc"],
            self.variant["extra_model"], rc, (out or err)[:120])

    def f_reload_race(self):
        """Remove a service and add it back (or the reverse) with no wait between the reloads."""
        first = not self.variant["extra"]
        seq = []
        for extra in (first, not first):
            self.variant["extra"] = extra
            self.write_config()
            st, _, _ = self.api("POST", "/v1/reload", timeout=10)
            seq.append("%s→%s" % ("add" if extra else "remove", st))
        self.desired["extra"] = "running" if self.variant["extra"] else "absent"
        return "extra " + ", ".join(seq) + " back to back"

    def f_cmd_race(self):
        name = self.rng.choice(["i2v", "plain", "extra"])
        verbs = [self.rng.choice(["stop", "start", "restart"]) for _ in
                 range(self.rng.randint(2, 3))]
        if self.desired.get(name) == "absent":
            return "skip: %s is not configured" % name
        said = [self.post(name, v) for v in verbs]
        # A job for a stopped service starts it (docs/jobs.md): i2v may be running again.
        self.desired[name] = ("stopped-or-running" if name == "i2v" else "stopped") \
            if verbs[-1] == "stop" else "running"
        return ", ".join(said) + " back to back"

    def f_bad_request(self):
        kind = self.rng.choice(["nested", "oversized", "garbage", "headers", "chunked-overflow",
                                "truncated", "bad-json"])
        depth = self.rng.choice([1000, 5000, 50000])
        return self.send_bad(kind, depth)

    def f_deep_json(self):
        """Issue 10, finding 2: 400,000 levels (800 KB, under the body limit)."""
        return self.send_bad("nested", 400000)

    def send_bad(self, kind, depth):
        req = None
        if kind == "nested":
            body = ('{"service":"i2v","params":{"resolution":512,"x":' + "[" * depth +
                    "]" * depth + "}}").encode()
            req = self.http_req("POST", "/v1/jobs", body)
        elif kind == "oversized":
            req = self.http_req("POST", "/v1/jobs", b'{"service":"i2v","payload":"' +
                                b"a" * (3 * MIB) + b'"}')
        elif kind == "garbage":
            req = bytes(self.rng.randrange(256) for _ in range(4096))
        elif kind == "headers":
            req = (b"GET /v1/status HTTP/1.1\r\nHost: x\r\n" +
                   b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(2000)) + b"\r\n")
        elif kind == "chunked-overflow":
            req = (b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   b"Content-Type: application/json\r\n\r\nffffffffffffffffffff1\r\n{}\r\n0\r\n\r\n")
        elif kind == "truncated":
            req = b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"serv"
        else:
            req = self.http_req("POST", "/v1/jobs", b'{"service": "i2v", "params": {"frames": ')
        self.history[-1]["detail"] = "%s%s (%d bytes)" % (
            kind, " depth %d" % depth if kind.startswith("nested") else "", len(req))
        answer = self.raw_send(req)
        # The daemon must still answer promptly.
        t = time.monotonic()
        st, _, _ = self.api("GET", "/v1/status", timeout=10)
        if st != 200:
            time.sleep(1)  # a daemon that just died: let it be reaped, so poll() sees it
            self.check_daemon_alive()
            raise Violation("after a bad request (%s): GET /v1/status answered %s within 10 s" %
                            (kind, st))
        return "%s%s (%d bytes) → %s; status answers in %.0f ms" % (
            kind, " depth %d" % depth if kind.startswith("nested") else "", len(req), answer,
            (time.monotonic() - t) * 1000)

    @staticmethod
    def http_req(method, path, body):
        return (b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (method.encode(),
                                                                      path.encode(),
                                                                      len(body)) + body)

    def raw_send(self, data):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        got = b""
        try:
            s.connect(self.sock)
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            while len(got) < 1 << 20:
                b = s.recv(65536)
                if not b:
                    break
                got += b
        except socket.timeout:
            return "no answer within 10 s (%d bytes)" % len(got)
        except OSError as e:
            return "%s (%d bytes)" % (e.strerror or e, len(got))
        finally:
            s.close()
        first = got.split(b"\r\n", 1)[0].decode(errors="replace")
        return "%s, %d bytes" % (first or "closed", len(got))

    def f_disk_full(self):
        secs = self.rng.uniform(1, 3)  # drawn first: the sequence does not depend on tmpfs
        if not self.tmpfs:
            return "skip: no tmpfs state dir"
        ballast = os.path.join(self.state, "chaos-ballast")
        n = 0
        if self.hidden_bytes() > self.a.hidden_mib * MIB:
            raise Violation("state dir already full before the disk-full fault: %.1f MiB held "
                            "by no visible file; deleted files still open: %s" % (
                                self.hidden_bytes() / MIB, self.deleted_open() or "none found"))
        # Unbuffered writes until ENOSPC (a buffered file would raise it again at close).
        fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        chunk = b"\0" * MIB
        try:
            while True:
                os.write(fd, chunk)
                n += 1
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)
        codes = [str(self.submit()[0]) for _ in range(2)]
        said = self.post("plain", "restart") if self.desired.get("plain") != "absent" else ""
        if self.desired.get("plain") == "stopped":
            self.desired["plain"] = "running"
        time.sleep(secs)
        os.unlink(ballast)
        return "state dir full (%d MiB ballast) for %.1f s; jobs → %s; %s" % (n, secs, codes,
                                                                                said)

    def f_long_line(self):
        if self.desired.get("plain") == "absent":
            return "skip"
        open(self.flag_file, "w").close()
        said = self.post("plain", "restart")
        self.desired["plain"] = "running"
        time.sleep(2)
        os.unlink(self.flag_file)
        return "plain prints one 40,000-character line at start (ready = '.*holds'); " + said

    FAULTS = [  # name, weight
        ("kill-main", 10), ("kill-worker", 6), ("stop-cont", 5), ("kill-daemon", 6),
        ("stop-daemon", 4), ("shutdown-race", 3), ("setsid-escape", 5), ("oom", 6),
        ("port-squat", 4), ("squatter", 3), ("reload", 6), ("reload-race", 4), ("cmd-race", 10),
        ("bad-request", 8), ("deep-json", 1), ("disk-full", 3), ("long-line", 2),
    ]

    def pick(self):
        faults = [(n, w) for n, w in self.FAULTS if (not self.a.only or n in self.a.only)
                  and n not in (self.a.skip or [])]
        total = sum(w for _, w in faults)
        r = self.rng.uniform(0, total)
        for n, w in faults:
            r -= w
            if r <= 0:
                return n
        return faults[-1][0]

    # ---- the run --------------------------------------------------------------------------
    def run(self):
        self.setup()
        self.say("seed %d, %d faults, duration %s s, work dir %s, daemon id %s" % (
            self.seed, self.a.faults, self.a.duration or "-", self.work, self.did))
        self.index = -1
        self.record("boot", "daemon started with i2v, plain, extra")
        self.settle()
        end = time.monotonic() + self.a.duration if self.a.duration else None
        for i in range(self.a.faults):
            if end and time.monotonic() > end:
                self.say("duration reached after %d faults" % i)
                break
            self.index = i
            name = self.pick()
            codes = self.job_load()
            # Recorded first, so a fault that kills the daemon is named in the report.
            self.history.append({"i": i, "name": name, "detail": "(in progress)",
                                 "observed": ""})
            detail = getattr(self, "f_" + name.replace("-", "_"))()
            if codes:
                detail += "; jobs before: %s" % ",".join(codes)
            self.history.pop()
            self.record(name, detail)
            self.settle()
            self.faults_run = i + 1
        self.index += 1
        self.record("drain", "waiting for every acknowledged job to end")
        self.settle(bound=max(self.a.settle, self.a.job_bound), final=True)
        self.final_shutdown()

    def final_shutdown(self):
        self.record("shutdown", "SIGTERM to the daemon at the end of the run")
        self.expect_daemon_exit = True
        self.daemon.terminate()
        try:
            rc = self.daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise Violation("the daemon did not exit within 60 s of the final SIGTERM")
        self.check_daemon_alive()
        if rc != 0:
            raise Violation("daemon exited with %s after the final SIGTERM" % self.exit_text(rc))
        time.sleep(0.3)
        procs = [(p, t) for p, t in self.scan_procs() if t is not None]
        if procs or self.contexts():
            raise Violation("left behind after the final shutdown: processes %s, contexts %s" %
                            (procs, self.contexts()))

    def report(self, v):
        print("\nVIOLATION at fault %d (seed %d, %.0f s into the run): %s" % (
            self.index, self.seed, time.monotonic() - self.t0, v), flush=True)
        print("last faults:")
        for h in self.history[-10:]:
            print("  #%d %s: %s%s" % (h["i"], h["name"], h["detail"],
                                      " → " + h["observed"] if h["observed"] else ""))
        env = "".join("%s=%s " % (k, os.environ[k]) for k in
                      ("VG_BIN", "VG_SIMGPU", "VG_DEMO", "VG_FAKE_NVML") if os.environ.get(k))
        print("replay: %s%s --seed %d --faults %d%s" % (
            env, os.path.relpath(__file__), self.seed, self.a.faults,
            (" --duration %g" % self.a.duration if self.a.duration else "") +
            (" --build " + self.a.build
             if os.path.abspath(self.a.build) != os.path.join(REPO, "build") else "") +
            (" --only " + ",".join(self.a.only) if self.a.only else "") +
            (" --skip " + ",".join(self.a.skip) if self.a.skip else "")))
        self.log.write("VIOLATION at fault %d (seed %d): %s\n" % (self.index, self.seed, v))

    def cleanup(self, keep):
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.terminate()
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        if self.port_squat:
            self.port_squat.close()
        for p in list(self.squatters.values()):
            p.kill()
            p.wait()
        for _ in range(3):  # everything of ours: tagged processes and anything on our sim GPU
            procs = self.scan_procs()
            if not procs:
                break
            for pid, _ in procs:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.2)
        if self.tmpfs:
            if keep:
                shutil.copytree(self.state, os.path.join(self.work, "state-copy"),
                                ignore=shutil.ignore_patterns("chaos-ballast"),
                                dirs_exist_ok=True)
            subprocess.run(["umount", "-l", self.state])
        self.log.close()
        if keep:
            print("kept: %s (faults.log, daemon.*.log, vramguard.toml, state%s/)" % (
                self.work, "-copy" if self.tmpfs else ""), flush=True)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=None, help="default: random (printed)")
    p.add_argument("--faults", type=int, default=200)
    p.add_argument("--duration", type=float, default=0,
                   help="stop injecting after this many seconds (0: no limit)")
    p.add_argument("--settle", type=float, default=30,
                   help="bound for the system to settle after a fault (s)")
    p.add_argument("--job-bound", type=float, default=90,
                   help="an acknowledged job must end within this many seconds")
    p.add_argument("--only", type=lambda s: s.split(","), default=None,
                   help="comma-separated fault names to draw from")
    p.add_argument("--skip", type=lambda s: s.split(","), default=None,
                   help="comma-separated fault names never to draw (e.g. a known finding's)")
    p.add_argument("--build", default=os.environ.get("VG_BUILD", os.path.join(REPO, "build")))
    p.add_argument("--keep", action="store_true", help="keep the work dir even when it passes")
    p.add_argument("--no-tmpfs", action="store_true", help="no tmpfs state dir (no disk-full)")
    p.add_argument("--tmpfs-mib", type=int, default=64)
    p.add_argument("--hidden-mib", type=int, default=16,
                   help="state dir space held by deleted, still open files allowed (MiB)")
    p.add_argument("--tmp", default=os.environ.get("TMPDIR", "/tmp"))
    a = p.parse_args()
    a.bin = os.environ.get("VG_BIN") or os.path.join(a.build, "vramguard")
    a.simgpu = os.environ.get("VG_SIMGPU") or os.path.join(a.build, "vg-simgpu")
    a.demo = os.environ.get("VG_DEMO") or os.path.join(a.build, "vg-demo-service")
    a.nvml = os.environ.get("VG_FAKE_NVML") or os.path.join(a.build, "sim/libnvidia-ml.so.1")
    # Absolute: services run with another working directory and find these through PATH.
    a.bin, a.simgpu, a.demo, a.nvml = (os.path.abspath(f) for f in
                                       (a.bin, a.simgpu, a.demo, a.nvml))
    for f in (a.bin, a.simgpu, a.demo, a.nvml):
        if not os.path.exists(f):
            print("soak.py: %s does not exist (build first, or set --build / VG_BIN …)" % f,
                  file=sys.stderr)
            return 2
    if a.only or a.skip:
        names = {n for n, _ in Soak.FAULTS}
        unknown = [n for n in (a.only or []) + (a.skip or []) if n not in names]
        if unknown:
            print("soak.py: unknown fault(s) %s; known: %s" % (unknown, sorted(names)),
                  file=sys.stderr)
            return 2
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 1 << 31)
    print("chaos soak: seed %d (replay with --seed %d), binary %s" % (a.seed, a.seed, a.bin),
          flush=True)
    soak = Soak(a)

    def on_signal(signum, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)
    keep, rc = a.keep, 0
    try:
        soak.run()
        if soak.manual_steps:
            keep, rc = True, 1
            print("\n%d fault(s) needed a manual step (seed %d):" % (len(soak.manual_steps),
                                                                     a.seed))
            for i, what in soak.manual_steps:
                print("  #%d %s" % (i, what))
        print("\n%s: seed %d, %d faults in %.0f s, %d jobs acknowledged; faults: %s" % (
            "PASS" if rc == 0 else "FAIL", a.seed, soak.faults_run, time.monotonic() - soak.t0,
            len(soak.jobs),
            ", ".join("%s %d" % kv for kv in sorted(soak.counts.items()))), flush=True)
    except Violation as v:
        keep, rc = True, 1
        soak.report(v)
    except KeyboardInterrupt:
        print("\ninterrupted at fault %d (seed %d)" % (soak.index, a.seed), flush=True)
        keep, rc = True, 130
    except Exception:
        import traceback
        traceback.print_exc()
        print("harness error at fault %d (seed %d)" % (soak.index, a.seed), flush=True)
        keep, rc = True, 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        soak.cleanup(keep)
    return rc


if __name__ == "__main__":
    sys.exit(main())
