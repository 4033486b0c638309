#!/usr/bin/env bash
# Soak test: spanflow polls 200 simulated Collector targets on 127.0.0.1 (a third of them
# flapping between good pages, HTTP 500, garbage and answers slower than the timeout) for
# a set time, while a scraper reads its /metrics every second. Prints RSS, CPU and
# /metrics latency over time and fails when RSS grows after warm-up (the first third).
#
#   scripts/soak.sh [duration seconds, default 600] [targets, default 200] [csv file]
#
# The churn soak: 500 Collector instances discovered through a local dnsmasq (refreshed
# every 5 s), 10 % of them replaced every minute (every quarter of the run when it is
# shorter than 5 minutes), a third flapping, and a canary every second to a fake entry that
# gives the traces back. Besides memory, CPU and /metrics it fails when the instances with
# spanflow_target_* series are not exactly the instances discovered, at any scrape.
#
#   scripts/soak.sh --churn [duration seconds, default 1800] [csv file]
#
# SOAK_BINARY=path skips the release build (scripts/test.sh runs short soaks on the debug
# binary the tests just built).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v python3 >/dev/null || { echo "scripts/soak.sh: python3 is required" >&2; exit 1; }
churn=false
if [ "${1:-}" = "--churn" ]; then churn=true; shift; fi
binary="${SOAK_BINARY:-}"
if [ -z "$binary" ]; then
  cargo build --release --locked --quiet
  binary=target/release/spanflow
fi
if $churn; then
  duration="${1:-1800}"; csv="${2:-}"
  # Short runs churn every quarter and use a 10 s window, so that the warm-up (the first
  # third) outlasts the window's filling.
  every=60 window=30s
  [ "$duration" -ge 300 ] || { every=$((duration / 4)); window=10s; }
  exec python3 scripts/fleet.py --spanflow "$binary" --duration "$duration" --targets 500 \
    --dns --churn 0.1 --churn-every "$every" --window "$window" --refresh 5s --flapping 0.33 --canary \
    ${csv:+--csv "$csv"}
fi
duration="${1:-600}"; targets="${2:-200}"; csv="${3:-}"
exec python3 scripts/fleet.py --spanflow "$binary" --duration "$duration" --targets "$targets" \
  ${csv:+--csv "$csv"}
