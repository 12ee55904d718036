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
  # pip's and setuptools' output (a page of build-backend warnings) goes to
  # a log shown only if the install fails.
  log=.venv/install.log
  echo "Installing segkit and its pinned dependencies into .venv (log: $log)"
  if ! { .venv/bin/python -m pip install --quiet --upgrade pip &&
         .venv/bin/python -m pip install --quiet -r requirements.txt \
           -e '.[timm,pretrained,albu,deploy,tracking,tests]'; } > "$log" 2>&1; then
    cat "$log" >&2
    echo "$0: the install failed; its output is above and in $log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi
