#!/usr/bin/env bash
# The README's quick start as a user meets it: a copy of this tree, `scripts/install.sh` with no
# extras (so no torch), an empty PROPSCAN_CACHE, and every preset analyzing the example article.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' path; do
  [ -e "$path" ] && cp --parents -- "$path" "$work"
done
cd "$work"
export PROPSCAN_CACHE="$work/cache"
scripts/install.sh
if .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "quickstart-check: the README's install pulled in torch; analysis must not need it" >&2
  exit 1
fi
.venv/bin/propscan analyze examples/harbour-bridge.txt
.venv/bin/propscan analyze examples/harbour-bridge.txt --model fast
.venv/bin/propscan analyze examples/harbour-bridge.txt --model triage
.venv/bin/propscan analyze examples/harbour-bridge.txt --model fast-ptc18
echo "quickstart-check: every preset analyzed the example from an empty cache, without torch"
