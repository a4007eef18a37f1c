# The rootfs spec as Nix sees it: src/Bundle/rootfs-spec.json, read with builtins.fromJSON.
# That JSON file is the single source of truth for what the embedded rootfs holds; the C# builder
# (`auto-review bundle build --spec`) reads the same file. Nixpkgs-free, so it evaluates offline:
#
#   nix-instantiate --eval --strict --json nix/rootfs-spec.nix
#
# tests/Nix.Tests proves that this evaluation equals the spec as the C# builder parses it.
let
  spec = builtins.fromJSON (builtins.readFile ../src/Bundle/rootfs-spec.json);
in
if spec.schemaVersion or null == 1 then
  spec
else
  throw "src/Bundle/rootfs-spec.json: schemaVersion ${builtins.toJSON (spec.schemaVersion or null)} is not supported by nix/ (expected 1)"
