#!/usr/bin/env bash
# nix/update-deps.sh: regenerate nix/deps.json, the NuGet dependencies of the Nix build
# (buildDotnetModule's nugetDeps), from the locked restore. Offline: it reads the NuGet cache
# that `dotnet restore` / ./build.sh filled, and never talks to a package source.
#
#   nix/update-deps.sh [OUTPUT]        (default: nix/deps.json; "-" for stdout)
#
# The packages are
#   1. every package that any packages.lock.json in the repository resolves (all projects,
#      direct and transitive, every target and runtime section), and
#   2. the packs the SDK downloads beside the lock file (PackageDownload: the runtime packs and
#      the NativeAOT ILCompiler pack of `dotnet publish -r linux-x64 -p:PublishAot=true`),
#      as `dotnet msbuild -t:ProcessFrameworkReferences` reports them for each project.
# Each entry is {pname, version, hash}, hash being the SRI sha256 of the .nupkg in the cache
# ($NUGET_PACKAGES, else ~/.nuget/packages). For lock-file packages the .nupkg is first checked
# against the lock file's contentHash (sha512), so the hashes are those of the locked packages.
#
# Needs: bash, jq, openssl, dotnet (the repository's SDK), and a filled NuGet cache.
# tests/Nix.Tests checks that nix/deps.json equals what this script writes.
set -euo pipefail

die() { echo "update-deps.sh: error: $*" >&2; exit 1; }

root="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
output="${1:-$root/nix/deps.json}"
cache="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
cache="${cache%/}"

for tool in jq openssl dotnet; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is not on PATH (jq: apt-get install jq; openssl: apt-get install openssl; dotnet: see global.json)"
done
[[ -d "$cache" ]] || die "no NuGet cache at $cache: run ./build.sh (or dotnet restore) first, or set NUGET_PACKAGES"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

cd "$root"
# The lock files and projects of the repository (build outputs and test results excluded), in a fixed order.
mapfile -t locks < <(find . \( -name bin -o -name obj -o -name .git -o -name TestResults -o -name node_modules \) -prune -o \
  -name packages.lock.json -type f -print | sed 's|^\./||' | LC_ALL=C sort)
[[ ${#locks[@]} -gt 0 ]] || die "no packages.lock.json under $root"

work="$(mktemp -d "${TMPDIR:-/tmp}/update-deps.XXXXXXXX")"
trap 'rm -rf "$work"' EXIT

# "Id<TAB>version<TAB>sha512-or-empty" per package, from every lock file.
for lock in "${locks[@]}"; do
  jq -r '.dependencies[] | to_entries[] | select(.value.type != "Project")
         | [.key, .value.resolved, (.value.contentHash // "")] | @tsv' "$lock" \
    || die "$lock: not a NuGet lock file"
done >"$work/locked.tsv"

# The packs each project downloads without listing them in its lock file.
for lock in "${locks[@]}"; do
  dir="$(dirname "$lock")"
  mapfile -t projects < <(find "$dir" -maxdepth 1 -name '*.csproj' -type f | LC_ALL=C sort)
  [[ ${#projects[@]} -eq 1 ]] || die "$dir: expected exactly one .csproj beside $lock, found ${#projects[@]}"
  if ! dotnet msbuild "${projects[0]}" -nologo -t:ProcessFrameworkReferences -getItem:PackageDownload >"$work/download.json" 2>"$work/msbuild.err"; then
    cat "$work/msbuild.err" >&2
    die "dotnet msbuild ${projects[0]} -t:ProcessFrameworkReferences failed"
  fi
  # Versions are exact ranges, "[10.0.12]" or "[10.0.12, 10.0.12]"; several packs may share one item.
  jq -r '.Items.PackageDownload[]? | .Identity as $id | .Version | split(";")[]
         | ltrimstr("[") | rtrimstr("]") | split(",")[0] | gsub(" "; "") | [$id, ., ""] | @tsv' "$work/download.json"
done >"$work/downloaded.tsv"

# One line per package: NuGet ids are case-insensitive, so the key is the lower-cased id and the version;
# a lock-file line (which carries the sha512 to check) wins over a PackageDownload line for the same package.
cat "$work/locked.tsv" "$work/downloaded.tsv" \
  | awk -F '\t' -v OFS='\t' '{ print tolower($1), $2, ($3 == "" ? 1 : 0), $1, $3 }' \
  | LC_ALL=C sort -t $'\t' -k1,1 -k2,2 -k3,3n \
  | awk -F '\t' -v OFS='\t' '!seen[$1 FS $2]++ { print $4, $2, $5 }' >"$work/packages.tsv"

: >"$work/entries.jsonl"
while IFS=$'\t' read -r id version sha512; do
  lower_id="${id,,}"
  lower_version="${version,,}"
  nupkg="$cache/$lower_id/$lower_version/$lower_id.$lower_version.nupkg"
  [[ -f "$nupkg" ]] || die "$id $version is not in the NuGet cache ($nupkg): run ./build.sh and dotnet restore AutoReview.sln first"
  # The cache keeps the .nupkg's own sha512 beside it, and in .nupkg.metadata the package's content hash
  # (sha512 without the signature), which is what the lock file records: check both.
  actual="$(openssl dgst -sha512 -binary "$nupkg" | openssl base64 -A)"
  [[ "$actual" == "$(cat "$nupkg.sha512" 2>/dev/null)" ]] || die "$nupkg: its sha512 differs from $nupkg.sha512: the cache is damaged (delete $(dirname "$nupkg") and restore again)"
  metadata="$(dirname "$nupkg")/.nupkg.metadata"
  [[ -f "$metadata" ]] || die "$metadata is missing: restore again"
  if [[ -n "$sha512" && "$(jq -r .contentHash "$metadata")" != "$sha512" ]]; then
    die "$id $version in the cache has content hash $(jq -r .contentHash "$metadata"), the lock file says $sha512"
  fi
  # nixpkgs' fetchNupkg downloads from nuget.org unless an entry has a url.
  source="$(jq -r '.source // ""' "$metadata")"
  [[ "$source" == https://api.nuget.org/v3/index.json ]] \
    || die "$id $version came from '$source', not nuget.org: deps.json would need a url for it"
  sha256="$(openssl dgst -sha256 -binary "$nupkg" | openssl base64 -A)"
  jq -nc --arg pname "$id" --arg version "$version" --arg hash "sha256-$sha256" \
    '{pname: $pname, version: $version, hash: $hash}' >>"$work/entries.jsonl"
done <"$work/packages.tsv"

# Sorted case-insensitively by name, then by version: the order nixpkgs' nuget-to-json writes.
jq -s 'sort_by((.pname | ascii_downcase), .version)' "$work/entries.jsonl" >"$work/deps.json"
if [[ "$output" == "-" ]]; then
  cat "$work/deps.json"
else
  mv -f "$work/deps.json" "$output"
  echo "update-deps.sh: wrote $(jq length "$output") packages to $output" >&2
fi
