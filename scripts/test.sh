#!/usr/bin/env bash
# Set up with the test tools, then run the default (fast) test suite. Extra args go to pytest,
# e.g. `bash scripts/test.sh -m slow` for the long training tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
if [ "$#" -eq 0 ]; then
  set -- -m "not slow"
fi
# setup.sh installed the text track's model: its tests must run, never skip for want of it.
export ARENA_REQUIRE_LLM=1
.venv/bin/python -m pytest "$@"
