#!/usr/bin/env bash
# Serving under load: a release spanflow polls 1,000 simulated Tempo targets every 15 s
# (scripts/fleet.py) while wrk, a second process, asks for /metrics at ~500 requests/s for
# 30 s after warm-up (scripts/wrk-pace.lua: four connections, 7 ms between requests each).
# Prints wrk's latency distribution and the fleet's CPU and RSS. Loopback only, bounded.
# Results go to docs/benchmarks.md by hand.
#
#   scripts/bench-serve.sh [seconds of wrk load, default 30]
set -euo pipefail
cd "$(dirname "$0")/.."
load="${1:-30}"
command -v python3 >/dev/null || { echo "scripts/bench-serve.sh: python3 is required" >&2; exit 1; }
command -v wrk >/dev/null || { echo "scripts/bench-serve.sh: wrk is required (Debian: apt-get install -y wrk)" >&2; exit 1; }
cargo build --release --locked --quiet
python3 scripts/fleet.py --spanflow target/release/spanflow --role tempo --interval 15s \
  --flapping 0 --targets 1000 --duration 120 --sample-every 10 --wrk "$load"
