#!/usr/bin/env bash
# Soak test: spanflow polls 200 simulated Collector targets on 127.0.0.1 (a third of them
# flapping between good pages, HTTP 500, garbage and answers slower than the timeout) for
# a set time, while a scraper reads its /metrics every second. Prints RSS, CPU and
# /metrics latency over time and fails when RSS grows after warm-up (the first third).
#
#   scripts/soak.sh [duration seconds, default 600] [targets, default 200] [csv file]
#
# SOAK_BINARY=path skips the release build (scripts/test.sh runs a short soak on the
# debug binary the tests just built).
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-600}"; targets="${2:-200}"; csv="${3:-}"
command -v python3 >/dev/null || { echo "scripts/soak.sh: python3 is required" >&2; exit 1; }
binary="${SOAK_BINARY:-}"
if [ -z "$binary" ]; then
  cargo build --release --locked --quiet
  binary=target/release/spanflow
fi
exec python3 scripts/fleet.py --spanflow "$binary" --duration "$duration" --targets "$targets" \
  ${csv:+--csv "$csv"}
