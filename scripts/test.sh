#!/usr/bin/env bash
# Runs spanflow's whole test suite, installing what the tests need when it is missing:
# Prometheus and promtool (Debian prometheus) and Alertmanager with amtool (Debian
# prometheus-alertmanager) for the rule checks, rule unit tests and the alerting end-to-end
# test, python3 for the benchmark-corpus generators, and Chromium with chromedriver (Debian
# chromium, chromium-driver) for the status-page browser test. Fails — never skips — when a
# required tool cannot be had.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -f ../shared/DESIGN.md ] || { echo "scripts/test.sh: ../shared is missing: the tests read fixtures from it" >&2; exit 1; }

missing=()
{ command -v promtool >/dev/null 2>&1 && [ -x /usr/bin/prometheus ]; } || missing+=(prometheus)
{ command -v amtool >/dev/null 2>&1 && [ -x /usr/bin/prometheus-alertmanager ]; } || missing+=(prometheus-alertmanager)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "scripts/test.sh: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "scripts/test.sh: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi
for tool in promtool amtool python3 cargo /usr/bin/prometheus /usr/bin/prometheus-alertmanager /usr/bin/chromium /usr/bin/chromedriver; do
  command -v "$tool" >/dev/null 2>&1 || { echo "scripts/test.sh: $tool is required and not installed" >&2; exit 1; }
done

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
