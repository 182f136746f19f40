#!/usr/bin/env bash
# Creates .venv (once) and installs skfewaudio with every extra, torch pinned to the
# CPU wheel by constraints.txt. Safe to run again: it reinstalls only when
# pyproject.toml, constraints.txt or this script changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.skfewaudio-installed
want=$(cat pyproject.toml constraints.txt scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -c constraints.txt -e ".[all,test]"
    # msclap's metadata pins numpy<2 and torchaudio (a CUDA torch here); its model code
    # needs neither, so it is installed without its declared dependencies.
    .venv/bin/python -m pip install --quiet --no-deps "msclap==1.3.4"
    echo "$want" > "$stamp"
fi
