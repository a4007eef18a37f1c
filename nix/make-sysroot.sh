#!/usr/bin/env bash
# nix/make-sysroot.sh: build the FHS-shaped sysroot that `auto-review bundle build --sysroot` reads
# when the rootfs comes from Nix packages (nix/sysroot.nix runs it; tests/Nix.Tests runs it on a
# synthetic store).
#
#   make-sysroot.sh OUT LINKS CLOSURE LIBDIRS [SOURCE_ROOT]
#
#   OUT          the sysroot to create
#   LINKS        lines "FHS_PATH<TAB>STORE_FILE" (nix/sysroot-links.nix): the paths the spec reads
#   CLOSURE      store paths, one a line (closureInfo's store-paths): everything those files need
#   LIBDIRS      store directories, one a line, written to OUT/etc/ld.so.conf: where the builder
#                looks for the spec's dlopen libraries (libssl, libcrypto, libm), which no DT_NEEDED names
#   SOURCE_ROOT  where the store paths are read from; empty (the default) for the real /nix/store
#
# Why copies: the C# builder resolves every path *inside* the sysroot, as after chroot(OUT), so that
# it can never pick up the build host's own libraries. An ELF file from Nix names its interpreter and
# libraries by absolute /nix/store paths (PT_INTERP, DT_RUNPATH), so those paths must exist inside
# OUT: OUT/nix/store holds a copy of the closure. The FHS paths are relative symlinks into that copy,
# which resolve the same whether they are followed inside the sysroot or on the host.
set -euo pipefail

[[ $# -ge 4 && $# -le 5 ]] || { echo "usage: make-sysroot.sh OUT LINKS CLOSURE LIBDIRS [SOURCE_ROOT]" >&2; exit 2; }
out="$1" links="$2" closure="$3" libdirs="$4" source_root="${5:-}"

die() { echo "make-sysroot.sh: error: $*" >&2; exit 1; }
is_elf() { [[ "$(head -c4 "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" == 7f454c46 ]]; }

mkdir -p "$out"
while IFS= read -r path; do
  [[ -n "$path" ]] || continue
  [[ "$path" == /nix/store/* ]] || die "$closure: '$path' is not a /nix/store path"
  [[ -e "$source_root$path" ]] || die "$source_root$path does not exist"
  mkdir -p "$out$(dirname "$path")"
  cp -a "$source_root$path" "$out$path"
done <"$closure"

while IFS=$'\t' read -r path target; do
  [[ -n "$path" ]] || continue
  [[ "$path" == /* && "$target" == /nix/store/* ]] || die "$links: bad line '$path<TAB>$target'"
  [[ -e "$out$target" ]] || die "$target (for $path) is not in the closure copied into $out"
  # nixpkgs wraps some programs in a shell script (makeWrapper) and keeps the ELF file beside it as
  # .NAME-wrapped; the rootfs has no shell to run a wrapper, so the spec's path gets the ELF file.
  wrapped="$(dirname "$target")/.$(basename "$target")-wrapped"
  if ! is_elf "$out$target" && [[ -e "$out$wrapped" ]] && is_elf "$out$wrapped"; then
    echo "make-sysroot.sh: $target is a wrapper script; $path gets $wrapped" >&2
    target="$wrapped"
  fi
  mkdir -p "$out$(dirname "$path")"
  ln -s "$(realpath -m --relative-to="$(dirname "$out$path")" "$out$target")" "$out$path"
done <"$links"

mkdir -p "$out/etc"
: >"$out/etc/ld.so.conf"
while IFS= read -r dir; do
  [[ -n "$dir" ]] || continue
  [[ -d "$out$dir" ]] || die "$dir (a library directory) is not in the closure copied into $out"
  echo "$dir" >>"$out/etc/ld.so.conf"
done <"$libdirs"
