#!/usr/bin/env bash
# Runs spanflow's fuzz targets (fuzz/) with cargo-fuzz (libFuzzer), each for a stated time.
# Seeds are copied at fuzz time from testdata/ (the OpenMetrics conformance suite, real
# Tempo and Collector captures, the example configs) into fuzz/corpus/, which is not
# committed. A crash is saved under fuzz/artifacts/<target>/: copy it to
# fuzz/regressions/<target>/ so tests/fuzz_regressions.rs replays it in every test run.
#
#   scripts/fuzz.sh [seconds per target, default 300] [target ...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo-fuzz passes nightly-only -Z flags;
# this machine has only a stable toolchain, so RUSTC_BOOTSTRAP=1 lets stable accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-300}"; shift || true
targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(expfmt config tempo_status)
data=testdata
command -v cargo-fuzz >/dev/null || { echo "scripts/fuzz.sh: cargo install cargo-fuzz first" >&2; exit 1; }

seed() { # target, files...
  local dir="fuzz/corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && cp "$f" "$dir/$(echo "$f" | md5sum | cut -c1-16)"; done
}
seed expfmt $(find "$data/conformance/openmetrics" -type f) \
  $(find "$data/fixtures" -name 'metrics*.txt' -size -200k | head -200)
seed config examples/spanflow.yml $(find "$data/fixtures" -name 'config.yaml')
seed tempo_status $(find "$data/fixtures" \( -name 'status_*' -o -name '*ring*.json' -o -name 'ready.txt' \) -size -100k | grep -v headers)

export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  echo "== $t: ${seconds}s"
  (cd fuzz && cargo fuzz run -O "$t" "corpus/$t" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | tail -5)
done
