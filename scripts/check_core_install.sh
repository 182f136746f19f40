#!/usr/bin/env bash
# The install the README documents for users, `pip install skfewaudio` with no extras
# and without scripts/setup.sh, in a clean virtual environment: every default
# estimator must fit and predict (scripts/smoke_defaults.py), and the test-suite must
# pass there, skipping (with a reason) what needs an optional extra. torch stays
# pinned to the CPU wheel by constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
repo=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet -c constraints.txt .
# From an empty folder, so that the installed package is imported, not this checkout.
(cd "$work" && "$work/venv/bin/python" "$repo/scripts/smoke_defaults.py")
"$work/venv/bin/python" -m pip install --quiet -c constraints.txt ".[test]"
# importlib mode leaves sys.path alone: the tests import the installed package.
HF_HUB_OFFLINE=1 "$work/venv/bin/pytest" -q -n 2 --import-mode=importlib -p no:cacheprovider \
    "$repo/tests"
