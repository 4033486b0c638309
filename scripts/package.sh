#!/usr/bin/env bash
# Builds the release binary and the Debian package into target/debian/:
#   bash scripts/package.sh
# cargo-deb (crates.io) is installed when missing. First the files the package names under
# target/package/ are made from the built binary and the dependency graph: the man page and
# the bash, zsh and fish completions (from the clap definitions), and the copyright file
# with the licence of every crate compiled in (cargo tree, normal dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0
command -v cargo-deb >/dev/null 2>&1 || cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
command -v cargo-deb >/dev/null 2>&1 || { echo "scripts/package.sh: cargo-deb is required and not installed" >&2; exit 1; }

cargo build --release --locked
out=target/package
mkdir -p "$out"
bin=target/release/spanflow
"$bin" man | gzip -9n > "$out/spanflow.1.gz"
"$bin" completion bash > "$out/spanflow.bash"
"$bin" completion zsh > "$out/_spanflow"
"$bin" completion fish > "$out/spanflow.fish"

{
  cat <<'HEAD'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: spanflow
Source: https://github.com/spanflow/spanflow

Files: *
Copyright: spanflow developers
License: Apache-2.0

Comment: the binary is statically linked with these Rust crates (name version: licence),
 from `cargo tree -e normal`; their licence texts are in the crates' sources.
HEAD
  cargo tree --locked -e normal --prefix none --format ' {p}: {l}' 2>/dev/null \
    | sed 's/ (\*)$//; s/ (proc-macro)//' | sort -u | grep -v '^ spanflow v'
} > "$out/copyright"

cargo deb --no-build --locked --output target/debian/
ls -l target/debian/*.deb
