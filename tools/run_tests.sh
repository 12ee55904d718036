#!/usr/bin/env bash
# Set up .venv (tools/setup_env.sh) and run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
exec .venv/bin/python -m pytest tests "$@"
