#!/usr/bin/env bash
# Builds pkg/: the core compiled to wasm32-unknown-unknown with the wasm-bindgen
# binding, as an ES module for browsers (pkg/web) and a CommonJS build for Node
# (pkg/node), shrunk with npm binaryen's wasm-opt (never Debian's wasm-opt 108).
set -euo pipefail
cd "$(dirname "$0")/.."
# Two builds, each where it pays:
# - pkg/web (the page, web consoles): size. opt-level "s" and wasm-opt -Oz.
#   ("z" is 6% smaller and a quarter slower; per-crate levels do not separate
#   the hot path, whose generic code is instantiated in this crate.)
# - pkg/node (Node, pipelines, the bench): speed. opt-level 3, wasm SIMD
#   (memchr, simdutf8 and aho-corasick have simd128 paths; Node has had it
#   since 16) and wasm-opt -O3: 1.3-1.7x the size build, for 6% more bytes.
# Both without the embedded ESCU pack and manifest: they ship beside the
# module (escu-*.json, read by index.js), which keeps the module smaller.
wasm_opt_flags="--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue"
# build NAME CARGO_OPT_LEVEL WASM_OPT_LEVEL RUSTFLAGS: the raw module in
# target/wasm-NAME, its optimised body in target/schtasks_detect.NAME.wasm.
build() {
  local name=$1 level=$2 opt_level=$3 flags=$4
  CARGO_TARGET_DIR=target/wasm-$name RUSTFLAGS="$flags" CARGO_PROFILE_RELEASE_OPT_LEVEL=$level \
    cargo build --lib --release --target wasm32-unknown-unknown --no-default-features --features wasm,evtx
  local raw=target/wasm-$name/wasm32-unknown-unknown/release/schtasks_detect.wasm
  local opt=target/schtasks_detect.$name.wasm
  if [ ! -f "$opt" ] || [ "$raw" -nt "$opt" ]; then
    local tmp
    tmp=$(mktemp -d)
    wasm-bindgen --target web --out-dir "$tmp" --remove-name-section --remove-producers-section "$raw"
    if [ -x node_modules/.bin/wasm-opt ]; then
      # shellcheck disable=SC2086
      node_modules/.bin/wasm-opt "$opt_level" $wasm_opt_flags --enable-simd \
        "$tmp/schtasks_detect_bg.wasm" -o "$opt.in"
    else
      echo "build-wasm: npm binaryen missing (make setup); pkg/ is not wasm-opt'ed" >&2
      cp "$tmp/schtasks_detect_bg.wasm" "$opt.in"
    fi
    mv "$opt.in" "$opt"
    rm -rf "$tmp"
  fi
}
build size s -Oz ""
build speed 3 -O3 "-C target-feature=+simd128"
rm -rf pkg/web pkg/node
# Bind the original module (its custom sections tell wasm-bindgen what to
# generate), then ship the optimised body under the generated glue.
wasm-bindgen --target web --out-dir pkg/web --remove-name-section --remove-producers-section target/wasm-size/wasm32-unknown-unknown/release/schtasks_detect.wasm
wasm-bindgen --target nodejs --out-dir pkg/node --remove-name-section --remove-producers-section target/wasm-speed/wasm32-unknown-unknown/release/schtasks_detect.wasm
cp target/schtasks_detect.size.wasm pkg/web/schtasks_detect_bg.wasm
cp target/schtasks_detect.speed.wasm pkg/node/schtasks_detect_bg.wasm
# The raw-exports typing wasm-bindgen emits for `web` uses `any`; the public
# surface must not.
sed -i 's/: any/: unknown/g' pkg/web/schtasks_detect.d.ts pkg/node/schtasks_detect.d.ts
# A restart hook in each glue: a new instance from the compiled module (src/js/guard.js).
cat >> pkg/web/schtasks_detect.js <<'JS'

/** Re-creates the instance from the compiled module, after a trap (see index.js). */
export function __restart() {
    const module = wasmModule;
    wasm = undefined;
    initSync({ module });
}
JS
cat >> pkg/node/schtasks_detect.js <<'JS'

/** Re-creates the instance from the compiled module, after a trap (see index.js). */
exports.__restart = function () {
    wasmInstance = new WebAssembly.Instance(wasmModule, __wbg_get_imports());
    wasm = wasmInstance.exports;
    cachedDataViewMemory0 = null;
    cachedUint8ArrayMemory0 = null;
    wasm.__wbindgen_start();
};
JS
grep -q 'cachedUint8ArrayMemory0 = null' pkg/node/schtasks_detect.js
{
  echo "import * as glue from './schtasks_detect.js';"
  echo "import glueInit from './schtasks_detect.js';"
  echo "import { parse as parseYaml } from './yaml.js';"
  cat src/js/guard.js
  cat <<'JS'

/** Instantiates the module, then gives it the ESCU rules fetched from beside it. */
export default async function init(input) {
  const exports = await glueInit(input);
  const text = (name) => fetch(new URL(name, import.meta.url)).then((r) => {
    if (!r.ok) throw new Error(`${name}: HTTP ${r.status}`);
    return r.text();
  });
  const [pack, manifest] = await Promise.all([text('escu-pack.json'), text('escu-manifest.json')]);
  guarded(() => giveRules(pack, manifest));
  return exports;
}
JS
  echo "export { Detector, Cutter, detect, detectBytes, toCsv, rule, manifest, packRules, restarts, __trap };"
} > pkg/web/index.js
{
  echo "'use strict';"
  echo "const glue = require('./schtasks_detect.js');"
  echo "const { parse: parseYaml } = require('./yaml.js');"
  cat src/js/guard.js
  cat <<'JS'

// The ESCU rules, from beside the package.
{
  const { readFileSync } = require('node:fs');
  const { join } = require('node:path');
  giveRules(readFileSync(join(__dirname, 'escu-pack.json'), 'utf8'), readFileSync(join(__dirname, 'escu-manifest.json'), 'utf8'));
}
JS
  echo "module.exports = { Detector, Cutter, detect, detectBytes, toCsv, rule, manifest, packRules, restarts, __trap };"
} > pkg/node/index.js
# The YAML reader for user rules (npm's `yaml`), one minified file per package.
node_modules/.bin/esbuild src/js/yaml-entry.mjs --bundle --minify --log-level=warning --format=esm --outfile=pkg/web/yaml.js
node_modules/.bin/esbuild src/js/yaml-entry.mjs --bundle --minify --log-level=warning --format=cjs --platform=node --outfile=pkg/node/yaml.js
for t in web node; do cp node_modules/yaml/LICENSE pkg/$t/yaml.LICENSE; done
# The rules beside each package, without their indentation.
for t in web node; do
  node -e 'const fs = require("fs"); for (const [from, to] of [["rules/escu/pack.json", "escu-pack.json"], ["rules/escu/manifest.json", "escu-manifest.json"]]) fs.writeFileSync(process.argv[1] + "/" + to, JSON.stringify(JSON.parse(fs.readFileSync(from, "utf8"))));' "pkg/$t"
done
for t in web node; do
  cat > pkg/$t/index.d.ts <<'TS'
export * from './schtasks_detect.js';
TS
  [ $t = web ] && echo "export { default } from './schtasks_detect.js';" >> pkg/web/index.d.ts
  echo "/** How many times the instance was re-created after a trap. */
export function restarts(): number;" >> pkg/$t/index.d.ts
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
cat > pkg/package.json <<JSON
{
  "name": "schtasks-detect",
  "version": "$version",
  "description": "Splunk ESCU 'Schtasks scheduling job on remote system' (T1053.005) for EVTX/XML/JSON/CSV logs, in WebAssembly",
  "license": "Apache-2.0",
  "exports": {
    ".": {
      "types": "./web/index.d.ts",
      "node": "./node/index.js",
      "default": "./web/index.js"
    }
  },
  "types": "./web/index.d.ts",
  "files": ["web", "node"]
}
JSON
ls -l pkg/web/schtasks_detect_bg.wasm
