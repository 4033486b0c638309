#!/usr/bin/env bash
# Builds the Debian package (scripts/package.sh), then, for real, on this machine: lists it,
# installs it with dpkg, runs the installed binary and checks the installed configuration,
# checks the man page and completions are there, verifies the installed unit with
# systemd-analyze and rates its hardening (exposure must stay at most 2.0), and purges it
# (nothing of it may be left). Needs root (dpkg); CI runs as root. Run by scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "scripts/test-package.sh: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "installing the package needs root (dpkg -i)"
for tool in dpkg dpkg-deb systemd-analyze gzip; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is required and not installed"
done

bash scripts/package.sh
deb=$(ls -t target/debian/spanflow_*.deb | head -1)
echo "package: $deb, $(du -k "$deb" | cut -f1) KiB"
dpkg-deb -c "$deb" | awk '{print $6}' | sort > target/debian/contents.txt
for path in ./usr/bin/spanflow ./usr/lib/systemd/system/spanflow.service ./etc/spanflow/spanflow.yml \
    ./etc/default/spanflow ./usr/share/man/man1/spanflow.1.gz \
    ./usr/share/bash-completion/completions/spanflow ./usr/share/zsh/vendor-completions/_spanflow \
    ./usr/share/fish/vendor_completions.d/spanflow.fish ./usr/share/spanflow/dashboards/spanflow-pipeline.json \
    ./usr/share/spanflow/alerts/spanflow-alerts.yaml ./usr/share/spanflow/alerts/spanflow-recording.yaml \
    ./usr/share/spanflow/runbook.md ./usr/share/spanflow/examples/spanflow.yml ./usr/share/doc/spanflow/copyright; do
  grep -qx "$path" target/debian/contents.txt || fail "$path is not in the package"
done
dpkg-deb -f "$deb" Conffiles 2>/dev/null | grep -q . || dpkg-deb -I "$deb" conffiles | grep -qx /etc/spanflow/spanflow.yml \
  || fail "/etc/spanflow/spanflow.yml is not a conffile"

dpkg --purge spanflow >/dev/null 2>&1 || true
dpkg -i "$deb"
trap 'dpkg --purge spanflow >/dev/null 2>&1 || true' EXIT
/usr/bin/spanflow --version | grep -q "^spanflow $(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1) (revision " \
  || fail "spanflow --version: $(/usr/bin/spanflow --version)"
/usr/bin/spanflow check-config --config.file /etc/spanflow/spanflow.yml
gzip -t /usr/share/man/man1/spanflow.1.gz
zcat /usr/share/man/man1/spanflow.1.gz | grep -q '^\.TH spanflow 1' || fail "the man page has no .TH header"
grep -q 'complete -F _spanflow' /usr/share/bash-completion/completions/spanflow || fail "bash completion"
grep -q '#compdef spanflow' /usr/share/zsh/vendor-completions/_spanflow || fail "zsh completion"
grep -q 'complete -c spanflow' /usr/share/fish/vendor_completions.d/spanflow.fish || fail "fish completion"
systemd-analyze verify /usr/lib/systemd/system/spanflow.service
exposure=$(systemd-analyze security --offline=true /usr/lib/systemd/system/spanflow.service 2>/dev/null \
  | sed -n 's/.*Overall exposure level for spanflow.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security gave no exposure level"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "exposure $exposure is above 2.0"
echo "systemd-analyze security spanflow.service: exposure $exposure"

dpkg --purge spanflow
trap - EXIT
for path in /usr/bin/spanflow /etc/spanflow/spanflow.yml /usr/lib/systemd/system/spanflow.service /etc/default/spanflow; do
  [ ! -e "$path" ] || fail "$path is left after dpkg --purge"
done
echo "package: built, listed ($(wc -l < target/debian/contents.txt) entries), installed, run, purged"
