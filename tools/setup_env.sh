#!/usr/bin/env bash
# Create .venv beside the repo's code and install segkit with its pinned
# dependencies. Re-running is cheap: nothing is reinstalled while
# requirements.txt and setup.py are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=.venv/.segkit-installed
want=$(cat requirements.txt setup.py | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt -e '.[timm,deploy,tracking]'
  echo "$want" > "$stamp"
fi
