# nix/packages.nix: the flake's packages and checks for one system (see ../flake.nix, ADR 0010).
#
# Every output is built by the same C# builder that ./build.sh uses (`auto-review bundle build`),
# from the same spec (src/Bundle/rootfs-spec.json, read here through nix/rootfs-spec.nix); only the
# sysroot differs: Nix packages here, the build host's packages in ./build.sh.
{
  pkgs,
  # SOURCE_DATE_EPOCH of the layer: the commit time, as ./build.sh takes it.
  sourceDateEpoch,
  version,
}:
let
  inherit (pkgs) lib runCommand;
  spec = import ./rootfs-spec.nix;
  specFile = ../src/Bundle/rootfs-spec.json;
  # The spec as Nix evaluated it, handed to the checks.
  specAsNix = builtins.toFile "rootfs-spec-as-nix.json" (builtins.toJSON spec);

  # A slim git: no perl, python or manual, so no scripts that would need a shell. It keeps libcurl
  # and so git-remote-http.
  git = pkgs.gitMinimal;
  inherit (pkgs) cacert openssl;
  glibc = pkgs.stdenv.cc.libc;

  auto-review = pkgs.callPackage ./package.nix {
    src = lib.fileset.toSource {
      root = ../.;
      fileset = lib.fileset.unions [
        ../src
        ../Directory.Build.props
        ../Directory.Packages.props
        ../global.json
      ];
    };
    inherit version;
  };

  sysroot = pkgs.callPackage ./sysroot.nix { inherit spec git cacert openssl glibc; };

  bundleBuild = ''
    ${lib.getExe auto-review} bundle build --spec ${specFile} --sysroot ${sysroot} \
      --source-date-epoch ${toString sourceDateEpoch}'';

  # The layer and its manifest.
  bundle = runCommand "auto-review-bundle-${version}" { } ''
    mkdir -p "$out"
    ${bundleBuild} --layer-out "$out/layer.tar.gz" --manifest-out "$out/manifest.json"
  '';

  # The single file: the executable with the layer and manifest appended (ADR 0007).
  default = runCommand "auto-review-${version}" { meta.mainProgram = "auto-review"; } ''
    install -Dm755 ${lib.getExe auto-review} "$out/bin/auto-review"
    ${bundleBuild} --layer-out "$TMPDIR/layer.tar.gz" --embed-into "$out/bin/auto-review"
  '';

  # Where the spec puts git's helpers: the directory of its git-remote-http.
  gitHelpers = dirOf (
    lib.findFirst (path: baseNameOf path == "git-remote-http")
      (throw "nix/packages.nix: the rootfs spec has no git-remote-http")
      spec.executables
  );

  exportEnv = ''export AUTO_REVIEW_CACHE_DIR="$TMPDIR/cache"'';

  check =
    contract: args:
    runCommand "auto-review-check-${contract}" { nativeBuildInputs = [ pkgs.jq ]; } ''
      bash ${./check-bundle.sh} ${contract} ${default}/bin/auto-review ${lib.escapeShellArgs args} | tee "$out"
    '';
in
{
  packages = {
    inherit auto-review sysroot bundle default;
    # The rootfs unpacked, as an OCI runtime bundle (config.json and rootfs/) for runc or crun.
    rootfs = runCommand "auto-review-rootfs-${version}" { } ''
      ${exportEnv}
      ${default}/bin/auto-review bundle export --runtime-bundle "$out"
    '';
    # The OCI image layout (ADR 0009): the same layer blob, plus a layer with the executable.
    oci-image = runCommand "auto-review-oci-image-${version}" { } ''
      ${exportEnv}
      ${default}/bin/auto-review bundle export --oci-layout "$out"
    '';
  };

  checks = {
    contents = check "contents" [ specAsNix "${bundle}/manifest.json" ];
    no-shell = check "no-shell" [ ];
    config = check "config" [ specAsNix ];
    # nixpkgs' git looks for its helpers (git-remote-https, ...) in its compiled-in exec path under
    # its store path, where the rootfs has nothing; the spec puts them beside its git-remote-http
    # (/usr/lib/git-core). The rootfs environment must then say so with GIT_EXEC_PATH.
    git-exec-path = runCommand "auto-review-check-git-exec-path" { } ''
      compiled="$(${git}/bin/git --exec-path)"
      helpers=${gitHelpers}
      if [[ "$compiled" != "$helpers" ]] && ! grep -qxF "GIT_EXEC_PATH=$helpers" ${builtins.toFile "env" (lib.concatLines spec.config.env)}; then
        echo "git from nixpkgs looks for its helpers in $compiled, but the rootfs has them in $helpers;" >&2
        echo "add \"GIT_EXEC_PATH=$helpers\" to config.env in src/Bundle/rootfs-spec.json" >&2
        exit 1
      fi
      echo "ok: git finds its helpers in $helpers" | tee "$out"
    '';
  };
}
