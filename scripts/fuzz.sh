#!/usr/bin/env bash
# Runs spanflow's fuzz targets (fuzz/) with cargo-fuzz (libFuzzer), each for a stated time.
# Seeds are copied at fuzz time from testdata/ (the OpenMetrics conformance suite, real
# Tempo and Collector captures, the example configs) and from fuzz/regressions/<target>/
# (constructed seeds, seed-*, and every crash found so far) into fuzz/corpus/, which is not
# committed. A crash is saved under fuzz/artifacts/<target>/: copy it to
# fuzz/regressions/<target>/ so tests/fuzz_regressions.rs replays it in every test run.
#
#   scripts/fuzz.sh [seconds per target, default 300] [target ...]
#
# FUZZ_JOBS=N runs N targets at once (default 1), each at nice 19 so other work goes first.
# FUZZ_QUICK=1 builds unoptimised and without AddressSanitizer (3 minutes rather than 8 to
# build here; slower to run): for short runs that check every target runs clean, as CI's.
# Each run's last libFuzzer status line and totals go to target/fuzz-stats.tsv (target,
# seconds asked, CPU seconds used, executions, coverage edges, features, corpus size, crashes); the script
# fails when any target crashed.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked --version 0.13.1`). cargo-fuzz passes
# nightly-only -Z flags; on a stable toolchain RUSTC_BOOTSTRAP=1 lets stable accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"; shift || true
all=(expfmt config tempo_status discovery prometheus_answer canary_trace web_config)
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
jobs="${FUZZ_JOBS:-1}"
data=testdata
command -v cargo-fuzz >/dev/null || { echo "scripts/fuzz.sh: cargo install cargo-fuzz --locked --version 0.13.1 first" >&2; exit 1; }

seed() { # target, files...
  local dir="fuzz/corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "$dir/$(echo "$f" | md5sum | cut -c1-16)"; done
  return 0
}
seed expfmt $(find "$data/conformance/openmetrics" -type f) \
  $(find "$data/fixtures" -name 'metrics*.txt' -size -200k | head -200)
seed config examples/spanflow.yml $(find "$data/fixtures" -name 'config.yaml')
seed tempo_status $(find "$data/fixtures" \( -name 'status_*' -o -name '*ring*.json' -o -name 'ready.txt' \) -size -100k | grep -v headers)
seed web_config $(find "$data" -name 'web*.yml' -size -100k)
for t in "${all[@]}"; do seed "$t" $(find "fuzz/regressions/$t" -type f ! -name .keep); done

export RUSTC_BOOTSTRAP=1
build=(-O)
[ "${FUZZ_QUICK:-0}" = 1 ] && build=(--dev -s none)
(cd fuzz && cargo fuzz build "${build[@]}" 2>&1 | tail -3)
stats=target/fuzz-stats.tsv
mkdir -p target/fuzz-logs
: > "$stats"

run() { # target
  local t="$1" log="target/fuzz-logs/$1.log"
  local TIMEFORMAT='cpu_seconds %U %S' cpu
  { time (cd fuzz && nice -n 19 cargo fuzz run "${build[@]}" "$t" "corpus/$t" -- -max_total_time="$seconds" \
     -rss_limit_mb=2048 -print_final_stats=1 >"../$log" 2>&1 || true) ; } 2>"$log.cpu"
  cpu=$(awk '{ printf "%d", $2 + $3 }' "$log.cpu")
  local last runs crashes
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  crashes=$(find "fuzz/artifacts/$t" -type f 2>/dev/null | wc -l)
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$seconds" "$cpu" "${runs:-0}" \
    "$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")" \
    "$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")" \
    "$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")" "$crashes" >>"$stats"
  echo "== $t: ${seconds}s: $last"
}
running=0
for t in "${targets[@]}"; do
  run "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
done
wait
printf 'target\tseconds\tcpu_seconds\texecutions\tcov\tft\tcorpus\tcrashes\n'; cat "$stats"
if awk -F'\t' '$8 > 0 { bad = 1 } END { exit !bad }' "$stats"; then
  echo "scripts/fuzz.sh: crashes found; see fuzz/artifacts/ and target/fuzz-logs/" >&2
  exit 1
fi
