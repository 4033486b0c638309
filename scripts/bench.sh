#!/usr/bin/env bash
# Criterion benchmarks: the parser on the 10 MB corpora made by testdata/bench's generators (into
# target/ first), and deriving, rendering and page reading at 1,000 targets (benches/serve.rs).
# Usage: scripts/bench.sh [criterion filter]
#        scripts/bench.sh --callgrind   instructions of three full parses of each 10 MB corpus
#                                       (valgrind; files in target/callgrind/ for callgrind_annotate)
set -euo pipefail
cd "$(dirname "$0")/.."
data=testdata/bench
out=target/bench-corpora
mkdir -p "$out"
[ -f "$out/synth-10m.prom" ] || (cd "$data" && python3 gen_corpus.py --target-bytes 10000000 --out "$OLDPWD/$out/synth-10m.prom" >/dev/null)
[ -f "$out/real-110x.prom" ] || (cd "$data" && python3 scale_real.py tempo-2.7.2-metrics.txt "$OLDPWD/$out/real-110x.prom" 110 >/dev/null)
if [ "${1:-}" = "--callgrind" ]; then
  command -v valgrind >/dev/null || { echo "scripts/bench.sh: --callgrind needs valgrind (Debian: apt-get install -y valgrind)" >&2; exit 1; }
  bin=$(cargo bench --bench parse --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$/\1/p')
  [ -x "$bin" ] || { echo "scripts/bench.sh: could not find the parse bench binary" >&2; exit 1; }
  mkdir -p target/callgrind
  for corpus in synth-10m real-110x; do
    SPANFLOW_CALLGRIND_CORPUS="$out/$corpus.prom" valgrind --tool=callgrind \
      --callgrind-out-file="target/callgrind/$corpus.out" "$bin" 2>&1 >/dev/null |
      sed -n "s/.*Collected : \([0-9]*\)/$corpus: \1 instructions (three full parses, with reading the file)/p"
  done
  exit 0
fi
SPANFLOW_BENCH_CORPORA="$out" cargo bench --bench parse --bench serve -- "${@}"
