#!/usr/bin/env bash
# Runs spanflow's whole test suite, installing what the tests need when it is missing:
# Prometheus and promtool (Debian prometheus) and Alertmanager with amtool (Debian
# prometheus-alertmanager) for the rule checks, rule unit tests and the alerting end-to-end
# test, python3 for the benchmark-corpus generators, Chromium with chromedriver (Debian
# chromium, chromium-driver) for the status-page browser test, dnsmasq (Debian dnsmasq-base:
# the server alone, no system service) for the DNS discovery tests, jsonnet for the mixin,
# systemd-analyze (Debian systemd) for the unit, kubectl (Debian kubernetes-client) for the
# kustomize base, ip and tc (Debian iproute2; the tests run as root) for the network-namespace
# tests, cargo-deny (from crates.io) for the licence, ban, source and advisory
# checks, cargo-deb and kubernetes-validate (crates.io, PyPI) for the package and manifests,
# cargo-fuzz (crates.io) for the fuzz targets. Fails — never skips — when a required tool
# cannot be had. After the tests, a 30 s soak (scripts/soak.sh) checks that spanflow's memory
# stays flat against 200 targets, a third of them flapping, a 60 s churn soak that
# discovered instances come and go without leaving series behind, and every fuzz target
# runs for 20 s.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
{ command -v promtool >/dev/null 2>&1 && [ -x /usr/bin/prometheus ]; } || missing+=(prometheus)
{ command -v amtool >/dev/null 2>&1 && [ -x /usr/bin/prometheus-alertmanager ]; } || missing+=(prometheus-alertmanager)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
[ -x /usr/sbin/dnsmasq ] || missing+=(dnsmasq-base)
command -v jsonnet >/dev/null 2>&1 || missing+=(jsonnet)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
{ command -v ip >/dev/null 2>&1 && command -v tc >/dev/null 2>&1; } || missing+=(iproute2)
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
for tool in promtool amtool python3 cargo jsonnet systemd-analyze kubectl dpkg-deb ip tc /usr/bin/prometheus /usr/bin/prometheus-alertmanager /usr/bin/chromium /usr/bin/chromedriver /usr/sbin/dnsmasq; do
  command -v "$tool" >/dev/null 2>&1 || { echo "scripts/test.sh: $tool is required and not installed" >&2; exit 1; }
done

command -v cargo-deny >/dev/null 2>&1 || cargo install cargo-deny --locked --version 0.20.2
command -v cargo-deny >/dev/null 2>&1 || { echo "scripts/test.sh: cargo-deny is required and not installed" >&2; exit 1; }
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked --version 0.13.1
command -v cargo-fuzz >/dev/null 2>&1 || { echo "scripts/test.sh: cargo-fuzz is required and not installed" >&2; exit 1; }

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
cargo deny --locked check licenses bans sources
# RustSec advisories need github.com/rustsec/advisory-db; where it cannot be fetched the
# check says so loudly and the rest goes on; any advisory found fails the run.
if ! advisories=$(cargo deny --locked check advisories 2>&1); then
  if grep -q "failed to fetch advisory database" <<<"$advisories"; then
    echo "scripts/test.sh: ADVISORIES NOT CHECKED: the RustSec database cannot be fetched from this network" >&2
  else
    echo "$advisories" >&2
    exit 1
  fi
fi
RUSTDOCFLAGS='-D warnings' cargo doc --no-deps --locked --quiet
cargo test --locked
# What ships beside the binary: the mixin renders to the checked-in rules and dashboard, the
# Kubernetes base renders and validates, the Dockerfile agrees with the binary; then the
# Debian package is built, installed, run and purged for real (about 4 minutes: a release
# build and, once, cargo-deb).
bash scripts/test-deploy.sh target/debug/spanflow
bash scripts/test-package.sh
SOAK_BINARY=target/debug/spanflow bash scripts/soak.sh 30 200
# The churn soak in its short mode: 500 instances behind dnsmasq, a tenth replaced every
# 15 s, a canary every second; the instances' series must be exactly the live ones.
SOAK_BINARY=target/debug/spanflow bash scripts/soak.sh --churn 60
# Every fuzz target for 20 s, two at a time, built quick (the long runs are in
# docs/reliability.md).
FUZZ_JOBS=2 FUZZ_QUICK=1 bash scripts/fuzz.sh 20
