# nix/sysroot-links.nix: where each FHS path that the rootfs spec reads from the build host comes
# from in Nix packages. Nixpkgs-free (the packages are passed in as store paths), so it evaluates
# offline and tests/Nix.Tests checks it against the spec.
#
# The spec names host paths the Debian way (/usr/bin/git, /etc/ssl/certs/ca-certificates.crt). The
# C# builder reads them inside a sysroot, so the Nix build makes a small FHS-shaped sysroot
# (nix/sysroot.nix) in which each of these paths is a symlink to the file named here. A spec entry
# without a mapping here stops the evaluation with its name, rather than building a different rootfs.
#
# Returns [ { path = "/usr/bin/git"; target = "<git>/bin/git"; } ... ], in the spec's order.
{
  spec ? import ./rootfs-spec.nix,
  # Store paths (or derivations) of the packages.
  git,
  cacert,
}:
let
  targets = {
    "/usr/bin/git" = "${git}/bin/git";
    # nixpkgs installs git's helpers in its gitexecdir, $out/libexec/git-core.
    "/usr/lib/git-core/git-remote-http" = "${git}/libexec/git-core/git-remote-http";
    # nixpkgs' cacert names its PEM bundle ca-bundle.crt.
    "/etc/ssl/certs/ca-certificates.crt" = "${cacert}/etc/ssl/certs/ca-bundle.crt";
  };
  wanted = spec.executables ++ map (file: file.from) spec.hostFiles;
  missing = builtins.filter (path: !(targets ? ${path})) wanted;
in
if missing != [ ] then
  throw "nix/sysroot-links.nix: the rootfs spec reads ${builtins.concatStringsSep ", " missing} from the build host, but nix/sysroot-links.nix does not say which Nix package provides it"
else
  map (path: {
    inherit path;
    target = targets.${path};
  }) wanted
