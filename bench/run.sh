#!/usr/bin/env bash
# bench/run.sh: issue 6's benchmark harness. Measures auto-review's sandbox launcher side by side
# with bubblewrap, rootless runc and crun on the same unpacked rootfs, and a whole review
# (`auto-review review`, isolated against --bare, with bwrap as the anchor) of a generated repository
# served over HTTPS from 127.0.0.1, and writes the results into docs/BENCHMARKS.md (between the
# GENERATED markers).
#
#   bench/run.sh [--quick] [--no-docs]
#
#   --quick     fewer rounds: about 2 minutes instead of about 5 (do not commit quick numbers)
#   --no-docs   leave docs/BENCHMARKS.md alone; results go to bench/results/ only
#
# Needs dist/auto-review (run ./build.sh first); builds nothing itself.
#
# Run as root: it installs the comparison tools from Debian if missing (bubblewrap, crun, runc,
# python3, strace, time, openssl, git; never runtime dependencies of auto-review), creates the unprivileged user
# $BENCH_USER (default arbench) and re-runs itself as that user with runuser, so every measurement
# is rootless, and the bundle cache belongs to that user.
# Run as an ordinary user: it measures as you; tools that are missing are left out (bwrap and
# python3 are required).
#
# Everything is bounded: fixed round counts, a timeout on every command (30 s; 90 s for a review),
# no network beyond 127.0.0.1 (the review suite's git server listens there only).
# The review suite's repository is generated once and kept in the work directory (review-cache/).
# Results: bench/results/results.json (raw samples) and results.md (the generated section).
# Benchmarks are not part of CI: .ci/run does not call this script.
set -euo pipefail

die() { echo "bench/run.sh: error: $*" >&2; exit 1; }
say() { echo "bench/run.sh: $*" >&2; }

mode=full
update_docs=1
user_phase=0
work=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) mode=quick ;;
    --no-docs) update_docs=0 ;;
    --user-phase) user_phase=1 ;;           # internal: the re-exec as the bench user
    --work) work="${2:?--work needs a directory}"; shift ;;  # internal
    -h|--help) sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done

# --- the user phase: measure and render, inside the prepared work directory -----------------------
if [[ $user_phase -eq 1 ]]; then
  [[ -n "$work" && -d "$work" ]] || die "--user-phase needs --work DIR"
  mkdir -p "$work/results"
  python3 "$work/bench/bench.py" measure --work "$work" --auto-review "$work/auto-review" \
    --mode "$mode" --out "$work/results/results.json"
  python3 "$work/bench/bench.py" render "$work/results/results.json" --out "$work/results/results.md"
  exit 0
fi

here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
repo="$(dirname "$here")"
ar="$repo/dist/auto-review"
[[ -f "$ar" ]] || die "$ar does not exist: build it first with ./build.sh"
[[ "$(head -c4 "$ar" | od -An -c | tr -d ' \n')" == '177ELF' ]] || die "$ar is not an ELF executable: rebuild it with ./build.sh"
[[ "$(uname -m)" == x86_64 ]] || die "auto-review's launcher is x86-64 only"

# Copies the executable and the harness into $1, so that a rebuild of dist/ during the run
# changes nothing, and the bench user can read them wherever the checkout lives.
# The review suite's generated repository (review-cache/) survives: it is keyed by the generator's
# parameters and source, so it is rebuilt only when those change.
prepare_work() {
  local dir="$1" keep=""
  if [[ -e "$dir" ]]; then
    chmod -R u+w "$dir" 2>/dev/null || true
    if [[ -d "$dir/review-cache" ]]; then
      keep="$(dirname "$dir")/.auto-review-bench-review-cache.$$"
      rm -rf "$keep"
      mv "$dir/review-cache" "$keep"
    fi
    rm -rf "$dir"
  fi
  mkdir -p "$dir/bench"
  if [[ -n "$keep" ]]; then mv "$keep" "$dir/review-cache"; fi
  cp "$ar" "$dir/auto-review"
  cp "$here/bench.py" "$here/genrepo.py" "$here/gitserver.py" "$here/run.sh" "$dir/bench/"
  chmod 0755 "$dir/auto-review" "$dir/bench/run.sh"
  say "measuring $(sha256sum "$dir/auto-review" | cut -c1-16)… ($("$dir/auto-review" --version 2>/dev/null | head -n1))"
}

collect_results() {
  local dir="$1"
  [[ -f "$dir/results/results.md" ]] || die "the measurement produced no results (see above)"
  if ! mkdir -p "$here/results" 2>/dev/null || [[ ! -w "$here/results" ]]; then
    say "cannot write $here/results: the results stay in $dir/results (results.md, results.json)"
    return 0
  fi
  cp "$dir/results/results.json" "$dir/results/results.md" "$here/results/"
  if [[ -d "$dir/profile" ]]; then
    rm -rf "$here/results/profile"
    cp -r "$dir/profile" "$here/results/profile"
  fi
  if [[ $update_docs -eq 1 && $mode == full && ! -w "$repo/docs/BENCHMARKS.md" ]]; then
    say "cannot write docs/BENCHMARKS.md: left alone"
  elif [[ $update_docs -eq 1 && $mode == full ]]; then
    python3 "$here/bench.py" splice "$repo/docs/BENCHMARKS.md" "$here/results/results.md"
    say "updated docs/BENCHMARKS.md"
  elif [[ $update_docs -eq 1 ]]; then
    say "--quick: docs/BENCHMARKS.md left alone (commit only full-mode numbers)"
  fi
  say "results: $here/results/results.md (raw samples: results.json)"
}

if [[ $(id -u) -eq 0 ]]; then
  # --- root: install the comparison tools, make the unprivileged user, re-run as that user -------
  export DEBIAN_FRONTEND=noninteractive
  required=(bubblewrap crun runc python3 strace time util-linux openssl git)
  missing=()
  for p in "${required[@]}"; do
    [[ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" == installed ]] || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    say "installing from Debian: ${missing[*]}"
    apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null \
      || die "apt-get install ${missing[*]} failed"
  fi

  BENCH_USER="${BENCH_USER:-arbench}"
  if ! id -u "$BENCH_USER" >/dev/null 2>&1; then
    say "creating the unprivileged user $BENCH_USER"
    useradd --create-home --shell /bin/bash "$BENCH_USER"
  fi
  home="$(getent passwd "$BENCH_USER" | cut -d: -f6)"
  [[ -n "$home" ]] || die "user $BENCH_USER has no home directory"
  [[ -d "$home" ]] || { mkdir -p "$home"; chown "$BENCH_USER:" "$home"; }
  runuser -u "$BENCH_USER" -- unshare -Ur true </dev/null >/dev/null 2>&1 \
    || die "$BENCH_USER cannot create a user namespace: see \`runuser -u $BENCH_USER -- $ar doctor\` for the cause and the fix"

  work="$home/auto-review-bench"
  prepare_work "$work"
  chown -R "$BENCH_USER:" "$work"
  say "running the $mode benchmark as $BENCH_USER (uid $(id -u "$BENCH_USER")) in $work"
  (cd / && runuser -u "$BENCH_USER" -- env -i HOME="$home" USER="$BENCH_USER" LOGNAME="$BENCH_USER" \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 TMPDIR=/tmp \
      bash "$work/bench/run.sh" --user-phase --work "$work" $([[ $mode == quick ]] && echo --quick) </dev/null)
  collect_results "$work"
else
  # --- an ordinary user: measure as this user with what is installed -----------------------------
  command -v python3 >/dev/null || die "python3 is missing: sudo apt-get install python3 (or run bench/run.sh as root)"
  command -v bwrap >/dev/null || die "bwrap is missing: sudo apt-get install bubblewrap (or run bench/run.sh as root)"
  for t in crun runc strace /usr/bin/time openssl; do
    command -v "$t" >/dev/null || say "warning: $t is not installed: what needs it is left out (run as root to install it)"
  done
  work="${XDG_CACHE_HOME:-$HOME/.cache}/auto-review-bench"
  prepare_work "$work"
  (cd / && bash "$work/bench/run.sh" --user-phase --work "$work" $([[ $mode == quick ]] && echo --quick) </dev/null)
  collect_results "$work"
fi
