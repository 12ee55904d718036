#!/usr/bin/env bash
# Set up .venv (tools/setup_env.sh) and run the test suite, or the tests
# named: bash tools/run_tests.sh tests/apis/test_config.py -q
# Arguments go to pytest as they are; with no test path it runs the
# testpaths of pytest.ini (tests/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup_env.sh
exec .venv/bin/python -m pytest "$@"
