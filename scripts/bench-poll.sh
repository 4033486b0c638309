#!/usr/bin/env bash
# Polling cost: a release spanflow polls 10, 100 and 1,000 simulated Tempo targets on
# loopback (every endpoint of the real Tempo 2.7.2 capture, counters advancing) every 15 s,
# for a bounded time each, and reports RSS, CPU % of one core, and CPU per poll including
# HTTP (spanflow's CPU time over the polls it made). Probes are off (the capture's ring
# points nowhere here). Results go to docs/benchmarks.md by hand.
#
# With `dns` as the third argument, each fleet is one discovering target: a local dnsmasq
# (Debian dnsmasq-base) answers one name with an A record per instance, each instance on its
# own loopback address; with a fourth argument (a share, e.g. 0.1) that share of the
# instances is replaced every minute (the churn soak: RSS must stay flat).
#
# SCRAPE_EVERY (seconds, default 1) sets how often /metrics is scraped meanwhile: every
# second shows its latency under load; 15 is what a Prometheus scraping spanflow costs.
#
#   scripts/bench-poll.sh [seconds per fleet, default 120] [fleet sizes, default "10 100 1000"] [dns [churn]]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-120}"; sizes="${2:-10 100 1000}"; mode="${3:-}"; churn="${4:-0}"
command -v python3 >/dev/null || { echo "scripts/bench-poll.sh: python3 is required" >&2; exit 1; }
extra=()
if [ "$mode" = dns ]; then
  [ -x /usr/sbin/dnsmasq ] || { echo "scripts/bench-poll.sh: dns needs /usr/sbin/dnsmasq (Debian dnsmasq-base)" >&2; exit 1; }
  extra=(--dns --churn "$churn")
fi
cargo build --release --locked --quiet
for n in $sizes; do
  python3 scripts/fleet.py --spanflow target/release/spanflow --role tempo --interval 15s \
    --flapping 0 --targets "$n" --duration "$duration" --sample-every 10 --scrape-every "${SCRAPE_EVERY:-1}" "${extra[@]}" \
    | grep "^fleet: RSS\|^fleet: .* scrapes over\|^fleet: FAIL"
done
