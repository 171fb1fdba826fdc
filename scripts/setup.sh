#!/usr/bin/env bash
# Create ./.venv and install MetaArena into it (idempotent: a second call is a no-op).
#   bash scripts/setup.sh          runtime only
#   bash scripts/setup.sh --test   plus the test tools, and Debian's chromium for browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
extras=""
[ "${1:-}" = "--test" ] && extras="[test,ray]"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)

# A bare `torch` requirement can pull a multi-GB CUDA build; install the CPU build first.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  "${pip[@]}" torch==2.13.0 || "${pip[@]}" "torch>=2.4"
fi

stamp=".venv/.meta-arena-installed${extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "${pip[@]}" -e ".${extras}"
  touch "$stamp"
fi

# Optional system packages: apt may be busy, and neither is needed to run the harness.
source scripts/apt.sh

# The agent sandbox (bubblewrap: fresh namespaces, a read-only view, an unprivileged user).
if ! command -v bwrap >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt_install bubblewrap
    command -v bwrap >/dev/null || echo "note: without bubblewrap agents run less isolated; rerun setup once apt is free"
  else
    echo "note: bubblewrap is missing; agents run less isolated and sandbox tests are skipped (install Debian's bubblewrap)"
  fi
fi

if [ -n "$extras" ] && [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's chromium for the browser tests..."
    apt_install chromium
  else
    echo "note: /usr/bin/chromium is missing; browser tests will be skipped (install Debian's chromium)"
  fi
fi
