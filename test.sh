#!/usr/bin/env bash
# test.sh: build dist/auto-review, run every test project, summarise.
#
#   ./test.sh [extra dotnet test args...]     e.g. ./test.sh --filter Category=Sandbox
#
# The tests run the real binary: AUTO_REVIEW_BIN=$PWD/dist/auto-review.
# One TRX file per test project is written to TestResults/ (emptied first).
# The last line printed is the summary from scripts/trx-summary:
#     N passed, N failed[, N skipped]
# Exit status: 0 if tests ran and none failed; non-zero if any test failed,
# no test ran, or the build or test run broke.
set -euo pipefail

root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
cd "$root"

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

if [[ -z "${HOME:-}" || ! -w "${HOME:-/nonexistent}" ]]; then
  echo "test.sh: error: HOME ('${HOME:-}') is unset or not writable; dotnet keeps its NuGet cache under \$HOME/.nuget" >&2
  exit 1
fi

if ! ./build.sh; then
  echo "test.sh: error: ./build.sh failed; no tests were run" >&2
  exit 1
fi

export AUTO_REVIEW_BIN="$root/dist/auto-review"
results="$root/TestResults"
rm -rf "$results"

echo "test.sh: running tests (AUTO_REVIEW_BIN=$AUTO_REVIEW_BIN)"
# LogFilePrefix (not LogFileName): with a solution, each test project gets
# its own TRX file; a fixed LogFileName would be overwritten by the last one.
test_rc=0
dotnet test AutoReview.sln -c Release \
  --logger "trx;LogFilePrefix=auto-review" \
  --results-directory "$results" \
  "$@" || test_rc=$?

# Summarise the TRX files. The summary line must stay the last line printed,
# so any note about a broken run goes just before it.
summary_rc=0
summary="$(scripts/trx-summary "$results" 2>&1)" || summary_rc=$?
last_line="${summary##*$'\n'}"
if [[ "$summary" == *$'\n'* ]]; then
  printf '%s\n' "${summary%$'\n'*}"
fi
if [[ $test_rc -ne 0 && $summary_rc -eq 0 ]]; then
  # every recorded test passed, yet dotnet test failed: the run broke
  # (a test project that did not build, a logger or host error, ...)
  echo "test.sh: error: dotnet test exited with status $test_rc although no recorded test failed; see the output above"
elif [[ $test_rc -ne 0 ]]; then
  echo "test.sh: dotnet test exited with status $test_rc"
fi
printf '%s\n' "$last_line"

if [[ $summary_rc -ne 0 ]]; then
  exit "$summary_rc"
fi
if [[ $test_rc -ne 0 ]]; then
  exit "$test_rc"
fi
exit 0
