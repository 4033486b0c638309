#!/usr/bin/env bash
# Plots a soak's CSV as a PNG (scripts/plot-soak.py), with matplotlib 3.9.2 installed from
# PyPI into a virtual environment under target/ on first use.
#
#   scripts/plot-soak.sh <soak.csv> <out.png> [title]
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/plot-venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import matplotlib' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet matplotlib==3.9.2
fi
exec "$venv/bin/python" scripts/plot-soak.py "$@"
