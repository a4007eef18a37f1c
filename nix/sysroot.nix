# nix/sysroot.nix: the FHS-shaped sysroot from which `auto-review bundle build --sysroot` takes the
# rootfs contents when they come from nixpkgs (see nix/make-sysroot.sh for its shape and why).
{
  lib,
  runCommand,
  closureInfo,
  spec,
  # The packages the spec's host paths come from (nix/sysroot-links.nix), and where the builder finds
  # the spec's dlopen libraries (libssl.so.3, libcrypto.so.3 from openssl; libm.so.6 from glibc).
  git,
  cacert,
  openssl,
  glibc,
}:
let
  links = import ./sysroot-links.nix { inherit spec git cacert; };
  libraryDirectories = [
    "${lib.getLib openssl}/lib"
    "${lib.getLib glibc}/lib"
  ];
  closure = closureInfo {
    rootPaths = [
      git
      cacert
      (lib.getLib openssl)
      (lib.getLib glibc)
    ];
  };
in
runCommand "auto-review-sysroot"
  {
    links = lib.concatMapStrings (link: "${link.path}\t${link.target}\n") links;
    libraryDirectories = lib.concatMapStrings (dir: "${dir}\n") libraryDirectories;
    passAsFile = [
      "links"
      "libraryDirectories"
    ];
    passthru = { inherit links libraryDirectories; };
  }
  ''
    bash ${./make-sysroot.sh} "$out" "$linksPath" ${closure}/store-paths "$libraryDirectoriesPath"
  ''
