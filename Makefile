# make run    set up, build, and serve the page on 127.0.0.1 (PORT, default 8080)
# make test   set up, build everything, run every test (what .ci/run calls)
# make bench  throughput: native, wasm (detectBytes, Detector), WASI, Fluent Bit filter
# make rules  regenerate rules/escu (pack, manifest, NOTICE) from ../shared/escu
# make fuzz   coverage-guided fuzzing, each target FUZZ_SECONDS (default 600); not in make test
PORT ?= 8080
WASI := target/wasm32-wasip1/release/schtasks-detect.wasm
FILTER := target/wasm32-unknown-unknown/release/schtasks_detect_fluent_bit.wasm

.PHONY: rules fuzz run test bench setup setup-test fluent-bit build wasm page wasi filter lint clean

run: setup build wasm page
	node www/serve.mjs $(PORT)

test: setup-test build wasm page wasi filter fluent-bit lint
	cargo test --release --workspace
	# The rules given at run time, as the wasm package does (no embedded pack).
	cargo test --release --lib --no-default-features --features evtx ruleset::
	node --test --test-concurrency=1 tests/wasm/ tests/pipelines/ tests/fluent-bit/ tests/browser/

bench: setup build wasm page wasi filter
	cargo bench --bench throughput
	# The EVTX floor against the engine in wasm, built as pkg/node is.
	CARGO_PROFILE_RELEASE_OPT_LEVEL=3 RUSTFLAGS="-C target-feature=+simd128" CARGO_TARGET_DIR=target/wasm-bench \
		cargo build --release --target wasm32-wasip1 --example evtx_floor
	node benches/wasm.mjs

rules:
	cargo run --release --bin escu-pack -- ../shared/escu rules/escu

fuzz:
	./scripts/fuzz.sh

setup:
	./scripts/setup.sh

# Fluent Bit from ../shared/vendor, built once into ~/.cache (see the script);
# its path, or why its tests are skipped, for tests/fluent-bit/.
fluent-bit:
	mkdir -p target && ./scripts/fluent-bit.sh > target/fluent-bit.txt

setup-test:
	./scripts/setup.sh --test

build:
	cargo build --release --bin schtasks-detect

wasm:
	./scripts/build-wasm.sh

# The page's npm libraries (uPlot, d3-force) and the saved report's script, into www/vendor.
page:
	./scripts/build-page.sh

wasi:
	CARGO_PROFILE_RELEASE_OPT_LEVEL=s cargo build --release --target wasm32-wasip1 --bin schtasks-detect

# The filter runs in Fluent Bit's interpreter (WAMR), where opt-level 3 is
# 20-30% faster than "s" for the same size.
filter:
	cargo build --release -p schtasks-detect-fluent-bit --target wasm32-unknown-unknown

lint:
	cargo fmt --all --check
	cargo clippy --release --workspace --all-targets -- -D warnings
	cargo clippy --release --lib --target wasm32-unknown-unknown --no-default-features --features wasm,evtx -- -D warnings

clean:
	cargo clean
	rm -rf pkg test-output www/vendor
