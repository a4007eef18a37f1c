#!/usr/bin/env python3
"""genrepo.py: the repository that bench.py's review suite (item 3) reviews.

Deterministic: a fixed seed, fixed author/committer and dates, built with real git through
`git fast-import`, so the same parameters give the same commit ids on every machine with the same git.

  - main: COMMITS commits. The first adds FILES text files in nested directories (a few levels deep,
    mixed languages); each later commit edits a few files, and now and then adds or deletes one.
  - feature: branches off main at commit BRANCH_AT and adds FEATURE_COMMITS commits that change about
    FEATURE_FILES files (edits, additions, deletions, renames). Some added lines are what the rules
    reviewer flags (trailing whitespace, breakpoint(), debugger;, console.log), so the review has findings.
    main goes on after the branch point, so base...head needs a real merge base.

The result is a bare repository, repacked with a bitmap, configured for partial clone
(uploadpack.allowFilter, uploadpack.allowAnySHA1InWant), and cached: a second call with the same
parameters and generator version reuses it.

  python3 genrepo.py DIR        # prints the JSON description; the repository is DIR/repo.git
"""

import hashlib
import json
import os
import random
import shutil
import subprocess
import sys

GIT = "/usr/bin/git"
VERSION = 1  # bump when the generator's output changes
PARAMS = dict(seed=6, files=2000, commits=300, branch_at=290, feature_commits=4, feature_files=50)
EPOCH = 1767225600  # 2026-01-01 00:00:00 UTC
NAME = "repo.git"

TOPS = ["core", "api", "web", "tools", "docs", "lib", "services", "tests"]
SUBS = ["alpha", "beta", "gamma", "delta", "io", "net", "util", "model", "store", "auth"]
LEAVES = ["a", "b", "c", "d", "e", "impl", "internal", "v1", "v2"]
EXTS = [".py", ".js", ".go", ".rs", ".cs", ".md", ".txt", ".ts"]
WORDS = ("value count index buffer result token stream record cache node entry header payload "
         "offset length state config handler request response reader writer parser").split()


def git_env(home):
    return {"PATH": "/usr/bin:/bin", "HOME": home, "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": "/dev/null", "TZ": "UTC"}


def line(rng, ext, i):
    w1, w2, w3 = rng.choice(WORDS), rng.choice(WORDS), rng.choice(WORDS)
    n = rng.randrange(1000)
    if ext == ".py":
        return f"def {w1}_{i}({w2}):\n    return {w2} * {n} + len({w3!r})"
    if ext in (".js", ".ts"):
        return f"function {w1}{i}({w2}) {{ return {w2} * {n}; }} // {w3}"
    if ext == ".go":
        return f"func {w1}{i}({w2} int) int {{ return {w2} * {n} }} // {w3}"
    if ext == ".rs":
        return f"fn {w1}_{i}({w2}: u32) -> u32 {{ {w2} * {n} }} // {w3}"
    if ext == ".cs":
        return f"    public static int {w1.title()}{i}(int {w2}) => {w2} * {n}; // {w3}"
    if ext == ".md":
        return f"The {w1} of the {w2} is {n}, see the {w3} section."
    return f"{w1} {w2} {w3} {n}"


def content(rng, ext, nlines, start=0):
    return "\n".join(line(rng, ext, start + k) for k in range(nlines)) + "\n"


def edit(rng, text, ext, flagged=False):
    """Change a few lines, append a few; with flagged, some added lines have problems the rules reviewer finds."""
    lines = text.split("\n")[:-1]
    for _ in range(rng.randint(1, 3)):
        if lines:
            k = rng.randrange(len(lines))
            lines[k] = line(rng, ext, 10000 + rng.randrange(10000))
    add = [line(rng, ext, 20000 + rng.randrange(10000)) for _ in range(rng.randint(1, 6))]
    if flagged:
        add[0] = add[0] + "   "  # trailing whitespace
        if ext == ".py":
            add.append("breakpoint()")
        elif ext in (".js", ".ts"):
            add.append("debugger;")
            add.append("console.log('here');")
    k = rng.randrange(len(lines) + 1)
    lines[k:k] = "\n".join(add).split("\n")
    return "\n".join(lines) + "\n"


def new_path(rng, taken):
    while True:
        depth = rng.choice((2, 3, 3, 4))
        parts = [rng.choice(TOPS), rng.choice(SUBS)]
        if depth >= 3:
            parts.append(rng.choice(LEAVES))
        if depth == 4:
            parts.append(rng.choice(SUBS))
        ext = rng.choice(EXTS)
        p = "/".join(parts) + f"/{rng.choice(WORDS)}_{rng.randrange(100000):05d}{ext}"
        if p not in taken:
            return p


def ext_of(p):
    return os.path.splitext(p)[1]


class Stream:
    def __init__(self):
        self.chunks = []
        self.mark = 0

    def data(self, b):
        self.chunks.append(b"data %d\n" % len(b))
        self.chunks.append(b)
        self.chunks.append(b"\n")

    def commit(self, ref, n, msg, from_mark, changes):
        """changes: [(op, path, text-or-None)] with op in M, D; returns the new mark."""
        self.mark += 1
        t = EPOCH + n * 3600
        self.chunks.append(f"commit {ref}\nmark :{self.mark}\n".encode())
        self.chunks.append(f"author Bench Author <author@example.invalid> {t} +0000\n".encode())
        self.chunks.append(f"committer Bench Committer <committer@example.invalid> {t} +0000\n".encode())
        self.data(msg.encode())
        if from_mark:
            self.chunks.append(f"from :{from_mark}\n".encode())
        for op, path, text in changes:
            if op == "D":
                self.chunks.append(f"D {path}\n".encode())
            else:
                self.chunks.append(f"M 100644 inline {path}\n".encode())
                self.data(text.encode())
        self.chunks.append(b"\n")
        return self.mark

    def bytes(self):
        return b"".join(self.chunks)


def build_stream(p):
    rng = random.Random(p["seed"])
    files = {}
    for _ in range(p["files"]):
        path = new_path(rng, files)
        files[path] = content(rng, ext_of(path), rng.randint(15, 120))
    s = Stream()
    marks = [s.commit("refs/heads/main", 0, "initial import\n", None, [("M", k, v) for k, v in sorted(files.items())])]
    branch_files = None
    for n in range(1, p["commits"]):
        changes = []
        for path in rng.sample(sorted(files), rng.randint(2, 12)):
            files[path] = edit(rng, files[path], ext_of(path))
            changes.append(("M", path, files[path]))
        if rng.random() < 0.3:
            path = new_path(rng, files)
            files[path] = content(rng, ext_of(path), rng.randint(10, 60))
            changes.append(("M", path, files[path]))
        if rng.random() < 0.15:
            gone = rng.choice(sorted(files))
            if all(gone != c[1] for c in changes):
                del files[gone]
                changes.append(("D", gone, None))
        marks.append(s.commit("refs/heads/main", n, f"main: change {len(changes)} files ({n})\n", marks[-1], changes))
        if n == p["branch_at"]:
            branch_files = dict(files)
    # The feature branch, from main at branch_at: about feature_files files in feature_commits commits.
    frng = random.Random(p["seed"] + 1)
    files = branch_files
    fmark = marks[p["branch_at"]]
    total = p["feature_files"]
    n_add, n_del, n_ren = total // 5, total // 25, total // 25
    n_mod = total - n_add - n_del - n_ren
    plan = ([("mod", x) for x in range(n_mod)] + [("add", x) for x in range(n_add)]
            + [("del", x) for x in range(n_del)] + [("ren", x) for x in range(n_ren)])
    frng.shuffle(plan)
    per = -(-len(plan) // p["feature_commits"])
    touched = set()
    for c in range(p["feature_commits"]):
        changes = []
        for kind, x in plan[c * per:(c + 1) * per]:
            if kind == "add":
                path = new_path(frng, files)
                text = content(frng, ext_of(path), frng.randint(10, 80))
                if x % 3 == 0:
                    text = edit(frng, text, ext_of(path), flagged=True)
                files[path] = text
                changes.append(("M", path, text))
            else:
                path = frng.choice(sorted(set(files) - touched))
                if kind == "mod":
                    files[path] = edit(frng, files[path], ext_of(path), flagged=(x % 4 == 0))
                    changes.append(("M", path, files[path]))
                elif kind == "del":
                    del files[path]
                    changes.append(("D", path, None))
                else:  # a rename with a small edit, which --find-renames pairs up
                    text = edit(frng, files.pop(path), ext_of(path))
                    dst = os.path.dirname(path) + "/renamed_" + os.path.basename(path)
                    files[dst] = text
                    changes += [("D", path, None), ("M", dst, text)]
                    touched.add(dst)
            touched.add(path)
        fmark = s.commit("refs/heads/feature", p["commits"] + c, f"feature: part {c + 1}\n", fmark, changes)
    return s.bytes()


def key():
    h = hashlib.sha256(json.dumps([VERSION, PARAMS], sort_keys=True).encode() + open(__file__, "rb").read())
    return h.hexdigest()[:16]


def run(argv, env, cwd=None, stdin=None):
    r = subprocess.run(argv, env=env, cwd=cwd, input=stdin, capture_output=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"genrepo: {' '.join(argv)} failed ({r.returncode}): {r.stderr.decode(errors='replace')[-800:]}")
    return r.stdout.decode().strip()


def ensure(cache_dir):
    """The cached repository for the current parameters, generated first if missing. Returns a dict
    with root (GIT_PROJECT_ROOT), name, path, shas, counts and the generation time."""
    root = os.path.join(os.path.abspath(cache_dir), f"review-repo-{key()}")
    info_path = os.path.join(root, "info.json")
    if os.path.isfile(info_path):
        with open(info_path) as f:
            info = json.load(f)
        info["cached"] = True
        return info
    for d in os.listdir(cache_dir) if os.path.isdir(cache_dir) else []:
        if d.startswith("review-repo-"):
            shutil.rmtree(os.path.join(cache_dir, d), ignore_errors=True)  # older generator versions
    tmp = root + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    env = git_env(tmp)
    repo = os.path.join(tmp, NAME)
    import time
    t0 = time.monotonic()
    run([GIT, "init", "--quiet", "--bare", "--initial-branch=main", repo], env)
    run([GIT, "fast-import", "--quiet", "--done"], env, cwd=repo, stdin=build_stream(PARAMS) + b"done\n")
    run([GIT, "symbolic-ref", "HEAD", "refs/heads/main"], env, cwd=repo)
    run([GIT, "repack", "-a", "-d", "-f", "-b", "-q", "--window=50"], env, cwd=repo)
    run([GIT, "prune-packed"], env, cwd=repo)
    for k, v in (("uploadpack.allowFilter", "true"), ("uploadpack.allowAnySHA1InWant", "true"),
                 ("http.receivepack", "false"), ("gc.auto", "0")):
        run([GIT, "config", k, v], env, cwd=repo)
    open(os.path.join(repo, "git-daemon-export-ok"), "w").close()
    g = lambda *a: run([GIT, "--git-dir", repo, *a], env)
    mb = g("merge-base", "main", "feature")
    stat = g("diff", "--shortstat", "--find-renames", "main...feature")
    names = g("diff", "--name-status", "--find-renames", "main...feature").splitlines()
    pack_bytes = sum(os.path.getsize(os.path.join(repo, "objects/pack", f))
                     for f in os.listdir(os.path.join(repo, "objects/pack")) if f.endswith(".pack"))
    info = {
        "generator_version": VERSION, "params": PARAMS, "key": key(), "name": NAME,
        "main": g("rev-parse", "main"), "feature": g("rev-parse", "feature"), "merge_base": mb,
        "commits_main": int(g("rev-list", "--count", "main")),
        "commits_feature_only": int(g("rev-list", "--count", "main..feature")),
        "files_at_main": len(g("ls-tree", "-r", "--name-only", "main").splitlines()),
        "files_at_feature": len(g("ls-tree", "-r", "--name-only", "feature").splitlines()),
        "objects": int(g("count-objects", "-v").split("in-pack: ")[1].split()[0]),
        "pack_bytes": pack_bytes,
        "feature_diff": stat,
        "feature_changes": {k: sum(1 for n in names if n[:1] == k) for k in "MADR"},
        "generate_s": round(time.monotonic() - t0, 1),
    }
    with open(os.path.join(tmp, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
    os.rename(tmp, root)
    info["root"] = root
    with open(info_path, "w") as f:
        json.dump(info, f, indent=1)
    info["cached"] = False
    return info


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    os.makedirs(sys.argv[1], exist_ok=True)
    print(json.dumps(ensure(sys.argv[1]), indent=1))
