"""tests/tool_process.py's forked tool runs behave as ``python`` runs:
each case runs the same script both ways and compares what came back."""
import os
import signal
import subprocess
import time

import pytest

from tool_process import run_python, start_python

PROBE = '''
import atexit, os, random, sys, threading, time
import numpy
print('argv', sys.argv[1:], 'cwd', os.getcwd(), 'path0', sys.path[0])
print('main', __name__, os.path.basename(__file__), 'env',
      os.environ.get('PROBE'))
print('stdin', repr(sys.stdin.read()))
print('to stderr', file=sys.stderr)
atexit.register(lambda: print('atexit ran'))
threading.Thread(
    target=lambda: (time.sleep(0.2), print('thread joined'))).start()
how = sys.argv[1]
if how == 'exit':
    sys.exit(int(sys.argv[2]))
if how == 'message':
    sys.exit('a message to stderr')
if how == 'raise':
    raise ValueError('uncaught')
if how == 'kill':
    os.kill(os.getpid(), 15)
if how == 'random':
    print('random', random.random(), numpy.random.rand())
'''


@pytest.fixture
def probe(tmp_path):
    path = tmp_path / 'probe.py'
    path.write_text(PROBE)
    return path


def both(args, cwd, **env):
    """(python's, the fork's) CompletedProcess for ``args``."""
    real = run_python(args, cwd, env=dict(os.environ, SEGKIT_TEST_FORK='0',
                                          **env))
    forked = run_python(args, cwd, env=dict(os.environ, **env))
    return real, forked


@pytest.mark.parametrize('how', [['exit', '0'], ['exit', '3'], ['message'],
                                 ['kill']])
def test_a_forked_run_returns_what_python_returns(probe, tmp_path, how):
    real, forked = both([str(probe), *how], tmp_path, PROBE='value')
    assert forked.returncode == real.returncode
    assert forked.stdout == real.stdout
    assert forked.stderr == real.stderr
    assert f"argv {how!r} cwd {tmp_path} path0 {tmp_path}" in forked.stdout
    assert "main __main__ probe.py env value\nstdin ''" in forked.stdout


def test_an_uncaught_exception_is_reported_as_python_reports_it(probe,
                                                                  tmp_path):
    real, forked = both([str(probe), 'raise'], tmp_path)
    assert forked.returncode == real.returncode == 1
    assert forked.stdout == real.stdout
    assert 'Traceback' in forked.stderr
    assert forked.stderr.splitlines()[-1] == real.stderr.splitlines()[-1] \
        == 'ValueError: uncaught'


def test_threads_are_joined_and_atexit_runs_on_exit(probe, tmp_path):
    _, forked = both([str(probe), 'exit', '0'], tmp_path)
    assert forked.stdout.endswith('thread joined\natexit ran\n')


def test_each_run_has_its_own_random_state(probe, tmp_path):
    first, second = ([line for line in run_python(
        [str(probe), 'random'], tmp_path).stdout.splitlines()
        if line.startswith('random')] for _ in range(2))
    assert len(first) == 1 and first != second


def test_c_and_m_run_as_python_runs_them(tmp_path):
    code = 'import sys; print(sys.argv, sys.path[0] == "")'
    real, forked = both(['-c', code, 'x'], tmp_path)
    assert forked.stdout == real.stdout == "['-c', 'x'] True\n"
    (tmp_path / 'probe_module.py').write_text(
        'import sys; print(__name__, sys.argv[1:])')
    real, forked = both(['-m', 'probe_module', 'y'], tmp_path)
    assert forked.stdout == real.stdout == "__main__ ['y']\n"


def test_a_run_past_its_timeout_is_killed(tmp_path):
    with pytest.raises(subprocess.TimeoutExpired):
        run_python(['-c', 'import time; time.sleep(30)'], tmp_path,
                   timeout=0.5)
    # the server goes on serving
    assert run_python(['-c', 'print(1)'], tmp_path).stdout == '1\n'


def test_interpreter_options_run_a_real_python(tmp_path):
    code = 'import os, sys; print(os.getppid(), sys.flags.optimize)'
    parent, optimize = run_python(['-O', '-c', code], tmp_path).stdout.split()
    assert int(parent) == os.getpid() and optimize == '1'


def test_a_run_sees_the_import_time_variables_it_is_given(tmp_path):
    """Thread counts and PYTHONPATH are read when torch and segkit load:
    a run with others than the last is forked from a server of its own."""
    (tmp_path / 'elsewhere').mkdir()
    (tmp_path / 'elsewhere' / 'only_here.py').write_text('NAME = "found"')
    code = ('import os, torch, only_here; '
            'print(torch.get_num_threads(), only_here.NAME, os.getppid())')
    threads = '2' if os.environ.get('OMP_NUM_THREADS') == '1' else '1'
    env = dict(OMP_NUM_THREADS=threads,
               PYTHONPATH=str(tmp_path / 'elsewhere'))
    real, forked = both(['-c', code], tmp_path, **env)
    assert forked.stdout.split()[:2] == real.stdout.split()[:2]
    assert real.stdout.split()[1] == 'found'
    assert int(forked.stdout.split()[2]) != os.getpid()  # not a subprocess


def test_a_started_run_is_polled_waited_for_and_signalled_as_popen(tmp_path):
    """What the preemption tests do with a training run: poll it, send
    its process group a signal, wait for its status."""
    (tmp_path / 'child.py').write_text(
        'import subprocess, sys, time\n'
        'print("started", flush=True)\n'
        'subprocess.Popen([sys.executable, "-c", "import time; '
        'time.sleep(60)"])\n'  # a grandchild, as DataLoader workers are
        'time.sleep(60)\n')
    for fork in ('0', '1'):
        out = tmp_path / f'out{fork}.txt'
        process = start_python(
            [tmp_path / 'child.py'], out, cwd=tmp_path, new_session=True,
            env=dict(os.environ, SEGKIT_TEST_FORK=fork))
        while 'started' not in out.read_text():
            assert process.poll() is None
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(0.1)
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(30) == -signal.SIGTERM == process.poll()
        assert group_ends(process.pid)  # the grandchild too


def group_ends(group: int, seconds: float = 10) -> bool:
    """Whether process group ``group`` is gone within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
