# auto-review, built with Nix. See docs/adr/0010-nix.md: what this flake builds, what this
# repository's CI proves about it offline, and what only a networked `nix build` / `nix flake check`
# verifies.
#
#   nix build .#default          # result/bin/auto-review: the single file with its rootfs embedded
#   nix build .#default --rebuild  # build again and compare bit for bit
#   nix flake check              # the bundle contracts: contents, no shell, config, git's exec path
#
# The flake sits at the repository root because a flake's source is the directory holding
# flake.nix: from nix/ it could not reach src/. The logic lives in nix/; this file only wires it up.
{
  description = "auto-review: code review in a rootless sandbox, as one NativeAOT executable with its rootfs embedded";

  # One nixos-unstable commit (2026-08-02). `nix flake lock` records its narHash in flake.lock; the
  # lock is not committed yet because it can only be written where GitHub is reachable (ADR 0010).
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/643809054d65fdd466a63e3155b8c498cb483c04";

  outputs =
    { self, nixpkgs }:
    let
      system = "x86_64-linux";
      outputs = import ./nix/packages.nix {
        pkgs = nixpkgs.legacyPackages.${system};
        # The commit time, as ./build.sh takes SOURCE_DATE_EPOCH from `git log -1 --format=%ct`.
        sourceDateEpoch = self.lastModified or 0;
        version = "0.1.0-${self.shortRev or "dirty"}";
      };
    in
    {
      packages.${system} = outputs.packages;
      checks.${system} = outputs.checks;
    };
}
