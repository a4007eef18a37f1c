# nix/offline-bundle.nix: the bundle built by Nix without nixpkgs, from this host's packages.
#
# The flake (../flake.nix) builds the rootfs from nixpkgs, which this project's CI cannot reach. This
# file is its offline twin: plain builtins.derivation, the host's /bin/bash as the builder, the host's
# git, libraries and CA bundle as the sysroot (`--sysroot /`, as ./build.sh does), and the already built
# dist/auto-review as the builder program. It runs the same C# builder (`auto-review bundle build`)
# on the same spec (src/Bundle/rootfs-spec.json, read here with builtins.fromJSON) and the same check
# script as the flake's checks. What it proves, with `nix-build --check`: a rebuild in another build
# directory, at another time, in another process gives bit-identical outputs.
#
# The builds must see the host's /usr and /etc, so they run without Nix's build sandbox
# (`--option sandbox false`, Debian's default). Typical use, as any user, with a throwaway store:
#
#   store="local?store=$T/store&state=$T/state&log=$T/log"
#   nix-build nix/offline-bundle.nix --store "$store" --option sandbox false --option substituters '' \
#     --argstr autoReview "$PWD/dist/auto-review" --argstr sourceDateEpoch 1700000000
#   nix-build nix/offline-bundle.nix ... -A bundle -A default -A oci-image --check
#
# Outputs: bundle (layer.tar.gz, manifest.json), default (bin/auto-review with the payload embedded),
# oci-image (an OCI image layout), and check-contents, check-no-shell, check-config.
{
  # The NativeAOT executable (with or without a payload): an absolute path, e.g. "$PWD/dist/auto-review".
  autoReview ? toString ../dist/auto-review,
  # The mtime of every layer entry and the manifest's `created`; ./build.sh uses the last commit's time.
  sourceDateEpoch ? "0",
  system ? "x86_64-linux",
  # The host programs the builders use: bash, and cp/mkdir/chmod from coreutils; jq for the checks.
  hostBash ? "/bin/bash",
  hostPath ? "/usr/bin:/bin",
}:
let
  spec = import ./rootfs-spec.nix;
  specFile = builtins.path { path = ../src/Bundle/rootfs-spec.json; name = "rootfs-spec.json"; };
  # The spec as Nix evaluated it, for the checks: what the flake's checks see as well.
  specAsNix = builtins.toFile "rootfs-spec-as-nix.json" (builtins.toJSON spec);
  exe = builtins.path { path = /. + autoReview; name = "auto-review"; };
  checkScript = builtins.path { path = ./check-bundle.sh; name = "check-bundle.sh"; };

  # The host files the spec names, with their hashes: a changed host git or CA bundle makes another
  # derivation, not a silently different output of this one. (The library closure is resolved by the
  # C# builder at build time, so it cannot be listed here; nix-build --check still compares the outputs.)
  hostInputs = map (path: "${path} sha256:${builtins.hashFile "sha256" path}") (
    spec.executables ++ map (file: file.from) spec.hostFiles
  );

  # A derivation whose builder is the host's bash running `script`; `scriptArgs` become its "$@".
  # The script always ends in a builtin (`true`), so that bash itself, not a program it execs for the
  # last command, is the builder process when it exits. Without a sandbox, Nix 2.8 SIGKILLs the builder
  # as soon as its log closes, and a builder still inside exit() is then reported as "failed due to
  # signal 9" (NixOS/nix#2176). On this machine an exec'd last command lost that race in 26 of 50 builds;
  # ending in a builtin, in 0 of 150.
  hostDerivation =
    name: script: attrs:
    derivation (
      {
        inherit name system;
        builder = hostBash;
        args = [ "-euo" "pipefail" "-c" "${script}\ntrue" name ] ++ attrs.scriptArgs or [ ];
        PATH = hostPath;
        SOURCE_DATE_EPOCH = sourceDateEpoch;
        preferLocalBuild = true;
        allowSubstitutes = false;
      }
      // removeAttrs attrs [ "scriptArgs" ]
    );

  bundleBuild = ''"$exe" bundle build --spec "$spec" --sysroot / --source-date-epoch "$SOURCE_DATE_EPOCH"'';

  self = {
    bundle = hostDerivation "auto-review-bundle-offline" ''
      mkdir -p "$out"
      ${bundleBuild} --layer-out "$out/layer.tar.gz" --manifest-out "$out/manifest.json"
    '' { inherit exe hostInputs; spec = specFile; };

    # The single file: the executable with the layer and manifest appended (ADR 0007).
    default = hostDerivation "auto-review-offline" ''
      mkdir -p "$out/bin"
      cp "$exe" "$out/bin/auto-review"
      chmod u+w "$out/bin/auto-review"
      ${bundleBuild} --layer-out "$TMPDIR/layer.tar.gz" --embed-into "$out/bin/auto-review"
      chmod 0555 "$out/bin/auto-review"
    '' { inherit exe hostInputs; spec = specFile; };

    oci-image = hostDerivation "auto-review-oci-image-offline" ''
      export AUTO_REVIEW_CACHE_DIR="$TMPDIR/cache"
      "$default/bin/auto-review" bundle export --oci-layout "$out"
    '' { inherit (self) default; };

    check-contents = check "contents" [ specAsNix "${self.bundle}/manifest.json" ];
    check-no-shell = check "no-shell" [ ];
    check-config = check "config" [ specAsNix ];
  };

  check =
    contract: scriptArgs:
    hostDerivation "auto-review-check-${contract}"
      ''"$hostBash" "$checkScript" ${contract} "$default/bin/auto-review" "$@" | tee "$out"''
      {
        inherit (self) default;
        inherit checkScript hostBash scriptArgs;
      };
in
self
