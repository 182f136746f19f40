#!/usr/bin/env bash
# The install the README documents for users, `pip install skfewaudio` with no extras
# and without scripts/setup.sh, in a clean virtual environment: every default
# estimator must fit and predict (scripts/smoke_defaults.py). torch stays pinned to
# the CPU wheel by constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet -c constraints.txt .
# Run from an empty folder, so the installed package is imported, not this checkout.
script="$(pwd)/scripts/smoke_defaults.py"
cd "$work" && "$work/venv/bin/python" "$script"
