#!/usr/bin/env bash
# nix/check-bundle.sh: the bundle contracts, checked on a built single file (the executable with its
# embedded payload). Run by the flake's `checks` and by nix/offline-bundle.nix, so the same script is
# exercised offline (tests/Nix.Tests) and by a networked `nix flake check`.
#
#   check-bundle.sh contents EXE SPEC_JSON [MANIFEST_JSON]
#       every entry the spec names is in the rootfs, with its kind; everything else is a shared library
#       of the ELF closure; with MANIFEST_JSON (from `bundle build --manifest-out`), the embedded layer
#       is that very layer.
#   check-bundle.sh no-shell EXE
#       no shell, coreutils, debugger, package manager or debug files; no setuid/setgid/sticky bits;
#       no device nodes, fifos or sockets.
#   check-bundle.sh config EXE SPEC_JSON
#       the exported OCI runtime config: read-only root, the spec's environment, entrypoint, cwd,
#       hostname, user and writable mounts, every namespace, no capabilities, no_new_privs, read-only binds.
#
# SPEC_JSON is the rootfs spec as Nix evaluated it (builtins.toJSON of nix/rootfs-spec.nix).
# Needs bash and jq. Prints one "ok: ..." line per contract and exits 0, or names every violation and
# exits 1.
set -euo pipefail

usage() { echo "usage: check-bundle.sh contents|no-shell|config EXE [SPEC_JSON [MANIFEST_JSON]]" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
contract="$1" exe="$2" spec="${3:-}" manifest="${4:-}"
[[ -x "$exe" ]] || { echo "check-bundle.sh: $exe is not an executable" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/check-bundle.XXXXXXXX")"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
# The executable unpacks into (and reads) its cache; keep that inside the check.
export AUTO_REVIEW_CACHE_DIR="$work/cache" HOME="$work/home"
mkdir -p "$HOME"

fail() {
  echo "check-bundle.sh: $contract contract violated:" >&2
  sed 's/^/  - /' >&2
  exit 1
}

info() { "$exe" bundle info --json >"$work/info.json" && cat "$work/info.json"; }

case "$contract" in
contents)
  [[ -f "$spec" ]] || usage
  info >/dev/null
  violations="$(jq -r --slurpfile spec "$spec" '
    ($spec[0]) as $s
    | (.files | map({key: .path, value: .}) | from_entries) as $f
    | def need(path; kind): if $f[path] == null then "\(path) is missing (the spec lists it as a \(kind))"
                           elif $f[path].kind != kind then "\(path) is a \($f[path].kind), the spec wants a \(kind)" else empty end;
      [ ($s.executables[] | need(.; "file"), (if $f[.] != null and $f[.].mode != "0755" then "\(.) has mode \($f[.].mode), not 0755" else empty end)),
        ($s.hostFiles[] | need(.path; "file")),
        ($s.generatedFiles[] | need(.path; "file"),
           (. as $g | if $f[$g.path] != null and $f[$g.path].size != ($g.content | utf8bytelength)
                      then "\($g.path) has \($f[$g.path].size) bytes, the spec generates \($g.content | utf8bytelength)" else empty end)),
        ($s.emptyFiles[] | need(.path; "file"), (if ($f[.path].size // 0) != 0 then "\(.path) is not empty" else empty end)),
        ($s.directories[] | need(.; "directory")),
        ($s.links[] | if .hardlinkTo != null then
             (. as $l | if ($f[$l.path].kind == "hardlink" and $f[$l.path].linkTarget == ($l.hardlinkTo | ltrimstr("/")))
                           or ($f[$l.hardlinkTo].kind == "hardlink" and $f[$l.hardlinkTo].linkTarget == ($l.path | ltrimstr("/")))
                        then empty else "\($l.path) is not a hardlink to \($l.hardlinkTo)" end)
           else need(.path; "symlink") end),
        ($s.dlopenLibraries[] | .soname as $so
           | if [$f[] | select(.kind == "file" and (.path | split("/") | last) == $so)] | length > 0 then empty
             else "no file named \($so) (a dlopen library of the spec)" end),
        # Nothing else: whatever the spec does not name must be a shared library of the ELF closure.
        ( ([$s.executables[], $s.hostFiles[].path, $s.generatedFiles[].path, $s.emptyFiles[].path, $s.directories[], $s.links[].path]) as $named
          | $f[] | select(.kind != "directory") | select(.path as $p | $named | index($p) | not)
          | select((.path | split("/") | last | test("\\.so(\\.[0-9]+)*$")) | not)
          | "\(.path) is neither in the spec nor a shared library of the closure")
      ] | .[]' "$work/info.json")"
  if [[ -n "$manifest" ]]; then
    embedded="$(jq -r .layerDigest "$work/info.json")"
    built="$(jq -r .layerDigest "$manifest")"
    [[ "$embedded" == "$built" ]] || violations+=$'\n'"the embedded layer is $embedded, the bundle's layer is $built"
  fi
  violations="$(sed '/^$/d' <<<"$violations")"
  [[ -z "$violations" ]] || fail <<<"$violations"
  echo "ok: contents: $(jq -r '"\(.entries) entries, layer \(.layerDigest)"' "$work/info.json") match the spec"
  ;;

no-shell)
  info >/dev/null
  violations="$(jq -r '
    ["sh", "bash", "dash", "ash", "zsh", "ksh", "busybox", "toybox", "coreutils", "ls", "cat", "cp", "mv", "rm", "env",
     "chmod", "gdb", "strace", "ltrace", "perf", "valgrind", "apt", "apt-get", "dpkg", "rpm", "su", "sudo", "mount",
     "perl", "python3", "cc", "gcc", "ld", "curl", "wget", "nc", "ssh"] as $forbidden
    | .files[]
    | (.path | split("/") | last) as $name
    | (if ($forbidden | index($name)) then "\(.path): a shell, coreutils, debugger, package manager or network tool" else empty end),
      (if ($name | test("\\.(dbg|debug|pdb)$")) or (.path | startswith("/usr/lib/debug/")) then "\(.path): debug information" else empty end),
      (if ((.mode | explode | map(. - 48) | .[0]) // 0) != 0 then "\(.path): mode \(.mode) has setuid, setgid or sticky bits" else empty end),
      (if ([.kind] | inside(["directory", "file", "hardlink", "symlink"])) then empty else "\(.path): a \(.kind)" end)
  ' "$work/info.json")"
  [[ -z "$violations" ]] || fail <<<"$violations"
  echo "ok: no-shell: $(jq -r .entries "$work/info.json") entries, no shell, tools, debug files, special bits or devices"
  ;;

config)
  [[ -f "$spec" ]] || usage
  "$exe" bundle export --runtime-bundle "$work/runtime-bundle" >/dev/null
  violations="$(jq -r --slurpfile spec "$spec" '
    ($spec[0]) as $s
    | [ (if .root.readonly == true then empty else "root.readonly is \(.root.readonly), not true" end),
        (if .process.noNewPrivileges == true then empty else "process.noNewPrivileges is not true" end),
        (.process.capabilities // {} | to_entries[] | select(.value | length > 0) | "capabilities.\(.key) is not empty: \(.value)"),
        (if .process.env == $s.config.env then empty else "process.env \(.process.env) differs from the spec \($s.config.env)" end),
        (if .process.args == $s.config.entrypoint then empty else "process.args \(.process.args) differs from the entrypoint \($s.config.entrypoint)" end),
        (if .process.cwd == $s.config.cwd then empty else "process.cwd \(.process.cwd) differs from \($s.config.cwd)" end),
        (if .hostname == $s.config.hostname then empty else "hostname \(.hostname) differs from \($s.config.hostname)" end),
        (if .process.user.uid == $s.user.uid and .process.user.gid == $s.user.gid then empty
         else "process.user \(.process.user) is not \($s.user.uid):\($s.user.gid)" end),
        (["user", "mount", "pid", "ipc", "uts", "cgroup", "network"] - [.linux.namespaces[].type] | .[] | "no \(.) namespace"),
        (. as $c | $s.config.writableMounts[] | . as $m
           | if [$c.mounts[] | select(.destination == $m.destination and .type == $m.type)] | length == 1 then empty
             else "no single \($m.type) mount at \($m.destination)" end),
        (.mounts[] | select(.type == "bind") | select(.options | index("ro") | not) | "bind mount at \(.destination) is not read-only"),
        (if .linux.seccomp != null then empty else "no seccomp filter" end)
      ] | .[]' "$work/runtime-bundle/config.json")"
  [[ -z "$violations" ]] || fail <<<"$violations"
  echo "ok: config: read-only root, the spec's environment, user and mounts, $(jq -r '.linux.namespaces | length' "$work/runtime-bundle/config.json") namespaces, no capabilities"
  ;;

*) usage ;;
esac
