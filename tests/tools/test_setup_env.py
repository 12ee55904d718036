"""tools/setup_env.sh, with a stand-in .venv/bin/python: one line while
it installs, pip's output only when the install fails, and nothing again
once installed."""
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FAKE_PYTHON = '''#!/usr/bin/env bash
echo "setuptools: a page of build-backend warnings"
[ -n "${FAIL:-}" ] && [ "$*" != "-m pip install --quiet --upgrade pip" ] \\
  && { echo "ERROR: no matching distribution" >&2; exit 1; }
exit 0
'''


def project(tmp_path: Path) -> Path:
    """setup_env.sh with the files it hashes and a stand-in interpreter."""
    root = tmp_path / 'segkit'
    (root / 'tools').mkdir(parents=True)
    for name in ('tools/setup_env.sh', 'requirements.txt', 'setup.py'):
        shutil.copy(REPO / name, root / name)
    python = root / '.venv' / 'bin' / 'python'
    python.parent.mkdir(parents=True)
    python.write_text(FAKE_PYTHON)
    python.chmod(0o755)
    return root


def setup_env(root: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(['bash', 'tools/setup_env.sh'], cwd=root, text=True,
                          capture_output=True, env={'PATH': '/usr/bin:/bin',
                                                    **env})


def test_install_says_one_line_then_nothing(tmp_path):
    root = project(tmp_path)
    first = setup_env(root)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        'Installing segkit and its pinned dependencies into .venv (log: '
        '.venv/install.log)']
    assert first.stderr == ''
    assert 'build-backend warnings' in (root / '.venv/install.log').read_text()
    again = setup_env(root)
    assert (again.returncode, again.stdout, again.stderr) == (0, '', '')


def test_a_failed_install_shows_its_output_and_fails(tmp_path):
    root = project(tmp_path)
    failed = setup_env(root, FAIL='1')
    assert failed.returncode == 1
    assert 'ERROR: no matching distribution' in failed.stderr
    assert failed.stderr.rstrip().endswith(
        'the install failed; its output is above and in .venv/install.log')
    assert not (root / '.venv' / '.segkit-installed').exists()
