#!/usr/bin/env bash
# Builds pkg/: the core compiled to wasm32-unknown-unknown with the wasm-bindgen
# binding, as an ES module for browsers (pkg/web) and a CommonJS build for Node
# (pkg/node), shrunk with npm binaryen's wasm-opt (never Debian's wasm-opt 108).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --lib --release --target wasm32-unknown-unknown --features wasm
raw=target/wasm32-unknown-unknown/release/schtasks_detect.wasm
opt=target/schtasks_detect.opt.wasm
if [ ! -f "$opt" ] || [ "$raw" -nt "$opt" ]; then
  tmp=$(mktemp -d)
  wasm-bindgen --target web --out-dir "$tmp" --remove-name-section --remove-producers-section "$raw"
  if [ -x node_modules/.bin/wasm-opt ]; then
    node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$tmp/schtasks_detect_bg.wasm" -o "$opt.in"
  else
    echo "build-wasm: npm binaryen missing (make setup); pkg/ is not wasm-opt'ed" >&2
    cp "$tmp/schtasks_detect_bg.wasm" "$opt.in"
  fi
  mv "$opt.in" "$opt"
  rm -rf "$tmp"
fi
rm -rf pkg/web pkg/node
# Bind the original module (its custom sections tell wasm-bindgen what to
# generate), then ship the optimised body under the generated glue.
wasm-bindgen --target web --out-dir pkg/web --remove-name-section --remove-producers-section "$raw"
wasm-bindgen --target nodejs --out-dir pkg/node --remove-name-section --remove-producers-section "$raw"
cp "$opt" pkg/web/schtasks_detect_bg.wasm
cp "$opt" pkg/node/schtasks_detect_bg.wasm
# The raw-exports typing wasm-bindgen emits for `web` uses `any`; the public
# surface must not.
sed -i 's/: any/: unknown/g' pkg/web/schtasks_detect.d.ts pkg/node/schtasks_detect.d.ts
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
cat > pkg/package.json <<JSON
{
  "name": "schtasks-detect",
  "version": "$version",
  "description": "Splunk ESCU 'Schtasks scheduling job on remote system' (T1053.005) for EVTX/XML/JSON/CSV logs, in WebAssembly",
  "license": "Apache-2.0",
  "exports": {
    ".": {
      "types": "./web/schtasks_detect.d.ts",
      "node": "./node/schtasks_detect.js",
      "default": "./web/schtasks_detect.js"
    }
  },
  "types": "./web/schtasks_detect.d.ts",
  "files": ["web", "node"]
}
JSON
ls -l pkg/web/schtasks_detect_bg.wasm
