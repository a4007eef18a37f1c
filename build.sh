#!/usr/bin/env bash
# build.sh: build the single self-contained NativeAOT executable dist/auto-review.
#
#   ./build.sh [extra dotnet publish args...]
#
# Runs `dotnet publish src/Cli/AutoReview.Cli.csproj -c Release` into a
# temporary folder and installs only the executable into dist/ (no .dbg,
# no .pdb). Deterministic: SOURCE_DATE_EPOCH defaults to the last commit
# time (0 outside git) and ContinuousIntegrationBuild is on.
#
# Needs: the .NET 10 SDK (see global.json) and, for the NativeAOT link step,
# a C toolchain (clang, or gcc as fallback), libc6-dev and binutils (objcopy).
set -euo pipefail

die() { echo "build.sh: error: $*" >&2; exit 1; }
say() { echo "build.sh: $*"; }

root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
cd "$root"

export DOTNET_CLI_TELEMETRY_OPTOUT=1
export DOTNET_NOLOGO=1
export DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# --- prerequisites --------------------------------------------------------
sdk_version="$(sed -n 's/.*"version"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' global.json 2>/dev/null | head -n1)"
if ! command -v dotnet >/dev/null 2>&1; then
  die "dotnet not found on PATH: install the .NET 10 SDK (${sdk_version:-10.0.x}, see global.json): https://dotnet.microsoft.com/download/dotnet/10.0 (or put an existing SDK folder on PATH / set DOTNET_ROOT)"
fi
if ! dotnet --version >/dev/null 2>&1; then
  dotnet --version >&2 || true
  die "'dotnet --version' failed: the .NET SDK ${sdk_version:-10.0.x} required by global.json is not installed or not readable; install the .NET 10 SDK: https://dotnet.microsoft.com/download/dotnet/10.0"
fi

missing=()
if ! command -v clang >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
  missing+=("clang or gcc (C compiler/linker driver, package: clang or gcc)")
fi
command -v objcopy >/dev/null 2>&1 || missing+=("objcopy (package: binutils)")
command -v ld >/dev/null 2>&1 || missing+=("ld (package: binutils)")
if [[ ! -e /usr/include/stdio.h ]]; then
  missing+=("C library headers and startup files (package: libc6-dev)")
fi
if [[ ${#missing[@]} -gt 0 ]]; then
  {
    echo "build.sh: error: NativeAOT publishing needs a native toolchain; missing:"
    printf '  - %s\n' "${missing[@]}"
    echo "  on Debian/Ubuntu: sudo apt-get install -y gcc libc6-dev binutils   (clang also works)"
  } >&2
  exit 1
fi

# --- determinism ----------------------------------------------------------
if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
  if SOURCE_DATE_EPOCH="$(git -c safe.directory="$root" -C "$root" log -1 --format=%ct 2>/dev/null)" \
      && [[ "$SOURCE_DATE_EPOCH" =~ ^[0-9]+$ ]]; then
    :
  else
    SOURCE_DATE_EPOCH=0
  fi
fi
export SOURCE_DATE_EPOCH

# --- publish ----------------------------------------------------------------
out="$(mktemp -d "${TMPDIR:-/tmp}/auto-review-publish.XXXXXXXX")"
trap 'rm -rf "$out"' EXIT

say "publishing src/Cli/AutoReview.Cli.csproj (Release, linux-x64, NativeAOT; SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"
if ! dotnet publish src/Cli/AutoReview.Cli.csproj \
    -c Release \
    -o "$out" \
    -p:ContinuousIntegrationBuild=true \
    -p:Deterministic=true \
    "$@"; then
  die "dotnet publish failed (see the errors above)"
fi

exe="$out/auto-review"
[[ -f "$exe" ]] || die "dotnet publish succeeded but produced no '$exe' (is AssemblyName still auto-review?)"
if [[ "$(head -c4 "$exe" | od -An -c | tr -d ' \n')" != '177ELF' ]]; then
  die "'$exe' is not an ELF executable: was it published with PublishAot (NativeAOT)?"
fi

# The embedded rootfs (ADR 0007): the freshly published binary builds the layer from
# src/Bundle/rootfs-spec.json out of this host's installed packages, and appends it to itself.
for need in /usr/bin/git /usr/lib/git-core/git-remote-http /etc/ssl/certs/ca-certificates.crt; do
  [[ -e "$need" ]] || die "the embedded rootfs needs $need from this host: sudo apt-get install -y git ca-certificates"
done
say "building the embedded rootfs from src/Bundle/rootfs-spec.json"
if ! "$exe" bundle build --spec src/Bundle/rootfs-spec.json --source-date-epoch "$SOURCE_DATE_EPOCH" \
    --layer-out "$out/layer.tar.gz" --embed-into "$out/auto-review"; then
  die "building the embedded rootfs failed (see the error above)"
fi
mkdir -p dist
rm -f dist/auto-review dist/auto-review.dbg
install -m 0755 "$exe" dist/auto-review.tmp
mv -f dist/auto-review.tmp dist/auto-review
touch -d "@$SOURCE_DATE_EPOCH" dist/auto-review 2>/dev/null || true

size="$(stat -c %s dist/auto-review)"
say "built $root/dist/auto-review ($size bytes, $(( (size + 1023) / 1024 )) KiB)"
