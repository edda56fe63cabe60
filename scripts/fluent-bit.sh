#!/usr/bin/env bash
# Builds Fluent Bit from ../shared/vendor once, into a cache outside the clone,
# so that the tests can run the filter in the real engine (filter_wasm, WAMR).
# Later runs reuse the binary. Prints the binary's path on stdout when it is
# there; otherwise prints "skipped: <why>" (stdout, for the tests to say, and
# stderr) and exits 0: without ../shared or root the rest of the tests run.
#
# Cache: $SCHTASKS_DETECT_CACHE, else $XDG_CACHE_HOME/schtasks-detect, else
# ~/.cache/schtasks-detect. The recipe is ../shared/vendor/README.md's.
set -euo pipefail
cd "$(dirname "$0")/.."

version=5.1.1
archive=../shared/vendor/fluent-bit-$version-src.tar.xz
cache=${SCHTASKS_DETECT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/schtasks-detect}
root=$cache/fluent-bit-$version
binary=$root/build/bin/fluent-bit

skip() {
  echo "setup: Fluent Bit tests will be skipped: $*" >&2
  echo "skipped: $*"
  exit 0
}

if [ -x "$binary" ]; then
  echo "$binary"
  exit 0
fi
[ -f "$archive" ] || skip "$archive is missing (../shared/vendor is not beside this clone)"

packages=(cmake flex bison libyaml-dev libssl-dev libsqlite3-dev make gcc g++)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: apt-get install ${missing[*]} (to build Fluent Bit)" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null) \
      || skip "apt-get install ${missing[*]} failed"
  else
    skip "building it needs ${missing[*]} and installing them needs root (sudo apt-get install ${missing[*]})"
  fi
fi

echo "setup: building Fluent Bit $version into $root (once; about 3 minutes on 2 cores)" >&2
mkdir -p "$cache"
# Build beside the final place and move it in at the end, so that an
# interrupted build is never mistaken for a finished one.
work=$(mktemp -d "$cache/fluent-bit-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xJf "$archive" -C "$work"
src=$work/fluent-bit-$version
mkdir -p "$src/build"
(
  cd "$src/build"
  cmake .. -DCMAKE_BUILD_TYPE=Release -DFLB_MINIMAL=On -DFLB_WASM=On -DFLB_FILTER_WASM=On \
    -DFLB_IN_EXEC_WASI=On -DFLB_IN_TAIL=On -DFLB_IN_STDIN=On -DFLB_IN_DUMMY=On -DFLB_OUT_STDOUT=On \
    -DFLB_OUT_FILE=On -DFLB_EXAMPLES=Off -DFLB_SHARED_LIB=Off -DFLB_KAFKA=Off \
    -DFLB_USE_SIMDUTF=No -DFLB_UNICODE_ENCODER=Off -DFLB_PREFER_SYSTEM_LIB_SQLITE=On >"$work/cmake.log" 2>&1 \
    || { tail -30 "$work/cmake.log" >&2; exit 1; }
  make -j"$(nproc)" fluent-bit-bin >"$work/make.log" 2>&1 \
    || { tail -30 "$work/make.log" >&2; exit 1; }
) || skip "building Fluent Bit failed (its log's end is above)"
[ -x "$src/build/bin/fluent-bit" ] || skip "the build finished without bin/fluent-bit"
# Keep only what running needs: the binary (statically linked against its own libraries).
mkdir -p "$root/build/bin"
mv "$src/build/bin/fluent-bit" "$binary"
"$binary" --version >&2 || skip "the built binary does not run"
echo "$binary"
