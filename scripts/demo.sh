#!/usr/bin/env bash
# Set up (if needed) and run the few-shot demo on built-in synthetic sounds.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/skfewaudio demo "$@"
