#!/usr/bin/env python3
"""bench.py: the measuring half of bench/run.sh (issue 6).

run.sh installs the comparison tools, creates the unprivileged user and copies
dist/auto-review into a work directory; this script then runs, as that user:

  measure  every suite (warm launch, cold first run, memory, scale, profile, and a
           whole review: suite_review, with genrepo.py and gitserver.py) and
           writes one JSON file of raw samples and summaries,
  render   that JSON as the Markdown results section of docs/BENCHMARKS.md,
  splice   that section into docs/BENCHMARKS.md between the GENERATED markers.

Timing: each launch is started with posix_spawn (glibc: clone(CLONE_VM|CLONE_VFORK),
so the harness adds the same small constant to every tool) and reaped with wait4,
which also gives the tree's CPU time and minor faults. Commands are
interleaved: every round runs every tool once, in an order rotated by one each
round, so drift and noise from the shared machine hit all tools alike. Only the
standard library is used (python3 from Debian).
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

GIT = "/usr/bin/git"
TOOL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Round counts. Full mode targets well under 10 minutes on 2 shared cores; quick 1-2 minutes.
MODES = {
    "full": dict(warm_warmup=10, warm_rounds=500, cold_rounds=40, mem_rounds=40, footprint_rounds=6,
                 scale_reps=3, scale_per_worker={1: 100, 4: 40, 16: 15}, profile_rounds=20,
                 review_warmup=2, review_rounds=30, review_verbose_rounds=10),
    "quick": dict(warm_warmup=3, warm_rounds=60, cold_rounds=8, mem_rounds=8, footprint_rounds=2,
                  scale_reps=1, scale_per_worker={1: 30, 4: 10, 16: 4}, profile_rounds=4,
                  review_warmup=1, review_rounds=5, review_verbose_rounds=2),
}
TIMEOUT_S = 30.0  # per command; a launch that takes longer is killed and counted as failed


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Spawning and reaping
# --------------------------------------------------------------------------------------

class Watchdog:
    """One thread that SIGKILLs the process group of any launch past its deadline."""

    def __init__(self):
        self._lock = threading.Lock()
        self._deadlines = {}
        self.timed_out = set()
        t = threading.Thread(target=self._loop, daemon=True)
        t.start()

    def watch(self, pid, timeout):
        with self._lock:
            self._deadlines[pid] = time.monotonic() + timeout

    def done(self, pid):
        with self._lock:
            self._deadlines.pop(pid, None)
            hit = pid in self.timed_out
            self.timed_out.discard(pid)
            return hit

    def _loop(self):
        while True:
            time.sleep(0.25)
            now = time.monotonic()
            with self._lock:
                late = [p for p, d in self._deadlines.items() if d < now]
                for p in late:
                    del self._deadlines[p]
                    self.timed_out.add(p)
            for p in late:
                try:
                    os.killpg(p, signal.SIGKILL)  # setsid at spawn: pgid == pid
                except ProcessLookupError:
                    pass


WATCHDOG = None


class Result:
    __slots__ = ("wall_ms", "rc", "cpu_ms", "utime_ms", "stime_ms", "minflt", "timed_out")

    def ok(self):
        return self.rc == 0 and not self.timed_out


def spawn(argv, env, stdin_fd=None, stdout_path=os.devnull, stderr_path=os.devnull, close_fds=()):
    acts = []
    if stdin_fd is None:
        acts.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
    else:
        acts.append((os.POSIX_SPAWN_DUP2, stdin_fd, 0))
    acts.append((os.POSIX_SPAWN_OPEN, 1, stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    acts.append((os.POSIX_SPAWN_OPEN, 2, stderr_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    for fd in close_fds:
        acts.append((os.POSIX_SPAWN_CLOSE, fd))
    return os.posix_spawn(argv[0], argv, env, file_actions=acts, setsid=True)


def reap(pid):
    _, status, ru = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), ru


def run(argv, env, stdout_path=os.devnull, stderr_path=os.devnull, timeout=TIMEOUT_S):
    t0 = time.perf_counter_ns()
    pid = spawn(argv, env, stdout_path=stdout_path, stderr_path=stderr_path)
    WATCHDOG.watch(pid, timeout)
    return reaped_result(pid, t0)


def reaped_result(pid, t0):
    """Reaps pid (spawned at perf_counter_ns t0) and returns its Result: wall time, status, rusage of the tree."""
    rc, ru = reap(pid)
    t1 = time.perf_counter_ns()
    r = Result()
    r.timed_out = WATCHDOG.done(pid)
    r.wall_ms = (t1 - t0) / 1e6
    r.rc = rc
    r.utime_ms = ru.ru_utime * 1000
    r.stime_ms = ru.ru_stime * 1000
    r.cpu_ms = r.utime_ms + r.stime_ms
    r.minflt = ru.ru_minflt
    return r


def tail(path, n=600):
    try:
        with open(path, "rb") as f:
            data = f.read()
        return data[-n:].decode("utf-8", "replace").strip()
    except OSError:
        return ""


def rmtree(path):
    """The bundle cache is read-only, directories too (ADR 0008): restore u+w, then delete."""
    if not os.path.lexists(path):
        return
    for root, dirs, _ in os.walk(path):
        for d in dirs:
            p = os.path.join(root, d)
            if not os.path.islink(p):
                try:
                    os.chmod(p, 0o700)
                except OSError:
                    pass
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    shutil.rmtree(path, ignore_errors=True)


# --------------------------------------------------------------------------------------
# Statistics
# --------------------------------------------------------------------------------------

def pct(values, p):
    """Percentile with linear interpolation between closest ranks (numpy's default)."""
    v = sorted(values)
    if not v:
        return None
    if len(v) == 1:
        return v[0]
    k = (len(v) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (k - lo)


def summary(values):
    if not values:
        return None
    return {"n": len(values), "median": statistics.median(values), "p90": pct(values, 90),
            "p99": pct(values, 99), "min": min(values), "max": max(values)}


# --------------------------------------------------------------------------------------
# Setup: the rootfs, the OCI configs, the tool commands
# --------------------------------------------------------------------------------------

def sh_out(argv, env=None):
    return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120).stdout.strip()


def version_of(argv):
    try:
        out = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=20)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return None


def cgroup_hybrid():
    """True on a v1/v2 hybrid (tmpfs at /sys/fs/cgroup with cgroup2 at /sys/fs/cgroup/unified)."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                parts = line.split()
                sep = parts.index("-")
                if parts[4] == "/sys/fs/cgroup/unified" and parts[sep + 1] == "cgroup2":
                    return True
    except (OSError, ValueError):
        pass
    return False


class Setup:
    def __init__(self, work, ar):
        self.work = work
        self.ar = ar
        self.uid = os.getuid()
        self.gid = os.getgid()
        self.cache = os.path.join(work, "cache")
        self.env = {"PATH": TOOL_PATH, "HOME": os.environ.get("HOME", work), "LANG": "C.UTF-8",
                    "AUTO_REVIEW_CACHE_DIR": self.cache}
        self.logs = os.path.join(work, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.notes = []
        self.unavailable = {}

        log("unpacking the embedded bundle into the warm cache (auto-review bundle path)")
        self.rootfs = sh_out([ar, "bundle", "path"], env=self.env)
        if not os.path.isfile(os.path.join(self.rootfs, GIT.lstrip("/"))):
            raise SystemExit(f"bench: `auto-review bundle path` gave {self.rootfs!r}, which has no {GIT}")
        self.bundle_info = json.loads(sh_out([ar, "bundle", "info", "--json"], env=self.env))
        self.bundle_info.pop("files", None)

        # The OCI runtime bundle auto-review exports for the same layer: we keep its config.json
        # (namespaces, mounts, seccomp, capabilities, uid map) and point root.path at the very
        # rootfs the other tools use, so every tool runs the same unpacked files.
        export = os.path.join(work, "oci-export")
        rmtree(export)
        subprocess.run([ar, "bundle", "export", "--runtime-bundle", export], env=self.env,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True, timeout=120)
        with open(os.path.join(export, "config.json")) as f:
            self.exported_config = json.load(f)
        rmtree(os.path.join(export, "rootfs"))  # a second copy; not used

        self.hybrid = cgroup_hybrid()
        self.runc = shutil.which("runc", path=TOOL_PATH)
        self.crun = shutil.which("crun", path=TOOL_PATH)
        self.bwrap = shutil.which("bwrap", path=TOOL_PATH)
        self.unshare = shutil.which("unshare", path=TOOL_PATH)
        self.state = os.path.join(work, "oci-state")
        os.makedirs(self.state, exist_ok=True)
        self.cid = f"arbench-{os.getpid()}"

    # -- OCI configs ------------------------------------------------------------------
    def oci_config(self, args, runtime):
        """The exported config.json, adjusted for rootless runc/crun (documented in BENCHMARKS.md)."""
        c = json.loads(json.dumps(self.exported_config))
        c["root"] = {"path": self.rootfs, "readonly": True}
        c["process"]["args"] = args
        c["process"]["cwd"] = "/"
        # (1) Drop the bind of the launcher itself at /usr/bin/auto-review: only auto-review's
        #     own product needs it, and its source path is the build tree.
        c["mounts"] = [m for m in c["mounts"] if m.get("destination") != "/usr/bin/auto-review"]
        # (2) Map the invoking user to uid/gid 0 in the container instead of 65532: runc 1.1
        #     refuses a user namespace without container uid 0 mapped ("no user mapping found").
        #     The process still has no capabilities (all five sets empty) and no_new_privs.
        host_uid, host_gid = self.uid, self.gid
        if runtime == "crun" and self.hybrid:
            # (3) crun runs as root of the `unshare -Urm` wrapper's user namespace, where the
            #     invoking user is uid 0: map container 0 to that 0 (= the invoking user).
            host_uid = host_gid = 0
        c["linux"]["uidMappings"] = [{"containerID": 0, "hostID": host_uid, "size": 1}]
        c["linux"]["gidMappings"] = [{"containerID": 0, "hostID": host_gid, "size": 1}]
        c["process"]["user"] = {"uid": 0, "gid": 0}
        # (4) No cgroupsPath and no resources: rootless on cgroup v1/hybrid has no delegation.
        c["linux"].pop("cgroupsPath", None)
        c["linux"].pop("resources", None)
        return c

    def oci_bundle(self, name, args, runtime):
        d = os.path.join(self.work, "oci", name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(self.oci_config(args, runtime), f, indent=1)
        return d

    def runc_cmd(self, bundle):
        return [self.runc, "--root", os.path.join(self.state, "runc"), "run", "--bundle", bundle, self.cid + "-runc"]

    def crun_cmd(self, bundle):
        inner = [self.crun, "--root", os.path.join(self.state, "crun"), "run", "--bundle", bundle, self.cid + "-crun"]
        if not self.hybrid:
            return inner
        return [self.unshare, "-Urm", "/bin/sh", "-c",
                "mount -t tmpfs none /sys/fs/cgroup/unified && exec " + shlex.join(inner)]

    def wrapper_cmd(self):
        return [self.unshare, "-Urm", "/bin/sh", "-c", "mount -t tmpfs none /sys/fs/cgroup/unified && exec /bin/true"]

    def bwrap_cmd(self, args):
        return [self.bwrap, "--unshare-all", "--ro-bind", self.rootfs, "/", "--proc", "/proc",
                "--dev", "/dev", "--tmpfs", "/tmp"] + args

    def ar_cmd(self, args, *opts):
        return [self.ar, "sandbox", "run", *opts, "--"] + args

    # -- verification -----------------------------------------------------------------
    def verify(self, name, argv, expect, env=None):
        out = os.path.join(self.logs, f"verify-{slug(name)}.out")
        err = os.path.join(self.logs, f"verify-{slug(name)}.err")
        r = run(argv, env or self.env, stdout_path=out, stderr_path=err)
        text = tail(out, 4000)
        if r.ok() and (expect is None or re.search(expect, text)):
            return True
        why = f"exit {r.rc}{' (timed out)' if r.timed_out else ''}; stdout {text[:200]!r}; stderr {tail(err)!r}"
        log(f"{name}: does not work here, left out: {why}")
        self.unavailable[name] = why
        return False


def slug(name):
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def git_version_re():
    return r"^git version \d"


# --------------------------------------------------------------------------------------
# Suites
# --------------------------------------------------------------------------------------

def interleave(tools, rounds, warmup, env, on_round=None, timeout=TIMEOUT_S):
    """tools: [(name, argv, env-or-None)]. Runs every tool once per round, order rotated by one each round."""
    samples = {name: [] for name, _, _ in tools}
    fails = {name: 0 for name, _, _ in tools}
    first_err = {}
    n = len(tools)
    for rnd in range(warmup + rounds):
        k = rnd % n
        order = tools[k:] + tools[:k]
        row = {}
        for name, argv, tenv in order:
            err = os.path.join(SETUP.logs, f"{slug(name)}.err")
            e = tenv(rnd) if callable(tenv) else (tenv or env)
            r = run(argv, e, stderr_path=err, timeout=timeout)
            if not r.ok():
                fails[name] += 1
                first_err.setdefault(name, f"exit {r.rc}{' (timed out)' if r.timed_out else ''}: {tail(err)}")
            row[name] = r
        if on_round:
            on_round(rnd)
        if rnd >= warmup:
            for name, r in row.items():
                if r.ok():
                    samples[name].append(r)
        if rnd == warmup or (rnd + 1) % 50 == 0:
            log(f"  round {rnd + 1}/{warmup + rounds}")
    return samples, fails, first_err


def rsum(results):
    return {
        "wall_ms": summary([r.wall_ms for r in results]),
        "cpu_ms": summary([r.cpu_ms for r in results]),
        "utime_ms": summary([r.utime_ms for r in results]),
        "stime_ms": summary([r.stime_ms for r in results]),
        "minflt": summary([r.minflt for r in results]),
    }


def suite_warm(cfg):
    S = SETUP
    git = [GIT, "--version"]
    tools = [
        ("bare git", git),
        ("bwrap", S.bwrap_cmd(git)),
        ("auto-review", S.ar_cmd(git)),
        ("auto-review --rootfs", S.ar_cmd(git, "--rootfs", S.rootfs)),
        ("auto-review --bare", S.ar_cmd(git, "--bare")),
        ("auto-review --version", [S.ar, "--version"]),
    ]
    if S.runc:
        tools.append(("runc", S.runc_cmd(S.oci_bundle("runc-version", git, "runc"))))
    else:
        S.unavailable["runc"] = "runc is not installed"
    if S.crun:
        tools.append(("crun (in wrapper)" if S.hybrid else "crun", S.crun_cmd(S.oci_bundle("crun-version", git, "crun"))))
        if S.hybrid:
            tools.append(("wrapper alone", S.wrapper_cmd()))
    else:
        S.unavailable["crun"] = "crun is not installed"

    usable = []
    for name, argv in tools:
        expect = {"wrapper alone": None, "auto-review --version": r"^auto-review "}.get(name, git_version_re())
        if S.verify(name, argv, expect):
            usable.append((name, argv, None))
    log(f"warm launch: {len(usable)} commands x {cfg['warm_rounds']} rounds (+{cfg['warm_warmup']} warm-up)")
    samples, fails, first_err = interleave(usable, cfg["warm_rounds"], cfg["warm_warmup"], S.env)
    out = {"commands": {n: a for n, a, _ in usable}, "rounds": cfg["warm_rounds"], "warmup": cfg["warm_warmup"],
           "failures": fails, "first_error": first_err, "tools": {}}
    for name, _, _ in usable:
        out["tools"][name] = rsum(samples[name])
        out["tools"][name]["wall_samples"] = [round(r.wall_ms, 3) for r in samples[name]]
    # crun minus its wrapper, paired by round (both ran in the same round, next to each other).
    cname = "crun (in wrapper)"
    if cname in out["tools"] and "wrapper alone" in out["tools"]:
        # Pair only rounds where both succeeded: samples are in round order; failed rounds are rare and
        # would shift the pairing, so pair by index only when neither failed.
        if fails.get(cname, 0) == 0 and fails.get("wrapper alone", 0) == 0:
            a, b = samples[cname], samples["wrapper alone"]
            net = [x.wall_ms - y.wall_ms for x, y in zip(a, b)]
            net_cpu = [x.cpu_ms - y.cpu_ms for x, y in zip(a, b)]
            out["tools"]["crun (net of wrapper)"] = {"wall_ms": summary(net), "cpu_ms": summary(net_cpu),
                                                     "paired_rounds": len(net)}
        else:
            m = out["tools"][cname]["wall_ms"]["median"] - out["tools"]["wrapper alone"]["wall_ms"]["median"]
            out["tools"]["crun (net of wrapper)"] = {"wall_ms": {"median": m, "p90": None}, "paired_rounds": 0}
    return out


def suite_cold(cfg):
    S = SETUP
    git = [GIT, "--version"]
    cold_root = os.path.join(S.work, "cold")
    rmtree(cold_root)
    os.makedirs(cold_root)

    def fresh(tag):
        def env_for(rnd):
            e = dict(S.env)
            e["AUTO_REVIEW_CACHE_DIR"] = os.path.join(cold_root, f"{tag}-{rnd}")
            return e
        return env_for

    tools = [
        ("cold: sandbox run", S.ar_cmd(git), fresh("run")),
        ("cold: bundle path (unpack only)", [S.ar, "bundle", "path"], fresh("path")),
        ("warm: sandbox run", S.ar_cmd(git), None),
        ("bwrap", S.bwrap_cmd(git), None),
    ]

    def clean(rnd):
        for tag in ("run", "path"):
            rmtree(os.path.join(cold_root, f"{tag}-{rnd}"))

    log(f"cold first run: {len(tools)} commands x {cfg['cold_rounds']} rounds (+1 warm-up)")
    samples, fails, first_err = interleave(tools, cfg["cold_rounds"], 1, S.env, on_round=clean)
    out = {"commands": {n: a for n, a, _ in tools}, "rounds": cfg["cold_rounds"], "failures": fails,
           "first_error": first_err, "tools": {n: rsum(samples[n]) for n, _, _ in tools}}

    # Sizes: the executable, the compressed layer (bundle info), the unpacked bundle on disk.
    bdir = os.path.dirname(S.rootfs)
    du_k = sh_out(["du", "-sk", bdir]).split()[0]
    du_b = sh_out(["du", "-sb", bdir]).split()[0]
    out["sizes"] = {
        "executable_bytes": os.path.getsize(S.ar),
        "layer_compressed_bytes": S.bundle_info.get("compressedSize"),
        "layer_uncompressed_bytes": S.bundle_info.get("uncompressedSize"),
        "bundle_entries": S.bundle_info.get("entries"),
        "unpacked_disk_kib": int(du_k),
        "unpacked_apparent_bytes": int(du_b),
    }
    rmtree(cold_root)
    return out


def proc_table():
    """pid -> (ppid, comm) for every process visible in /proc."""
    t = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        comm = s[s.index("(") + 1:s.rindex(")")]
        rest = s[s.rindex(")") + 2:].split()
        t[int(d)] = (int(rest[1]), comm)
    return t


def descendants(root, table):
    kids = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def mem_of(pid):
    m = {"pid": pid}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("Name", "VmHWM", "VmRSS"):
                    m[k] = v.strip() if k == "Name" else int(v.split()[0])
    except OSError:
        return None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    m["Pss"] = int(line.split()[1])
    except OSError:
        m["Pss"] = None
    return m


def footprint_once(name, argv):
    """Start a sandbox whose payload (git hash-object --stdin) blocks on stdin, snapshot the memory of
    the launcher and of every process below it, then let it finish."""
    S = SETUP
    r, w = os.pipe()
    out = os.path.join(S.logs, f"footprint-{slug(name)}.out")
    err = os.path.join(S.logs, f"footprint-{slug(name)}.err")
    pid = spawn(argv, S.env, stdin_fd=r, stdout_path=out, stderr_path=err, close_fds=(w,))
    os.close(r)
    WATCHDOG.watch(pid, TIMEOUT_S)
    snap = None
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        table = proc_table()
        below = descendants(pid, table)
        if any(table[p][1] == "git" for p in below):
            time.sleep(0.15)  # let the payload settle into its read()
            table = proc_table()
            below = descendants(pid, table)
            snap = {"launcher": mem_of(pid), "sandbox": [m for m in (mem_of(p) for p in below) if m]}
            break
        time.sleep(0.01)
    os.write(w, b"auto-review bench\n")
    os.close(w)
    rc, ru = reap(pid)
    timed_out = WATCHDOG.done(pid)
    h = tail(out, 200)
    ok = rc == 0 and not timed_out and re.fullmatch(r"[0-9a-f]{40}", h or "") is not None and snap is not None
    if not ok:
        return None, f"exit {rc}, stdout {h!r}, stderr {tail(err)!r}, snapshot {'taken' if snap else 'missing'}"
    return snap, None


def suite_peak_rss(cfg, warm):
    """Peak RSS through GNU time (%M = ru_maxrss of the command's process tree).

    Not from our own wait4: posix_spawn's vfork child runs on the harness's memory until it execs,
    and the kernel carries that mm's high-water mark into the child's ru_maxrss, so every command
    would show at least the Python harness's RSS. GNU time fork()s from a small process instead;
    its own RSS is the floor, which the bare git row shows."""
    S = SETUP
    gtime = shutil.which("time", path="/usr/bin:/bin")
    if not gtime:
        return {"skipped": "GNU time (/usr/bin/time, Debian package time) is not installed"}
    tools = list(warm["commands"].items())
    log(f"peak RSS: {len(tools)} commands x {cfg['mem_rounds']} rounds under /usr/bin/time")
    vals = {n: {"maxrss_kb": [], "minflt": []} for n, _ in tools}
    fails = {n: 0 for n, _ in tools}
    outf = os.path.join(S.logs, "time.out")
    for rnd in range(cfg["mem_rounds"]):
        k = rnd % len(tools)
        for name, argv in tools[k:] + tools[:k]:
            r = run([gtime, "-f", "%M %R", "-o", outf, "--"] + argv, S.env)
            m = re.match(r"^(\d+) (\d+)$", tail(outf, 200).splitlines()[-1] if tail(outf, 200) else "")
            if r.ok() and m:
                vals[name]["maxrss_kb"].append(int(m.group(1)))
                vals[name]["minflt"].append(int(m.group(2)))
            else:
                fails[name] += 1
    return {"gnu_time": version_of([gtime, "--version"]), "rounds": cfg["mem_rounds"], "failures": fails,
            "tools": {n: {k: summary(v) for k, v in d.items()} for n, d in vals.items()}}


def suite_footprint(cfg, warm):
    S = SETUP
    args = [GIT, "hash-object", "--stdin"]
    tools = [("auto-review", S.ar_cmd(args)), ("bwrap", S.bwrap_cmd(args))]
    if "runc" in warm["commands"]:
        tools.append(("runc", S.runc_cmd(S.oci_bundle("runc-hash", args, "runc"))))
    cname = "crun (in wrapper)" if S.hybrid else "crun"
    if cname in warm["commands"]:
        tools.append((cname, S.crun_cmd(S.oci_bundle("crun-hash", args, "crun"))))
    log(f"memory footprint: {len(tools)} tools x {cfg['footprint_rounds']} rounds")
    res = {n: [] for n, _ in tools}
    errors = {}
    for rnd in range(cfg["footprint_rounds"]):
        k = rnd % len(tools)
        for name, argv in tools[k:] + tools[:k]:
            snap, why = footprint_once(name, argv)
            if snap:
                res[name].append(snap)
            else:
                errors.setdefault(name, why)
    out = {"commands": {n: a for n, a in tools}, "errors": errors, "tools": {}}
    for name, snaps in res.items():
        if not snaps:
            continue
        l_hwm = [s["launcher"]["VmHWM"] for s in snaps]
        l_pss = [s["launcher"].get("Pss") for s in snaps if s["launcher"].get("Pss") is not None]
        sb_rss = [sum(m.get("VmRSS", 0) for m in s["sandbox"]) for s in snaps]
        pss_ok = all(m.get("Pss") is not None for s in snaps for m in s["sandbox"])
        sb_pss = [sum(m["Pss"] for m in s["sandbox"]) for s in snaps] if pss_ok else []
        tot_pss = [a + b for a, b in zip(l_pss, sb_pss)] if (pss_ok and len(l_pss) == len(sb_pss)) else []
        out["tools"][name] = {
            "rounds": len(snaps),
            "launcher_name": snaps[0]["launcher"].get("Name"),
            "launcher_vmhwm_kb": summary(l_hwm),
            "launcher_pss_kb": summary(l_pss),
            "sandbox_processes": [m.get("Name") for m in snaps[0]["sandbox"]],
            "sandbox_rss_kb": summary(sb_rss),
            "sandbox_pss_kb": summary(sb_pss),
            "total_pss_kb": summary(tot_pss),
            "example": snaps[0],
        }
    return out


def suite_scale(cfg):
    S = SETUP
    git = [GIT, "--version"]
    tools = [("auto-review", S.ar_cmd(git)), ("bwrap", S.bwrap_cmd(git))]
    per_worker = cfg["scale_per_worker"]
    data = {(n, c): {"lat": [], "wall_s": 0.0, "fails": 0} for n, _ in tools for c in per_worker}
    log(f"scale: concurrency {sorted(per_worker)} x {len(tools)} tools x {cfg['scale_reps']} reps")

    for rep in range(cfg["scale_reps"]):
        for conc in sorted(per_worker):
            order = tools if rep % 2 == 0 else list(reversed(tools))
            for name, argv in order:
                k = per_worker[conc]
                lats = [[] for _ in range(conc)]
                fails = [0] * conc
                barrier = threading.Barrier(conc + 1)

                def worker(i):
                    barrier.wait()
                    for _ in range(k):
                        r = run(argv, S.env)
                        if r.ok():
                            lats[i].append(r.wall_ms)
                        else:
                            fails[i] += 1

                threads = [threading.Thread(target=worker, args=(i,)) for i in range(conc)]
                for t in threads:
                    t.start()
                barrier.wait()
                t0 = time.perf_counter()
                for t in threads:
                    t.join()
                wall = time.perf_counter() - t0
                d = data[(name, conc)]
                d["wall_s"] += wall
                d["fails"] += sum(fails)
                for l in lats:
                    d["lat"].extend(l)
    out = {"per_worker": per_worker, "reps": cfg["scale_reps"], "commands": {n: a for n, a in tools}, "rows": []}
    for (name, conc), d in data.items():
        n = len(d["lat"])
        out["rows"].append({"tool": name, "concurrency": conc, "launches": n, "failures": d["fails"],
                            "throughput_per_s": n / d["wall_s"] if d["wall_s"] else None,
                            "latency_ms": summary(d["lat"])})
    return out


# -- profile: where the time goes (evidence for the analysis) ---------------------------

STRACE_EVENTS = "execve,clone,clone3,pivot_root,exit_group"


def parse_timeline(path):
    """Milestones of one launch from `strace -f -ttt`: launcher exec, namespace clone, pivot_root,
    payload exec, payload exit, launcher exit."""
    lines = open(path).read().splitlines()
    first = lines[0].split()
    root = int(first[0])
    t = {"start": float(first[1])}
    git_pid = None
    for ln in lines:
        parts = ln.split(None, 2)
        if len(parts) < 3:
            continue
        pid, ts, rest = int(parts[0]), float(parts[1]), parts[2]
        if "CLONE_NEWUSER" in rest and "ns_clone" not in t:
            t["ns_clone"] = ts
        elif rest.startswith("pivot_root("):
            t["pivot_root"] = ts  # the last one
        elif rest.startswith(f'execve("{GIT}"') and git_pid is None:
            t["payload_exec"] = ts
            git_pid = pid
        elif rest.startswith("+++ exited") and pid == git_pid:
            t["payload_exit"] = ts
        elif rest.startswith("+++ exited") and pid == root:
            t["end"] = ts
    need = ("ns_clone", "pivot_root", "payload_exec", "payload_exit", "end")
    if not all(k in t for k in need):
        return None
    return {
        "launcher start to namespace clone": (t["ns_clone"] - t["start"]) * 1000,
        "namespace clone to pivot_root": (t["pivot_root"] - t["ns_clone"]) * 1000,
        "pivot_root to payload execve": (t["payload_exec"] - t["pivot_root"]) * 1000,
        "payload execve to payload exit": (t["payload_exit"] - t["payload_exec"]) * 1000,
        "payload exit to launcher exit": (t["end"] - t["payload_exit"]) * 1000,
        "total": (t["end"] - t["start"]) * 1000,
    }


def parse_strace_c(path):
    """strace -c summary: {syscall: {calls, errors, seconds}} plus the total line."""
    rows, total = {}, None
    for ln in open(path).read().splitlines():
        m = re.match(r"^\s*([\d.]+)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(?:(\d+)\s+)?(\S+)\s*$", ln)
        if not m:
            continue
        secs, calls, errs, name = float(m.group(2)), int(m.group(4)), int(m.group(5) or 0), m.group(6)
        if name == "total":
            total = {"calls": calls, "errors": errs, "seconds": secs}
        else:
            rows[name] = {"calls": calls, "errors": errs, "seconds": secs}
    return rows, total


def suite_profile(cfg):
    S = SETUP
    strace = shutil.which("strace", path=TOOL_PATH)
    out = {"strace": strace and version_of([strace, "-V"])}
    if not strace:
        out["skipped"] = "strace is not installed"
        return out
    git = [GIT, "--version"]
    tools = [("auto-review", S.ar_cmd(git)), ("auto-review --rootfs", S.ar_cmd(git, "--rootfs", S.rootfs)),
             ("bwrap", S.bwrap_cmd(git))]
    pdir = os.path.join(S.work, "profile")
    rmtree(pdir)
    os.makedirs(pdir)

    # 1. Phase timeline: strace stops only at the five traced syscalls (--seccomp-bpf), so the
    #    distortion is small, but absolute times are still inflated: compare phases, not totals.
    log(f"profile: strace phase timelines, {len(tools)} tools x {cfg['profile_rounds']} rounds")
    phases = {n: [] for n, _ in tools}
    for rnd in range(cfg["profile_rounds"] + 1):
        k = rnd % len(tools)
        for name, argv in tools[k:] + tools[:k]:
            f = os.path.join(pdir, f"timeline-{slug(name)}.txt")
            r = run([strace, "-f", "-ttt", "--seccomp-bpf", "-e", f"trace={STRACE_EVENTS}", "-o", f, "--"] + argv, S.env)
            if rnd == 0 or not r.ok():
                continue
            p = parse_timeline(f)
            if p:
                phases[name].append(p)
    out["phases"] = {n: {k: statistics.median(p[k] for p in v) for k in v[0]} for n, v in phases.items() if v}
    out["phase_rounds"] = {n: len(v) for n, v in phases.items()}

    # 2. Syscall counts (strace -c -f) of one warm launch each, and of one cold first run.
    counts = {}
    cold_cache = os.path.join(pdir, "cold-cache")
    runs = [(n, a, S.env) for n, a in tools if n != "auto-review --rootfs"]
    runs.append(("auto-review cold first run", S.ar_cmd(git), dict(S.env, AUTO_REVIEW_CACHE_DIR=cold_cache)))
    for name, argv, env in runs:
        f = os.path.join(pdir, f"strace-c-{slug(name)}.txt")
        r = run([strace, "-f", "-c", "-o", f, "--"] + argv, env)
        if r.ok():
            rows, total = parse_strace_c(f)
            top = sorted(rows.items(), key=lambda kv: -kv[1]["seconds"])[:10]
            counts[name] = {"total": total, "top_by_time": top,
                            "selected": {k: rows[k] for k in ("fsync", "write", "openat", "mount", "clone",
                                                               "clone3", "execve", "futex", "sched_yield",
                                                               "readlink", "rt_sigaction")
                                         if k in rows}}
    rmtree(cold_cache)
    out["strace_c"] = counts

    # 3. Failed file lookups (strace -Z: failing calls only), grouped by call and file name.
    failed = {}
    for name, argv in tools:
        if name == "auto-review --rootfs":
            continue
        f = os.path.join(pdir, f"strace-failed-{slug(name)}.txt")
        r = run([strace, "-f", "-Z", "-e", "trace=%file", "-o", f, "--"] + argv, S.env)
        if not r.ok():
            continue
        groups = {}
        for ln in open(f).read().splitlines():
            m = re.match(r'^\d+\s+(\w+)\((?:AT_FDCWD, )?"([^"]*)"', ln)
            if m:
                key = f"{m.group(1)} {os.path.basename(m.group(2)) or m.group(2)}"
                groups[key] = groups.get(key, 0) + 1
        failed[name] = {"total": sum(groups.values()),
                        "top": sorted(groups.items(), key=lambda kv: -kv[1])[:6]}
    out["failed_lookups"] = failed

    # 4. Hardware counters: are they there at all (a VM often has none)?
    perf = shutil.which("perf", path=TOOL_PATH)
    if perf:
        p = subprocess.run([perf, "stat", "-x,", "-e", "instructions", "/bin/true"], capture_output=True,
                           text=True, stdin=subprocess.DEVNULL, timeout=30)
        out["perf_instructions"] = (p.stderr.strip().splitlines() or ["?"])[-1]
    return out


# -- review: real work (item 3) -----------------------------------------------------------

REVIEW_TIMEOUT_S = 90.0  # per review; one takes well under a second here

# The git commands the gateway runs for an https source (src/Gateway/Git/RepositoryClone.cs, ReviewJob.cs), with
# the -c options of HermeticGitEnvironment, as a POSIX sh script: the anchor does the same git work without
# auto-review. The bundle has no shell, so the anchor binds the host's dash read-only into the bwrap sandbox.
ANCHOR_SCRIPT = r"""# bench.py's review anchor: the gateway's git commands, nothing else. $1 = URL, $2 = "verify" to print a shortstat.
set -eu
W="${WORKDIR:-/work}"
R="$W/repository.git"
G="/usr/bin/git -c protocol.allow=never -c protocol.https.allow=always -c core.hooksPath=/dev/null -c core.fsmonitor=false -c core.askPass= -c credential.helper= -c core.pager=cat -c core.symlinks=false -c diff.external= -c transfer.fsckObjects=true -c fetch.fsckObjects=true -c submodule.recurse=false -c fetch.recurseSubmodules=false -c http.followRedirects=false -c gc.auto=0 -c maintenance.auto=false -c init.defaultBranch=main -c advice.detachedHead=false"
$G init --quiet --bare --template= -- "$R"
$G --git-dir="$R" remote add -- origin "$1"
$G --git-dir="$R" fetch --quiet --filter=blob:none --no-tags --no-recurse-submodules --no-write-fetch-head origin +main:refs/auto-review/base +feature:refs/auto-review/head
b=$($G --git-dir="$R" rev-parse --verify --quiet --end-of-options 'refs/auto-review/base^{commit}')
h=$($G --git-dir="$R" rev-parse --verify --quiet --end-of-options 'refs/auto-review/head^{commit}')
m=$($G --git-dir="$R" merge-base --end-of-options "$b" "$h")
$G --git-dir="$R" -c diff.mnemonicPrefix=false -c diff.noprefix=false -c diff.srcPrefix=a/ -c diff.dstPrefix=b/ -c diff.relative=false -c diff.suppressBlankEmpty=false -c core.quotePath=true -c color.ui=false diff --no-color --no-ext-diff --no-textconv --no-relative -U3 --find-renames --end-of-options "$b...$h" -- >"$W/diff.patch"
if [ "${2:-}" = verify ]; then
  echo "merge-base $m"
  $G --git-dir="$R" diff --shortstat --find-renames "$b...$h"
fi
"""

GIT_ENV = {"LC_ALL": "C", "LANG": "C", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
           "GIT_ATTR_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_PROTOCOL_FROM_USER": "0"}


def make_tls(d):
    """A throwaway CA and a server certificate for IP 127.0.0.1 (SAN), with openssl; EC P-256."""
    os.makedirs(d, exist_ok=True)
    ossl = shutil.which("openssl", path=TOOL_PATH)
    if not ossl:
        return None, "openssl is not installed (Debian package openssl)"
    ca, cakey, crt, key = (os.path.join(d, n) for n in ("ca.pem", "ca.key", "server.pem", "server.key"))
    ext = os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    steps = [
        [ossl, "req", "-x509", *ec, "-keyout", cakey, "-out", ca, "-days", "2", "-subj", "/CN=auto-review bench CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
        [ossl, "req", *ec, "-keyout", key, "-out", crt + ".csr", "-subj", "/CN=127.0.0.1"],
        [ossl, "x509", "-req", "-in", crt + ".csr", "-CA", ca, "-CAkey", cakey, "-CAcreateserial", "-out", crt,
         "-days", "2", "-extfile", ext],
    ]
    for argv in steps:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            return None, f"{shlex.join(argv[:3])} failed: {p.stderr.strip()[-300:]}"
    return {"ca": ca, "cert": crt, "key": key, "openssl": version_of([ossl, "version"])}, None


def combine_pem(base, extra, out):
    """What TrustStore.Combine does: the base trust anchors plus the test CA, in one file."""
    with open(out, "w") as f:
        if os.path.isfile(base):
            f.write(open(base).read())
        f.write("\n" + open(extra).read())
    os.chmod(out, 0o644)
    return out


class GitServer:
    """bench/gitserver.py as a child process for the duration of the suite."""

    def __init__(self, root, tls, d):
        self.ready = os.path.join(d, "server.port")
        self.log = os.path.join(d, "server.log")
        self.err = open(os.path.join(d, "server.err"), "w")
        for f in (self.ready, self.log):
            if os.path.exists(f):
                os.unlink(f)
        here = os.path.dirname(os.path.abspath(__file__))
        self.proc = subprocess.Popen([sys.executable, os.path.join(here, "gitserver.py"), "--root", root,
                                      "--cert", tls["cert"], "--key", tls["key"], "--ready", self.ready,
                                      "--log", self.log],
                                     stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err, start_new_session=True)
        deadline = time.monotonic() + 20
        while not os.path.exists(self.ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the git server did not start: {tail(self.err.name)}")
            time.sleep(0.05)
        self.port = int(open(self.ready).read())

    def requests(self):
        try:
            return sum(1 for _ in open(self.log))
        except OSError:
            return 0

    def cpu_s(self):
        """CPU of the server and its reaped children (the http-backend runs), from /proc/PID/stat."""
        try:
            f = open(f"/proc/{self.proc.pid}/stat").read()
            v = f[f.rindex(")") + 2:].split()
            tck = os.sysconf("SC_CLK_TCK")
            return sum(int(x) for x in v[11:15]) / tck
        except (OSError, ValueError):
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.err.close()


def run_stamped(argv, env, timeout=REVIEW_TIMEOUT_S):
    """Runs argv with stderr on a pipe; returns (Result, [(ms since spawn, line)])."""
    r_fd, w_fd = os.pipe()
    acts = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, w_fd, 2)]
    t0 = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, env, file_actions=acts, setsid=True)
    os.close(w_fd)
    WATCHDOG.watch(pid, timeout)
    lines, buf = [], b""
    while True:
        b = os.read(r_fd, 65536)
        if not b:
            break
        now = (time.perf_counter_ns() - t0) / 1e6
        buf += b
        while b"\n" in buf:
            ln, buf = buf.split(b"\n", 1)
            lines.append((now, ln.decode("utf-8", "replace")))
    os.close(r_fd)
    return reaped_result(pid, t0), lines


# Milestones in `review --verbose` stderr, in order; the phase ends at the line that matches.
VERBOSE_MARKS = [
    ("CLI, checks, bundle lease (isolated) / warning (bare)",
     r"running the gateway in the sandbox|WARNING: --bare"),
    ("to the gateway's first line: sandbox set-up or process start, gateway start", r"gateway: fetching "),
    ("git: fetch both refs, rev-parse, merge-base, diff (lazy blob fetch)", r"gateway: reviewing "),
    ("review, JSON report, gateway exit, render, write --output", r"report written to"),
]


def verbose_phases(lines, total):
    out, last, k = {}, 0.0, 0
    for ms, ln in lines:
        if k < len(VERBOSE_MARKS) and re.search(VERBOSE_MARKS[k][1], ln):
            out[VERBOSE_MARKS[k][0]] = ms - last
            last = ms
            k += 1
    if k < len(VERBOSE_MARKS):
        return None
    out["to process exit"] = total - last
    out["total"] = total
    return out


def tmpfs_dir():
    """A writable tmpfs for the host-side controls (the sandboxed clone is on a tmpfs too), or None."""
    try:
        for line in open("/proc/self/mountinfo"):
            parts = line.split()
            sep = parts.index("-")
            if parts[4] == "/dev/shm" and parts[sep + 1] == "tmpfs" and os.access("/dev/shm", os.W_OK):
                return "/dev/shm"
    except (OSError, ValueError):
        pass
    return None


def egress_lines(lines):
    """The proxy's `--verbose` log of each tunnel: bytes up and down, seconds open."""
    out = []
    for ms, ln in lines:
        m = re.search(r"egress allowed \S+ from \S+ \((\d+)\), (\d+) bytes up, (\d+) down in ([\d.]+) s", ln)
        if m:
            out.append({"at_ms": round(ms, 1), "up": int(m.group(2)), "down": int(m.group(3)),
                        "open_ms": float(m.group(4)) * 1000})
    return out


def suite_review(cfg):
    """Item 3: `auto-review review` of a generated repository from a loopback smart-HTTP server, isolated against
    bare, with the same git work under bwrap (and on the host) as anchors."""
    S = SETUP
    out = {"rounds": cfg["review_rounds"], "warmup": cfg["review_warmup"]}
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    import genrepo
    rdir = os.path.join(S.work, "review")
    rmtree(rdir)
    os.makedirs(rdir)
    log("review: the repository (generated once, then cached in $WORK/review-cache)")
    t0 = time.monotonic()
    info = genrepo.ensure(os.path.join(S.work, "review-cache"))
    info["ensure_s"] = round(time.monotonic() - t0, 1)
    out["repository"] = info
    tls, why = make_tls(os.path.join(rdir, "tls"))
    if not tls:
        out["skipped"] = why
        return out
    dash = os.path.realpath("/bin/sh")
    out["versions"] = {"openssl": tls["openssl"], "anchor shell": f"{dash} (the host's /bin/sh)"}
    trust_bundle = combine_pem(os.path.join(S.rootfs, "etc/ssl/certs/ca-certificates.crt"), tls["ca"],
                               os.path.join(rdir, "trust-bundle.pem"))
    trust_host = combine_pem("/etc/ssl/certs/ca-certificates.crt", tls["ca"], os.path.join(rdir, "trust-host.pem"))
    script = os.path.join(rdir, "clone.sh")
    with open(script, "w") as f:
        f.write(ANCHOR_SCRIPT)
    shm = tmpfs_dir()
    shm_root = os.path.join(shm, f"arbench-review-{os.getpid()}") if shm else None
    if shm_root:
        os.makedirs(shm_root)
    else:
        S.unavailable["review: tmpfs control"] = "no writable tmpfs at /dev/shm: the host-git control on tmpfs is left out"
    server = GitServer(info["root"], tls, rdir)
    reports = {}
    roots = [shm_root]
    try:
        url = f"https://127.0.0.1:{server.port}/{info['name']}"
        out["url"] = url

        def review(tag, mode, *extra):
            reports.setdefault(tag, os.path.join(rdir, f"out-{tag}", "report.json"))
            os.makedirs(os.path.dirname(reports[tag]), exist_ok=True)
            return [S.ar, "review", url, mode, "--head", "feature", "--base", "main", "--ca-file", tls["ca"],
                    "--format", "json", "--output", reports[tag], "--fail-on", "never", *extra]

        genv = dict(GIT_ENV, PATH="/usr/bin", HOME="/work", GIT_EXEC_PATH="/usr/lib/git-core")
        bw = [S.bwrap, "--unshare-all", "--share-net", "--ro-bind", S.rootfs, "/", "--proc", "/proc", "--dev", "/dev",
              "--tmpfs", "/tmp", "--tmpfs", "/work", "--ro-bind", trust_bundle, "/etc/ssl/certs/ca-certificates.crt",
              "--ro-bind", dash, "/tmp/sh", "--ro-bind", script, "/tmp/clone.sh", "--chdir", "/work", "--clearenv"]
        for k in sorted(genv):
            bw += ["--setenv", k, genv[k]]
        bw += ["--setenv", "GIT_SSL_CAINFO", "/etc/ssl/certs/ca-certificates.crt",
               "--setenv", "SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt", "/tmp/sh", "/tmp/clone.sh", url]

        # Host-git controls, to attribute the differences between --bare and the sandbox:
        #  - where the clone is written: $TMPDIR (here /tmp, on disk) for --bare, a tmpfs in the sandbox;
        #  - what libcurl loads to verify TLS: besides GIT_SSL_CAINFO, Debian's libcurl also loads its
        #    compiled-in CApath, /etc/ssl/certs: every file there on the host, only the (combined) bundle
        #    file in the sandbox. GIT_SSL_CAPATH pointing at a directory holding just that file copies
        #    the sandbox's situation.
        capath = os.path.join(rdir, "capath")
        os.makedirs(capath)
        shutil.copy(trust_bundle, os.path.join(capath, "ca-certificates.crt"))
        tmp_root = os.path.join(os.environ.get("TMPDIR") or "/tmp", f"arbench-review-{os.getpid()}")
        rmtree(tmp_root)
        os.makedirs(tmp_root)
        roots = [tmp_root] + ([shm_root] if shm_root else [])

        def host_env(base, sandbox_capath):
            def env_for(rnd):
                w = os.path.join(base, str(rnd))
                rmtree(w)
                os.makedirs(w)
                e = dict(GIT_ENV, PATH=TOOL_PATH, HOME=w, WORKDIR=w, GIT_SSL_CAINFO=trust_host, SSL_CERT_FILE=trust_host)
                if sandbox_capath:
                    e["GIT_SSL_CAPATH"] = capath
                return e
            return env_for

        hostcmd = [dash, script, url]

        def ar_sandbox(network):
            argv = [S.ar, "sandbox", "run", "--network", network]
            if network == "proxy":
                argv += ["--allow-host", f"127.0.0.1:{server.port}"]
            argv += ["--ca-file", tls["ca"], "--ro-bind", dash, "/tmp/sh", "--ro-bind", script, "/tmp/clone.sh"]
            for k in sorted(GIT_ENV):
                argv += ["--setenv", k, GIT_ENV[k]]
            return argv + ["--", "/tmp/sh", "/tmp/clone.sh", url]

        tools = [
            ("review --isolated", review("isolated", "--isolated"), None),
            ("review --bare", review("bare", "--bare"), None),
            ("bwrap: the same git commands", bw, None),
            ("auto-review sandbox, --network host: the same git commands", ar_sandbox("host"), None),
            ("auto-review sandbox, --network proxy: the same git commands", ar_sandbox("proxy"), None),
            ("host git: the same git commands", hostcmd, host_env(tmp_root, False)),
            ("host git, CApath as in the sandbox", hostcmd, host_env(tmp_root, True)),
        ]
        if shm_root:
            tools.append(("host git, CApath as in the sandbox, on tmpfs", hostcmd, host_env(shm_root, True)))
        out["commands"] = {n: a for n, a, _ in tools}
        out["envs"] = {n: e("N") for n, _, e in tools if callable(e)}

        # Verify once: the reviews succeed with the same findings, the anchors produce the same diff.
        usable = []
        found = {}
        for name, argv, tenv in tools:
            e = tenv("verify") if callable(tenv) else (tenv or S.env)
            review_cmd = name.startswith("review")
            before = server.requests()
            if not S.verify(name, argv if review_cmd else argv + ["verify"],
                            None if review_cmd else re.escape(info["feature_diff"]), env=e):
                continue
            if review_cmd:
                try:
                    found[name] = json.load(open(argv[argv.index("--output") + 1]))
                except (OSError, ValueError) as ex:
                    S.unavailable[name] = f"no readable report: {ex}"
                    continue
            out.setdefault("requests_per_run", {})[name] = server.requests() - before
            usable.append((name, argv, tenv))
        if found:
            first = next(iter(found.values()))
            out["findings"] = len(first["findings"])
            out["summary"] = first.get("summary")
            out["reports_equal"] = all(v["findings"] == first["findings"] for v in found.values())
        if "review --isolated" not in found:
            out["skipped"] = f"review --isolated does not work here: {S.unavailable.get('review --isolated')}"
            return out

        def clean(rnd):
            for d in roots:
                rmtree(os.path.join(d, str(rnd)))

        log(f"review: {len(usable)} commands x {cfg['review_rounds']} rounds (+{cfg['review_warmup']} warm-up), server {url}")
        cpu0 = server.cpu_s()
        samples, fails, first_err = interleave(usable, cfg["review_rounds"], cfg["review_warmup"], S.env,
                                               on_round=clean, timeout=REVIEW_TIMEOUT_S)
        cpu1 = server.cpu_s()
        out["failures"], out["first_error"] = fails, first_err
        runs = (cfg["review_rounds"] + cfg["review_warmup"]) * len(usable)
        out["server_cpu_ms_per_run"] = (cpu1 - cpu0) * 1000 / runs if None not in (cpu0, cpu1) else None
        out["tools"] = {}
        for name, _, _ in usable:
            out["tools"][name] = rsum(samples[name])
            out["tools"][name]["wall_samples"] = [round(r.wall_ms, 2) for r in samples[name]]
            out["tools"][name]["cpu_samples"] = [round(r.cpu_ms, 2) for r in samples[name]]

        # Breakdown: `--verbose` stderr lines, timestamped as they arrive (no tracing, which would distort the
        # fetch several times over: git's threads and processes under ptrace).
        vt = [(n, a, e) for n, a, e in usable if n.startswith("review")]
        log(f"review: --verbose timelines, {len(vt)} commands x {cfg['review_verbose_rounds']} rounds")
        vph = {n: [] for n, _, _ in vt}
        vexample, tunnels = {}, {}
        for rnd in range(cfg["review_verbose_rounds"]):
            k = rnd % len(vt)
            for name, argv, tenv in vt[k:] + vt[:k]:
                r, lines = run_stamped(argv + ["--verbose"], tenv or S.env)
                ph = verbose_phases(lines, r.wall_ms) if r.ok() else None
                if ph:
                    vph[name].append(ph)
                    vexample.setdefault(name, [(round(ms, 1), ln) for ms, ln in lines])
                    if egress_lines(lines):
                        tunnels.setdefault(name, []).append(egress_lines(lines))
        out["verbose_phases"] = {n: {k: statistics.median(p[k] for p in v) for k in v[0]} for n, v in vph.items() if v}
        out["verbose_rounds"] = {n: len(v) for n, v in vph.items()}
        out["verbose_example"] = vexample
        out["tunnels"] = tunnels

        # Syscall counts of one run each (strace -f -c). Counts, not times: ptrace slows git's fetch several times.
        strace = shutil.which("strace", path=TOOL_PATH)
        if strace:
            pdir = os.path.join(S.work, "profile")
            os.makedirs(pdir, exist_ok=True)
            traced = [u for u in usable if u[0] in ("review --isolated", "review --bare", "bwrap: the same git commands",
                                                    "auto-review sandbox, --network proxy: the same git commands",
                                                    "host git: the same git commands")]
            log(f"review: strace -c, {len(traced)} commands")
            counts = {}
            for name, argv, tenv in traced:
                f = os.path.join(pdir, f"review-strace-c-{slug(name)}.txt")
                e = tenv("strace") if callable(tenv) else (tenv or S.env)
                r = run([strace, "-f", "-c", "-o", f, "--"] + argv, e, timeout=REVIEW_TIMEOUT_S)
                if r.ok():
                    rows, total = parse_strace_c(f)
                    counts[name] = {"total": total, "rows": rows}
            out["strace_c"] = counts
        out["server_requests_total"] = server.requests()
    finally:
        server.stop()
        for d in [os.path.join(rdir, x) for x in ("tls", "capath")] + [os.path.dirname(p) for p in reports.values()] + roots:
            if d:
                rmtree(d)
    return out


# --------------------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------------------

def machine():
    def read(p):
        try:
            return open(p).read()
        except OSError:
            return ""
    cpu = re.search(r"^model name\s*:\s*(.*)$", read("/proc/cpuinfo"), re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", read("/proc/meminfo"), re.M)
    S = SETUP
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": cpu.group(1).strip() if cpu else None,
        "mem_total_gib": round(int(mem.group(1)) / 1024 / 1024, 1) if mem else None,
        "kernel": platform.release(),
        "os": (re.search(r'^PRETTY_NAME="?([^"\n]*)', read("/etc/os-release"), re.M) or [None, None])[1],
        "loadavg_at_start": read("/proc/loadavg").split()[:3],
        "cgroup_layout": "v1/v2 hybrid" if S.hybrid else ("v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"),
        "user": {"uid": S.uid, "name": os.environ.get("USER")},
        "versions": {
            "auto-review": version_of([S.ar, "--version"]),
            "bwrap": version_of([S.bwrap, "--version"]) if S.bwrap else None,
            "runc": version_of([S.runc, "--version"]) if S.runc else None,
            "crun": version_of([S.crun, "--version"]) if S.crun else None,
            "util-linux unshare": version_of([S.unshare, "--version"]) if S.unshare else None,
            "git": version_of([GIT, "--version"]),
            "python3": platform.python_version(),
        },
        "bundle": S.bundle_info,
    }


# --------------------------------------------------------------------------------------
# measure / render / splice
# --------------------------------------------------------------------------------------

SETUP = None


def cmd_measure(a):
    global SETUP, WATCHDOG
    if os.geteuid() == 0:
        raise SystemExit("bench: measure must run as an unprivileged user (bench/run.sh arranges that)")
    cfg = MODES[a.mode]
    WATCHDOG = Watchdog()
    t0 = time.monotonic()
    SETUP = Setup(os.path.abspath(a.work), os.path.abspath(a.auto_review))
    res = {"mode": a.mode, "config": {k: v for k, v in cfg.items() if k != "scale_per_worker"},
           "scale_per_worker": cfg["scale_per_worker"], "machine": machine(),
           "paths": {"AR": SETUP.ar, "ROOTFS": SETUP.rootfs, "WORK": SETUP.work},
           "hybrid_cgroups": SETUP.hybrid}
    if not SETUP.bwrap:
        raise SystemExit("bench: bwrap is not installed (Debian package bubblewrap)")
    res["warm"] = suite_warm(cfg)
    res["cold"] = suite_cold(cfg)
    res["peak_rss"] = suite_peak_rss(cfg, res["warm"])
    res["footprint"] = suite_footprint(cfg, res["warm"])
    res["scale"] = suite_scale(cfg)
    res["profile"] = suite_profile(cfg)
    res["review"] = suite_review(cfg)
    res["unavailable"] = SETUP.unavailable
    res["oci_config_runc"] = SETUP.oci_config([GIT, "--version"], "runc")
    res["oci_config_crun"] = SETUP.oci_config([GIT, "--version"], "crun")
    res["duration_s"] = round(time.monotonic() - t0, 1)
    res["machine"]["loadavg_at_end"] = open("/proc/loadavg").read().split()[:3]
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    log(f"done in {res['duration_s']} s; raw results in {a.out}")
    # Leave no cache behind except the results.
    for d in ("cache", "oci-export", "oci", "oci-state"):
        rmtree(os.path.join(SETUP.work, d))


# -- rendering ------------------------------------------------------------------------

def f1(x):
    return "n/a" if x is None else f"{x:.1f}"


def ratio(a, b):
    return "n/a" if (a is None or not b) else f"{a / b:.2f}×"


def mib(kb):
    return "n/a" if kb is None else f"{kb / 1024:.1f}"


def subst(argv, paths):
    s = shlex.join(argv)
    for k in ("ROOTFS", "WORK", "AR"):
        s = s.replace(paths[k], f"${k}")
    return s


def med(d, key="wall_ms"):
    try:
        return d[key]["median"]
    except (KeyError, TypeError):
        return None


def cmd_render(a):
    R = json.load(open(a.json))
    P = R["paths"]
    M = R["machine"]
    W = R["warm"]["tools"]
    o = []
    w = o.append
    w(f"Generated by `bench/run.sh{' --quick' if R['mode'] == 'quick' else ''}` on {M['date']} "
      f"({R['mode']} mode, {R['duration_s']:.0f} s). Raw samples: `bench/results/results.json` (not committed).")
    w("")
    w("### Machine")
    w("")
    w("| | |")
    w("| --- | --- |")
    w(f"| CPU | {M['cpu_model']}, {M['nproc']} cores (shared, noisy) |")
    w(f"| memory | {M['mem_total_gib']} GiB |")
    w(f"| kernel / OS | {M['kernel']} / {M['os']} |")
    w(f"| cgroups | {M['cgroup_layout']} |")
    w(f"| load average at start / end | {' '.join(M['loadavg_at_start'])} / {' '.join(M.get('loadavg_at_end', []))} |")
    w(f"| user | uid {M['user']['uid']} ({M['user']['name']}), unprivileged |")
    for k, v in M["versions"].items():
        w(f"| {k} | {v or 'not installed'} |")
    b = M["bundle"]
    w(f"| bundle | {b.get('layerDigest', '?')[:19]}…, {b.get('entries')} entries |")
    perf = R["profile"].get("perf_instructions")
    if perf:
        w(f"| `perf stat -e instructions` | `{perf}` |")
    w("")

    # -- warm ---------------------------------------------------------------------------
    w("### 1. Warm launch: `git --version`")
    w("")
    w(f"{R['warm']['rounds']} interleaved rounds (+{R['warm']['warmup']} warm-up rounds discarded); "
      "wall time per launch in ms. CPU is user+system time of the whole process tree (wait4 rusage).")
    w("")
    bw, bare = med(W.get("bwrap")), med(W.get("bare git"))
    crun_net = med(W.get("crun (net of wrapper)"))
    w("| command | median | p90 | CPU median | × bwrap | × bare | × crun (net) |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, d in W.items():
        m = med(d)
        p90 = d["wall_ms"].get("p90") if d.get("wall_ms") else None
        cpu = med(d, "cpu_ms")
        w(f"| {name} | {f1(m)} | {f1(p90)} | {f1(cpu)} | {ratio(m, bw)} | {ratio(m, bare)} | {ratio(m, crun_net)} |")
    w("")
    if R["warm"]["failures"] and any(R["warm"]["failures"].values()):
        w("Failed launches (excluded): " + ", ".join(f"{k}: {v}" for k, v in R["warm"]["failures"].items() if v))
        w("")
    ar, arr, arb = med(W.get("auto-review")), med(W.get("auto-review --rootfs")), med(W.get("auto-review --bare"))
    arv = med(W.get("auto-review --version"))
    if None not in (ar, arr, arb, bare, bw, arv):
        cpu = {n: med(W.get(n), "cpu_ms") for n in ("auto-review", "auto-review --rootfs", "auto-review --bare",
                                                     "auto-review --version", "bare git", "bwrap")}
        w("Decomposition of auto-review's median (differences of medians, so approximate; CPU in parentheses):")
        w("")
        w(f"- the executable starting and exiting, nothing else (`auto-review --version`): {f1(arv)} ms "
          f"({f1(cpu['auto-review --version'])} ms CPU)")
        w(f"- plus CLI and running git unisolated (`--bare` − `--version`): {f1(arb - arv)} ms "
          f"({f1(cpu['auto-review --bare'] - cpu['auto-review --version'])} ms CPU; bare git alone: {f1(bare)} ms)")
        w(f"- plus namespaces, mounts, seccomp, init (`--rootfs` − `--bare`): {f1(arr - arb)} ms "
          f"({f1(cpu['auto-review --rootfs'] - cpu['auto-review --bare'])} ms CPU); bwrap's whole isolation, "
          f"bwrap − bare git: {f1(bw - bare)} ms ({f1(cpu['bwrap'] - cpu['bare git'])} ms CPU)")
        w(f"- plus the embedded bundle: lease, quick check, its extra mounts (default − `--rootfs`): {f1(ar - arr)} ms "
          f"({f1(cpu['auto-review'] - cpu['auto-review --rootfs'])} ms CPU)")
        w("")

    # -- cold ---------------------------------------------------------------------------
    C = R["cold"]
    CT = C["tools"]
    w("### 2. Cold first run")
    w("")
    w(f"{C['rounds']} interleaved rounds; each cold command gets a fresh, empty `AUTO_REVIEW_CACHE_DIR` "
      "(page cache warm: an unprivileged user cannot drop it).")
    w("")
    warm_ar = med(CT.get("warm: sandbox run"))
    w("| command | median | p90 | CPU median | × warm auto-review | × bwrap |")
    w("| --- | ---: | ---: | ---: | ---: | ---: |")
    cbw = med(CT.get("bwrap"))
    for name, d in CT.items():
        m = med(d)
        w(f"| {name} | {f1(m)} | {f1(d['wall_ms']['p90'] if d.get('wall_ms') else None)} | {f1(med(d, 'cpu_ms'))} "
          f"| {ratio(m, warm_ar)} | {ratio(m, cbw)} |")
    w("")
    s = C["sizes"]
    w("| size | bytes | MiB |")
    w("| --- | ---: | ---: |")
    w(f"| dist/auto-review (launcher + appended layer) | {s['executable_bytes']:,} | {s['executable_bytes'] / 2**20:.1f} |")
    w(f"| layer, compressed (`bundle info --json` compressedSize) | {s['layer_compressed_bytes']:,} | {s['layer_compressed_bytes'] / 2**20:.1f} |")
    rest = s["executable_bytes"] - s["layer_compressed_bytes"]
    w(f"| launcher code (executable − layer) | {rest:,} | {rest / 2**20:.1f} |")
    w(f"| layer, uncompressed tar (uncompressedSize) | {s['layer_uncompressed_bytes']:,} | {s['layer_uncompressed_bytes'] / 2**20:.1f} |")
    w(f"| unpacked bundle, apparent size (`du -sb`) | {s['unpacked_apparent_bytes']:,} | {s['unpacked_apparent_bytes'] / 2**20:.1f} |")
    w(f"| unpacked bundle, on disk (`du -sk`) | {s['unpacked_disk_kib'] * 1024:,} | {s['unpacked_disk_kib'] / 1024:.1f} |")
    w("")

    # -- review (item 3) -----------------------------------------------------------------
    RV = R.get("review") or {}
    w("### 3. Real work: a review")
    w("")
    if RV.get("skipped") or not RV.get("tools"):
        w(f"Not measured: {RV.get('skipped', 'the suite did not run')}.")
        w("")
    else:
        info = RV["repository"]
        ch = info["feature_changes"]
        w(f"The repository (`bench/genrepo.py`, seed {info['params']['seed']}, fixed dates; generated in "
          f"{info['generate_s']} s, then cached): {info['commits_main']} commits on `main`, {info['files_at_main']:,} files "
          f"at `main` in nested directories, {info['objects']:,} objects, a {info['pack_bytes'] / 2**20:.1f} MiB pack; "
          f"`feature` is {info['commits_feature_only']} commits off `main`~{info['params']['commits'] - 1 - info['params']['branch_at']} "
          f"changing {sum(ch.values())} files ({ch['M']} modified, {ch['A']} added, {ch['D']} deleted, {ch['R']} renamed;"
          f"{info['feature_diff'].split('changed,', 1)[-1]}). "
          f"Served by `bench/gitserver.py` (`git http-backend` as CGI, HTTP/1.1 keep-alive, TLS with a throwaway CA) on "
          f"127.0.0.1. Every review makes {RV['requests_per_run'].get('review --isolated', '?')} HTTP requests and reports "
          f"{RV.get('findings', '?')} findings, the same in every mode"
          f"{'' if RV.get('reports_equal') else ' (NOT the same: see results.json)'}; `--fail-on never`, so exit 0.")
        w("")
        w(f"{RV['rounds']} interleaved rounds (+{RV['warmup']} warm-up); wall time per command in ms; CPU as above "
          "(wait4 rusage of the tree).")
        w("")
        T = RV["tools"]
        bare = med(T.get("review --bare"))
        bwa = med(T.get("bwrap: the same git commands"))
        letter = {name: chr(ord("A") + i) for i, name in enumerate(T)}
        w("| | command | median | p90 | CPU median | × review --bare | × bwrap anchor |")
        w("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for name, d in T.items():
            m = med(d)
            cpu = "n/a¹" if name.startswith("bwrap") else f1(med(d, "cpu_ms"))
            w(f"| {letter[name]} | {name} | {f1(m)} | {f1(d['wall_ms']['p90'])} | {cpu} | {ratio(m, bare)} | {ratio(m, bwa)} |")
        w("")
        w("¹ bwrap's outer process does not reap the sandbox's processes, so their CPU time is not in its rusage.")
        w("")
        A, B, C = "review --isolated", "review --bare", "bwrap: the same git commands"
        SH, SP = ("auto-review sandbox, --network host: the same git commands",
                  "auto-review sandbox, --network proxy: the same git commands")
        HG, HC, HT = ("host git: the same git commands", "host git, CApath as in the sandbox",
                      "host git, CApath as in the sandbox, on tmpfs")
        fails = RV.get("failures") or {}

        def paired(x, y, key):
            """Median and quartiles of the per-round differences x − y (both ran in the same round), or, when a
            run failed and the rounds no longer pair up, the difference of the medians."""
            if x not in T or y not in T:
                return "n/a"
            sx, sy = T[x].get(key), T[y].get(key)
            if sx and sy and len(sx) == len(sy) and not fails.get(x) and not fails.get(y):
                d = sorted(p - q for p, q in zip(sx, sy))
                return f"{statistics.median(d):+.1f} [{pct(d, 25):+.1f}, {pct(d, 75):+.1f}]"
            field = "cpu_ms" if key == "cpu_samples" else "wall_ms"
            mx, my = med(T[x], field), med(T[y], field)
            return "n/a" if None in (mx, my) else f"{mx - my:+.1f} (of medians)"

        rows = [
            ("isolated − bare review", A, B, "everything below"),
            ("the review around the same git work, isolated", A, SP,
             "the outer process, the .NET gateway and its 7 git spawns, the report; not the git work itself"),
            ("the review around the same git work, bare", B, HG, "the same, on the host"),
            ("the egress proxy relay", SP, SH, "git through auto-review's CONNECT proxy instead of straight to 127.0.0.1"),
            ("auto-review's sandbox instead of bwrap", SH, C, "launcher, bundle lease and check, --ca-file, mounts, seccomp"),
            ("bwrap's isolation of the git work", C, HT, "bwrap and the bundle's files, against host git with the same CA path, on tmpfs"),
            ("auto-review's sandbox, against host git", SH, HT, "the two lines above together (CPU measurable)"),
            ("the host's CA directory", HG, HC, "libcurl's default CApath /etc/ssl/certs (host) against the sandbox's"),
            ("the clone on disk instead of tmpfs", HC, HT, "$TMPDIR (/tmp, ext4 here) against /dev/shm"),
        ]
        w(f"What each difference isolates: per-round differences between two commands that differ in one thing, "
          f"median [quartiles] over the {RV['rounds']} rounds, in ms. Wall time pairs the two runs of each round; "
          "CPU is wait4's, so not for bwrap.")
        w("")
        w("| difference | commands | what differs | wall | CPU |")
        w("| --- | --- | --- | ---: | ---: |")
        for label, x, y, what in rows:
            cpu = "n/a" if C in (x, y) else paired(x, y, "cpu_samples")
            xy = f"{letter.get(x, '?')} − {letter.get(y, '?')}"
            w(f"| {label} | {xy} | {what} | {paired(x, y, 'wall_samples')} | {cpu} |")
        w("")
        if RV.get("failures") and any(RV["failures"].values()):
            w("Failed runs (excluded): " + ", ".join(f"{k}: {v}" for k, v in RV["failures"].items() if v))
            w("")
        if RV.get("server_cpu_ms_per_run") is not None:
            w(f"The server (Python and `git http-backend`) used {RV['server_cpu_ms_per_run']:.0f} ms of CPU per run on "
              "average, on the same 2 cores.")
            w("")
        VP = RV.get("verbose_phases") or {}
        if VP:
            names = list(VP)
            w(f"Where the time goes: each review once more with `--verbose`, stderr read through a pipe and every line "
              f"timestamped on arrival (median of {min(RV['verbose_rounds'].values())} rounds; no tracing). A phase ends "
              "when its line arrives: `running the gateway in the sandbox` (isolated) or the `--bare` warning, the "
              "gateway's `fetching`, its `reviewing … changed files`, then the outer process's `report written`.")
            w("")
            w("| phase (ms) | " + " | ".join(names) + " |")
            w("| --- |" + " ---: |" * len(names))
            for ph in next(iter(VP.values())):
                w(f"| {ph} | " + " | ".join(f1(VP[n].get(ph)) for n in names) + " |")
            w("")
            tn = (RV.get("tunnels") or {}).get("review --isolated")
            if tn:
                per = list(zip(*tn))
                cells = []
                for i, col in enumerate(per):
                    cells.append(f"tunnel {i + 1}: {statistics.median(t['up'] for t in col):,.0f} B up, "
                                 f"{statistics.median(t['down'] for t in col):,.0f} B down, open "
                                 f"{statistics.median(t['open_ms'] for t in col):.0f} ms")
                w("The isolated review's egress proxy (its `--verbose` log, medians): " + "; ".join(cells) + ".")
                w("")
        SC = RV.get("strace_c") or {}
        if SC:
            names = list(SC)
            w("System calls of one run each (`strace -f -c`, every process of the tree; counts only, since ptrace "
              "slows git's fetch several times over); columns as lettered in the first table:")
            w("")
            w("| calls of | " + " | ".join(f"{letter.get(n, '?')}: {n.split(':')[0]}" for n in names) + " |")
            w("| --- |" + " ---: |" * len(names))
            w("| all | " + " | ".join(str((SC[n]["total"] or {}).get("calls", "?")) for n in names) + " |")
            for k in ("execve", "clone", "clone3", "mount", "futex", "sched_yield", "epoll_wait", "connect",
                      "read", "write", "sendto", "recvfrom", "sendmsg", "recvmsg", "pread64", "openat", "fsync"):
                if any(k in SC[n]["rows"] for n in names):
                    w(f"| {k} | " + " | ".join(str(SC[n]["rows"].get(k, {}).get("calls", 0)) for n in names) + " |")
            w("")

    # -- memory -------------------------------------------------------------------------
    w("### 4. Memory")
    w("")
    PK = R.get("peak_rss", {})
    if PK.get("tools"):
        w(f"Peak RSS of each warm-launch command (`git --version`), {PK['rounds']} interleaved rounds under "
          "`/usr/bin/time -f '%M %R'`: `%M` is the kernel's `ru_maxrss` for the command, i.e. the largest peak "
          "RSS of any single process of its tree (the launcher, or a descendant it reaped), not a sum. "
          "GNU time's own RSS is the floor; the bare git row shows it.")
        w("")
        w("| command | peak RSS median (MiB) | p90 | minor faults (median, tree) |")
        w("| --- | ---: | ---: | ---: |")
        for name, d in PK["tools"].items():
            if not d.get("maxrss_kb"):
                continue
            w(f"| {name} | {mib(d['maxrss_kb']['median'])} | {mib(d['maxrss_kb']['p90'])} | {d['minflt']['median']:.0f} |")
        w("")
    elif PK.get("skipped"):
        w(f"Peak RSS under GNU time: skipped ({PK['skipped']}).")
        w("")
    F = R["footprint"]
    w("Steady state, measured from outside while the payload (`git hash-object --stdin`) blocks on stdin: "
      "the launcher's own `VmHWM` (its peak RSS so far; setup is over, so this is its peak), and the sum "
      "over every process below it of `VmRSS` and of `Pss` (`/proc/PID/smaps_rollup`: shared pages split "
      f"between sharers, so sums do not double-count). Median of {max((v['rounds'] for v in F['tools'].values()), default=0)} rounds.")
    w("")
    w("| tool | launcher process | launcher VmHWM (MiB) | launcher PSS | processes in the sandbox | sandbox RSS sum | sandbox PSS sum | total PSS |")
    w("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: |")
    for name, d in F["tools"].items():
        w(f"| {name} | {d['launcher_name']} | {mib(med(d, 'launcher_vmhwm_kb'))} | {mib(med(d, 'launcher_pss_kb'))} "
          f"| {', '.join(d['sandbox_processes'])} | {mib(med(d, 'sandbox_rss_kb'))} | {mib(med(d, 'sandbox_pss_kb'))} "
          f"| {mib(med(d, 'total_pss_kb'))} |")
    w("")
    if F["errors"]:
        w("Not measured: " + "; ".join(f"{k}: {v}" for k, v in F["errors"].items()))
        w("")

    # -- scale --------------------------------------------------------------------------
    S = R["scale"]
    w("### 5. Scale: concurrent sandboxes")
    w("")
    pw = S["per_worker"]
    w(f"N workers each run `git --version` sandboxes back to back ({', '.join(f'N={k}: {v} each' for k, v in pw.items())}), "
      f"repeated {S['reps']}× with the tool order alternating; throughput = launches / wall time, latency per launch.")
    w("")
    w("| concurrency | tool | launches | failed | launches/s | p50 ms | p99 ms | p50 × bwrap | throughput × bwrap |")
    w("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = sorted(S["rows"], key=lambda r: (int(r["concurrency"]), r["tool"]))
    byk = {(r["tool"], int(r["concurrency"])): r for r in rows}
    for r in rows:
        c = int(r["concurrency"])
        ref = byk.get(("bwrap", c))
        lat = r["latency_ms"] or {}
        rl = (ref or {}).get("latency_ms") or {}
        w(f"| {c} | {r['tool']} | {r['launches']} | {r['failures']} | {f1(r['throughput_per_s'])} | {f1(lat.get('median'))} "
          f"| {f1(lat.get('p99'))} | {ratio(lat.get('median'), rl.get('median'))} "
          f"| {ratio(r['throughput_per_s'], (ref or {}).get('throughput_per_s'))} |")
    w("")

    # -- profile ------------------------------------------------------------------------
    PR = R["profile"]
    w("### Profile: where the time goes")
    w("")
    if PR.get("phases"):
        names = list(PR["phases"])
        w(f"Phases of one launch, from `strace -f -ttt --seccomp-bpf -e trace={STRACE_EVENTS}` "
          f"(median of {min(PR['phase_rounds'].values())} rounds; strace inflates absolute times, compare phases):")
        w("")
        w("| phase (ms) | " + " | ".join(names) + " |")
        w("| --- |" + " ---: |" * len(names))
        for ph in next(iter(PR["phases"].values())):
            w(f"| {ph} | " + " | ".join(f1(PR["phases"][n][ph]) for n in names) + " |")
        w("")
    if PR.get("strace_c"):
        w("System calls of one launch (`strace -f -c`, all processes of the tree):")
        w("")
        w("| launch | syscalls | errors | top 5 by time (calls) |")
        w("| --- | ---: | ---: | --- |")
        for name, d in PR["strace_c"].items():
            t = d["total"] or {}
            top = ", ".join(f"{k} ({v['calls']})" for k, v in d["top_by_time"][:5])
            w(f"| {name} | {t.get('calls', '?')} | {t.get('errors', '?')} | {top} |")
        w("")
        sel_keys = sorted({k for d in PR["strace_c"].values() for k in d["selected"]})
        names = list(PR["strace_c"])
        w("| calls of | " + " | ".join(names) + " |")
        w("| --- |" + " ---: |" * len(names))
        for k in sel_keys:
            w(f"| {k} | " + " | ".join(str(PR["strace_c"][n]["selected"].get(k, {}).get("calls", 0)) for n in names) + " |")
        w("")

    if PR.get("failed_lookups"):
        w("Failed file-system calls of one warm launch (`strace -f -Z -e trace=%file`), by call and file name:")
        w("")
        w("| launch | failed calls | most frequent |")
        w("| --- | ---: | --- |")
        for name, d in PR["failed_lookups"].items():
            w(f"| {name} | {d['total']} | " + ", ".join(f"`{k}` ×{v}" for k, v in d["top"]) + " |")
        w("")

    # -- targets ------------------------------------------------------------------------
    w("### Targets")
    w("")
    cold = med(CT.get("cold: sandbox run"))
    fp_ar = F["tools"].get("auto-review", {})
    hwm = med(fp_ar, "launcher_vmhwm_kb") if fp_ar else None
    rss_tree = med(PK.get("tools", {}).get("auto-review", {}), "maxrss_kb")

    def verdict(ok):
        return "n/a" if ok is None else ("**met**" if ok else "**missed**")
    w("| target | measured | verdict |")
    w("| --- | --- | --- |")
    r1 = ar / bw if ar and bw else None
    w(f"| warm launch ≤ 1.25× bwrap | {ratio(ar, bw)} ({f1(ar)} vs {f1(bw)} ms) | {verdict(None if r1 is None else r1 <= 1.25)} |")
    r2 = ar / crun_net if ar and crun_net else None
    w(f"| warm launch ≤ 0.5× crun (net of wrapper) | {ratio(ar, crun_net)} ({f1(ar)} vs {f1(crun_net)} ms) "
      f"| {verdict(None if r2 is None else r2 <= 0.5)} |")
    w(f"| cold first run ≤ 500 ms | {f1(cold)} ms median, {f1(CT.get('cold: sandbox run', {}).get('wall_ms', {}).get('p90'))} ms p90 "
      f"| {verdict(None if cold is None else cold <= 500)} |")
    w(f"| launcher peak RSS ≤ 30 MB | launcher VmHWM {mib(hwm)} MiB; `time -f %M` {mib(rss_tree)} MiB "
      f"| {verdict(None if hwm is None else hwm * 1024 <= 30e6)} |")
    RT = (R.get("review") or {}).get("tools") or {}
    ri, rb = med(RT.get("review --isolated")), med(RT.get("review --bare"))
    rbt = med(RT.get("review --bare, TMPDIR on tmpfs"))
    r5 = ri / rb if ri and rb else None
    extra = f"; × bare with TMPDIR on tmpfs: {ratio(ri, rbt)}" if rbt else ""
    w(f"| isolated review ≤ 1.05× bare review | {ratio(ri, rb)} ({f1(ri)} vs {f1(rb)} ms{extra}) "
      f"| {verdict(None if r5 is None else r5 <= 1.05)} |")
    w("")

    # -- commands -----------------------------------------------------------------------
    w("### Exact commands")
    w("")
    w(f"`$AR` = the copy of dist/auto-review in the work directory, `$ROOTFS` = `$AR bundle path` "
      f"(here `{P['ROOTFS']}`), `$WORK` = `{P['WORK']}`. Environment of every command: "
      f"`PATH={TOOL_PATH} HOME LANG=C.UTF-8 AUTO_REVIEW_CACHE_DIR=$WORK/cache`, stdin `/dev/null`, stdout `/dev/null`.")
    w("")
    w("```")
    seen = set()
    for suite in ("warm", "cold", "footprint", "scale"):
        for name, argv in R[suite]["commands"].items():
            line = subst(argv, P)
            if (suite, line) in seen:
                continue
            seen.add((suite, line))
            w(f"# [{suite}] {name}")
            w(line)
    RV = R.get("review") or {}
    if RV.get("commands"):
        w(f"# [review] URL = {RV.get('url')} (bench/gitserver.py; the port changes every run);")
        w("# [review] $WORK/review/tls/ca.pem is the throwaway CA; clone.sh is ANCHOR_SCRIPT in bench/bench.py;")
        w("# [review] trust-*.pem = the bundle's or the host's ca-certificates.crt plus that CA; N = the round")
        w("# [review] GITENV=" + shlex.quote(" ".join(f"{k}={v}" for k, v in GIT_ENV.items())))
        for name, argv in RV["commands"].items():
            env = (RV.get("envs") or {}).get(name)
            prefix = ""
            if env and name.startswith("review"):
                prefix = " ".join(f"{k}={v}" for k, v in env.items()) + " "
            elif env:
                prefix = "env -i $GITENV " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()
                                                     if k not in GIT_ENV) + " "
            w(f"# [review] {name}")
            line = prefix + subst(argv, P).replace(RV["url"], "$URL")
            for k in ("ROOTFS", "WORK", "AR"):
                line = line.replace(P[k], f"${k}")
            w(line)
    w("# [peak RSS] each warm command X, under GNU time:")
    w("/usr/bin/time -f '%M %R' -o $WORK/logs/time.out -- X")
    w("# [profile] phase timeline, syscall counts, failed lookups of a command X:")
    w(f"strace -f -ttt --seccomp-bpf -e trace={STRACE_EVENTS} -o FILE -- X")
    w("strace -f -c -o FILE -- X")
    w("strace -f -Z -e trace=%file -o FILE -- X")
    w("```")
    w("")
    if R.get("unavailable"):
        w("Left out: " + "; ".join(f"{k}: {v}" for k, v in R["unavailable"].items()))
        w("")
    text = "\n".join(o) + "\n"
    if a.out:
        open(a.out, "w").write(text)
    else:
        sys.stdout.write(text)


BEGIN = "<!-- BEGIN GENERATED by bench/run.sh: do not edit by hand -->"
END = "<!-- END GENERATED by bench/run.sh -->"


def cmd_splice(a):
    body = open(a.results_md).read()
    doc = open(a.doc).read() if os.path.exists(a.doc) else ""
    block = f"{BEGIN}\n{body.rstrip()}\n{END}"
    if BEGIN in doc and END in doc:
        pre = doc[:doc.index(BEGIN)]
        post = doc[doc.index(END) + len(END):]
        doc = pre + block + post
    else:
        doc = doc.rstrip() + "\n\n## Results\n\n" + block + "\n"
    tmp = a.doc + ".tmp"
    open(tmp, "w").write(doc)
    os.replace(tmp, a.doc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("measure")
    m.add_argument("--work", required=True)
    m.add_argument("--auto-review", required=True)
    m.add_argument("--mode", choices=sorted(MODES), default="full")
    m.add_argument("--out", required=True)
    r = sub.add_parser("render")
    r.add_argument("json")
    r.add_argument("--out")
    s = sub.add_parser("splice")
    s.add_argument("doc")
    s.add_argument("results_md")
    a = ap.parse_args()
    {"measure": cmd_measure, "render": cmd_render, "splice": cmd_splice}[a.cmd](a)


if __name__ == "__main__":
    main()
