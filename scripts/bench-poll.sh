#!/usr/bin/env bash
# Polling cost: a release spanflow polls 10, 100 and 1,000 simulated Tempo targets on
# 127.0.0.1 (every endpoint of the real Tempo 2.7.2 capture, counters advancing) every 15 s,
# for a bounded time each, and reports RSS, CPU % of one core, and CPU per poll including
# HTTP (spanflow's CPU time over the polls it made). Probes are off (the capture's ring
# points nowhere here). Results go to docs/benchmarks.md by hand.
#
#   scripts/bench-poll.sh [seconds per fleet, default 120] [fleet sizes, default "10 100 1000"]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-120}"; sizes="${2:-10 100 1000}"
command -v python3 >/dev/null || { echo "scripts/bench-poll.sh: python3 is required" >&2; exit 1; }
cargo build --release --locked --quiet
for n in $sizes; do
  python3 scripts/fleet.py --spanflow target/release/spanflow --role tempo --interval 15s \
    --flapping 0 --targets "$n" --duration "$duration" --sample-every 10 | grep "^fleet: RSS\|^fleet: .* scrapes over"
done
