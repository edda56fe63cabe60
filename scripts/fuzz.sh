#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer, nightly): each target for
# FUZZ_SECONDS (default 600), seeded from ../shared/data and tests/fixtures.
# A crash, a hang (over 1 s on an input of at most 64 KiB; EVTX: a header and two
# chunks) or an out-of-memory
# (over 2 GiB) stops the target and leaves the input in fuzz/artifacts/<target>/.
# Usage: scripts/fuzz.sh [TARGET...]    Summary: fuzz/summary.txt
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-600}
data=../shared/data
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
rustup toolchain list | grep -q nightly || rustup toolchain install nightly --profile minimal

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(container json_reader xml_reader csv_reader evtx_reader gzip_reader
  filter_parser spl_parser detect_values fluent_bit)

seed_files() { # name pattern...: copies the first 64 KiB of matching files
  local dir=fuzz/corpus/$1; shift
  mkdir -p "$dir"
  [ -d "$data" ] || return 0
  local cut=65536
  [ "$(basename "$dir")" = evtx_reader ] && cut=$((4096 + 2 * 65536))
  find "$data" tests/fixtures -type f \( "$@" \) -print0 2>/dev/null | while IFS= read -r -d '' f; do
    head -c "$cut" "$f" > "$dir/seed-$(printf '%s' "$f" | sha1sum | cut -c1-12)"
  done
}

seed() {
  local t=$1 dir=fuzz/corpus/$1
  [ -d "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ] && return 0
  mkdir -p "$dir"
  case $t in
    container) seed_files "$t" -name '*.evtx' -o -name '*.json' -o -name '*.xml' -o -name '*.csv' -o -name '*.txt' -o -name '*.ndjson' ;;
    json_reader) seed_files "$t" -name '*.json' -o -name '*.ndjson' -o -name '*.txt' ;;
    xml_reader) seed_files "$t" -name '*.xml' ;;
    csv_reader) seed_files "$t" -name '*.csv' ;;
    evtx_reader) seed_files "$t" -name '*.evtx' ;;
    gzip_reader)
      seed_files "$t" -name '*.json' -o -name '*.xml' -o -name '*.csv'
      for f in "$dir"/seed-*; do gzip -c "$f" | tail -c +3 > "$f.gz-body"; rm "$f"; done ;;
    filter_parser)
      printf '%s' 'NOT user=SYSTEM dest IN (WKS*, "srv 01") count>2' > "$dir/a"
      printf '%s' '(a=1 OR b!="x*y") AND NOT (c<=3 d>=4)' > "$dir/b" ;;
    spl_parser)
      python3 -c 'import json;print(json.load(open("rules/schtasks_scheduling_job_on_remote_system.json"))["search"])' > "$dir/seed" ;;
    detect_values|fluent_bit)
      find "$data" tests/fixtures -type f \( -name '*.json' -o -name '*.txt' -o -name '*.ndjson' \) -print0 2>/dev/null |
        while IFS= read -r -d '' f; do
          i=0
          head -n 20 "$f" | while IFS= read -r line; do
            i=$((i + 1))
            [ ${#line} -gt 2 ] || continue
            if [ "$t" = fluent_bit ]; then printf '%s' "$line" > "$dir/$(printf '%s' "$line" | sha1sum | cut -c1-12)"
            else printf '[%s]' "$line" > "$dir/$(printf '%s' "$line" | sha1sum | cut -c1-12)"; fi
          done
        done ;;
  esac
}

summary=fuzz/summary.txt
: > "$summary"
status=0
for t in "${targets[@]}"; do
  seed "$t"
  mkdir -p fuzz/logs "fuzz/artifacts/$t/spurious"
  # EVTX needs its 4 KiB header and whole 64 KiB chunks: two chunks' worth.
  max_len=65536
  [ "$t" = evtx_reader ] && max_len=$((4096 + 2 * 65536 + 1))
  echo "fuzz: $t for ${secs}s"
  # On a loaded machine libFuzzer can stop on a "timeout" that is only
  # starvation: a timeout whose input runs in under a second alone is set
  # aside (artifacts/<t>/spurious) and fuzzing resumes for the time left.
  start=$(date +%s) execs=0 rc=0 left=$secs segment=0
  while [ "$left" -gt 0 ]; do
    segment=$((segment + 1))
    log=fuzz/logs/$t.$segment.log
    cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- -max_total_time="$left" -timeout=1 \
      -max_len="$max_len" -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t/" > "$log" 2>&1
    rc=$?
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    execs=$((execs + ${n:-0}))
    left=$((secs - ($(date +%s) - start)))
    [ "$rc" = 0 ] && break
    found=$(ls -t fuzz/artifacts/$t/timeout-* 2>/dev/null | head -1)
    [ -n "$found" ] || break
    ms=$(cargo +nightly fuzz run "$t" "$found" -- -runs=3 2>&1 | sed -n 's/^Executed .* in \([0-9]*\) ms$/\1/p' | sort -n | tail -1)
    if [ -n "$ms" ] && [ "$ms" -lt 1000 ]; then
      echo "fuzz: $t: timeout $found runs in ${ms} ms alone: starvation, resuming"
      mv "$found" "fuzz/artifacts/$t/spurious/"
      rc=0
    else
      break
    fi
  done
  cov=$(grep -ho 'cov: [0-9]*' fuzz/logs/$t.*.log | tail -1)
  ft=$(grep -ho 'ft: [0-9]*' fuzz/logs/$t.*.log | tail -1)
  corpus=$(ls "fuzz/corpus/$t" | wc -l)
  found=$(ls "fuzz/artifacts/$t" | grep -vc spurious)
  spurious=$(ls "fuzz/artifacts/$t/spurious" | wc -l)
  echo "$t: exit $rc, $execs executions in $(($(date +%s) - start)) s, ${cov:-cov: ?} edges, ${ft:-ft: ?} features, corpus $corpus, findings $found (set aside as starvation: $spurious)" | tee -a "$summary"
  [ "$rc" = 0 ] || status=1
done
exit $status
