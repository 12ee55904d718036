"""tools/run_tests.sh runs the tests it is given, or the whole suite."""
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def collected(*args: str) -> list:
    """The test ids tools/run_tests.sh collects with ``args``, in one
    process (``-n 0``: two xdist workers would each import the suite)."""
    done = subprocess.run(['bash', 'tools/run_tests.sh', '--collect-only',
                           '-q', '-n', '0', *args], cwd=REPO, text=True,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return [line for line in done.stdout.splitlines() if '::' in line]


@pytest.mark.slow
def test_a_path_runs_only_that_file_and_none_runs_the_suite():
    chosen = 'tests/utils/test_console.py'
    ids = collected(chosen)
    assert ids and all(i.startswith(chosen + '::') for i in ids)
    # No path: the test files anywhere under tests/ (pytest.ini's
    # testpaths), a top-level one and one in a package; narrowed to those
    # two by name, as importing every test module takes the suite's
    # collection time.
    everywhere = collected('-o', 'python_files=test_console.py '
                           'test_hubconf.py')
    assert set(ids) < set(everywhere)
    assert {i.split('::')[0] for i in everywhere} == {
        chosen, 'tests/test_hubconf.py'}
