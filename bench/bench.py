#!/usr/bin/env python3
"""bench.py: the measuring half of bench/run.sh (issue 6).

run.sh installs the comparison tools, creates the unprivileged user and copies
dist/auto-review into a work directory; this script then runs, as that user:

  measure  every suite (warm launch, cold first run, memory, scale, profile) and
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
                 scale_reps=3, scale_per_worker={1: 100, 4: 40, 16: 15}, profile_rounds=20),
    "quick": dict(warm_warmup=3, warm_rounds=60, cold_rounds=8, mem_rounds=8, footprint_rounds=2,
                  scale_reps=1, scale_per_worker={1: 30, 4: 10, 16: 4}, profile_rounds=4),
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

def interleave(tools, rounds, warmup, env, on_round=None):
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
            r = run(argv, e, stderr_path=err)
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
    w("| isolated review ≤ 1.05× bare review | pending: `auto-review review` does not exist yet | pending |")
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
