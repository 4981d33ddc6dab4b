#!/usr/bin/env bash
# Install propscan with every extra plus what the end-to-end tests drive (Debian's Chromium for the
# browser tests, PostgreSQL 15 for the shared-store tests), then the lint, format and type checks,
# then the test suite (arguments go to pytest, e.g. -m "not slow" for the developer's loop).
set -euo pipefail
cd "$(dirname "$0")/.."
missing=()
command -v chromium >/dev/null || missing+=(chromium)
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get install -y -q "${missing[@]}" >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q "${missing[@]}" >/dev/null; }
  else
    echo "not root: install ${missing[*]} with apt for the browser and PostgreSQL tests (they are skipped otherwise)" >&2
  fi
fi
scripts/install.sh serve,batch,ray,spacy,train,test
. .venv/bin/activate
ruff check src tests bench scripts
ruff format --check src tests bench scripts
mypy
python -m pytest "$@"
