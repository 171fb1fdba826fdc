#!/usr/bin/env bash
# Set up, then run the one-command tour: baselines on the smoke suite, standings, static site.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/arena demo "$@"
