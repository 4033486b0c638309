#!/usr/bin/env bash
# Criterion benchmarks: the parser on the 10 MB corpora of ../shared/bench (generated into
# target/ first), and deriving, rendering and page reading at 1,000 targets (benches/serve.rs).
# Usage: scripts/bench.sh [criterion filter]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=../shared/bench
[ -d "$shared" ] || { echo "scripts/bench.sh: $shared is missing (clone shared/ beside this checkout)" >&2; exit 1; }
out=target/bench-corpora
mkdir -p "$out"
[ -f "$out/synth-10m.prom" ] || (cd "$shared" && python3 gen_corpus.py --target-bytes 10000000 --out "$OLDPWD/$out/synth-10m.prom" >/dev/null)
[ -f "$out/real-110x.prom" ] || (cd "$shared" && python3 scale_real.py tempo-2.7.2-metrics.txt "$OLDPWD/$out/real-110x.prom" 110 >/dev/null)
SPANFLOW_BENCH_CORPORA="$out" cargo bench --bench parse --bench serve -- "${@}"
