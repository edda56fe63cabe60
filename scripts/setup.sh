#!/usr/bin/env bash
# Installs what building (and, with --test, testing) needs, once; each step is
# skipped when done. Needs: rustup, cargo, node/npm. With --test: Chromium for
# the browser tests comes from apt and needs root (without it those tests say
# they are skipped), and PyPI's wasmtime is a second WASI runtime.
set -euo pipefail
for_tests=false
[ "${1:-}" = "--test" ] && for_tests=true
cd "$(dirname "$0")/.."

want_bindgen=$(sed -n 's/^wasm-bindgen = { version = "=\([0-9.]*\)".*/\1/p' Cargo.toml)

# A C compiler: the native command's allocator (mimalloc) is built from C.
if ! command -v cc >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: apt-get install gcc (mimalloc, the native allocator)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
  else
    echo "setup: a C compiler (cc) is needed: sudo apt-get install gcc" >&2
    exit 1
  fi
fi

installed_targets=$(rustup target list --installed 2>/dev/null || true)
for t in wasm32-unknown-unknown wasm32-wasip1; do
  if ! grep -qx "$t" <<<"$installed_targets"; then
    echo "setup: rustup target add $t"
    rustup target add "$t"
  fi
done

have_bindgen=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have_bindgen" != "$want_bindgen" ]; then
  # Must equal the crate's version exactly; takes ~7 minutes. (--locked fails here.)
  echo "setup: cargo install wasm-bindgen-cli --version $want_bindgen (was: ${have_bindgen:-none})"
  cargo install wasm-bindgen-cli --version "$want_bindgen"
fi

if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/esbuild ] || [ ! -d node_modules/yaml ] || [ ! -d node_modules/uplot ] || [ ! -d node_modules/d3-force ] || [ ! -x node_modules/.bin/tsc ] || [ ! -d node_modules/playwright-core ]; then
  echo "setup: npm ci (binaryen wasm-opt, esbuild and yaml for the package, typescript, playwright-core)"
  npm ci --no-audit --no-fund
fi

$for_tests || exit 0

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: apt-get install chromium (browser tests)"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: WARNING: chromium could not be installed; browser tests will be skipped"
  else
    echo "setup: NOTE: /usr/bin/chromium is missing and installing it needs root" \
         "(sudo apt-get install chromium); browser tests will be skipped"
  fi
fi

if ! python3 -c 'import dask.distributed' 2>/dev/null; then
  echo "setup: pip install dask[distributed] (the partial results' distributed test)"
  python3 -m pip install --quiet --user 'dask[distributed]' 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages 'dask[distributed]' 2>/dev/null \
    || echo "setup: WARNING: PyPI dask unavailable; the Dask test will say it is skipped"
fi

if ! python3 -c 'import wasmtime' 2>/dev/null; then
  echo "setup: pip install wasmtime (second WASI runtime for the pipeline tests)"
  python3 -m pip install --quiet --user wasmtime 2>/dev/null || python3 -m pip install --quiet wasmtime \
    || echo "setup: WARNING: PyPI wasmtime unavailable; WASI tests run under node:wasi only"
fi
