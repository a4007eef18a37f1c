# nix/package.nix: the auto-review executable, NativeAOT, built the way ./build.sh builds it
# (`dotnet publish src/Cli/AutoReview.Cli.csproj -c Release`, deterministic), without the payload.
{
  lib,
  stdenv,
  buildDotnetModule,
  dotnetCorePackages,
  fetchNupkg,
  openssl,
  patchelf,
  src,
  version,
}:
let
  dotnet-sdk = dotnetCorePackages.sdk_10_0;
  # nix/deps.json lists every package of the locked restore, the runtime and ILCompiler packs
  # included (nix/update-deps.sh). The SDK from nixpkgs brings its own packs; the same package and
  # version twice in the NuGet source would collide, so those entries are left to the SDK.
  sdkPackages = map (p: lib.toLower "${p.pname or ""}/${p.version or ""}") (dotnet-sdk.packages or [ ]);
  deps = lib.filter (
    dep: !(lib.elem (lib.toLower "${dep.pname}/${dep.version}") sdkPackages)
  ) (lib.importJSON ./deps.json);
in
buildDotnetModule {
  pname = "auto-review";
  inherit version src dotnet-sdk;
  projectFile = "src/Cli/AutoReview.Cli.csproj";
  nugetDeps = map fetchNupkg deps;
  runtimeId = "linux-x64";
  selfContainedBuild = true;
  # A NativeAOT executable needs no dotnet runtime and no wrapper script.
  executables = [ ];
  dontDotnetFixup = true;
  # The NativeAOT link step uses the C toolchain (clang, or gcc as fallback) and objcopy.
  nativeBuildInputs = [
    stdenv.cc
    patchelf
  ];

  # global.json pins the SDK feature band for ./build.sh; here the flake's nixpkgs pins the SDK.
  # The lock files pin the ILCompiler/runtime pack version of the SDK that wrote them; a different
  # SDK from nixpkgs re-resolves those implicit packs from its own (restore is not in locked mode
  # unless CI=true, see Directory.Build.props).
  postPatch = ''
    rm -f global.json
  '';

  buildPhase = ''
    runHook preBuild
    dotnet publish src/Cli/AutoReview.Cli.csproj -c Release -o "$PWD/publish" --no-restore \
      -p:ContinuousIntegrationBuild=true -p:Deterministic=true
    runHook postBuild
  '';

  installPhase = ''
    runHook preInstall
    install -Dm755 publish/auto-review "$out/bin/auto-review"
    runHook postInstall
  '';

  # .NET loads OpenSSL with dlopen (HTTPS from the inner gateway), which no DT_NEEDED names. The
  # rootfs carries the same openssl at its store path (nix/sysroot.nix), so a RUNPATH entry makes
  # it found both on the host and inside the sandbox. patchelf's --shrink-rpath (the patchELF
  # fixup) would drop that entry again, since no DT_NEEDED uses it.
  dontPatchELF = true;
  postFixup = ''
    patchelf --add-rpath ${lib.getLib openssl}/lib "$out/bin/auto-review"
  '';

  passthru = { inherit deps; };
  meta = {
    description = "Code review with the repository under review isolated in a sandbox (NativeAOT single file)";
    mainProgram = "auto-review";
    platforms = [ "x86_64-linux" ];
  };
}
