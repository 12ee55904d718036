"""Run ``python <tool> ARGS`` for a test, in a fresh process that starts
with segkit's imports already done.

Each tool run in a new interpreter spends ~3.5 s of CPU importing torch,
MMEngine and segkit before it reads its first argument, and the suite
starts about a hundred of them. :func:`run_python` asks a server, started
once per test process, to fork a child instead: the child is a new
process (own pid, cwd, environment, file descriptors, exit status,
signals) that has the imports, and nothing else, of its parent. A child
then runs the tool as ``python`` would: ``sys.argv``, ``sys.path[0]``,
``__main__``, ``sys.excepthook`` on an uncaught exception, non-daemon
threads joined and ``atexit`` run before it exits, fresh random seeds.

The variables read at import (``PYTHONPATH``, e.g. to a clone's own
segkit; thread counts) are the server's: each set of them gets a server
of its own. A call with interpreter options, or with
``SEGKIT_TEST_FORK=0`` in its environment, is a real ``subprocess.run``.
"""
import atexit
import importlib
import json
import os
import random
import runpy
import select
import signal
import subprocess
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parents[1]
# What the tools import before they read their arguments.
PRELOAD = ('numpy', 'cv2', 'PIL.Image', 'torch', 'mmengine.runner',
           'segkit.apis', 'segkit.engine', 'segkit.engine.hooks',
           'segkit.models', 'segkit.datasets', 'segkit.evaluation',
           'segkit.visualization')
# Variables read when those modules load: a child sees the server's.
# (Not TORCHINDUCTOR_*: torch.compile sets its cache dir in os.environ
# when it first compiles, and reads it then.)
IMPORT_TIME_ENV = ('PYTHON', 'OMP_', 'MKL_', 'KMP_', 'OPENBLAS_', 'TORCH_',
                   'LD_', 'MPL', 'HOME')


def run_python(args: Sequence[str], cwd: Optional[Path] = None,
               env: Optional[Dict[str, str]] = None,
               timeout: float = 600) -> subprocess.CompletedProcess:
    """``subprocess.run([sys.executable, *args], cwd=cwd, env=env,
    capture_output=True, text=True, timeout=timeout)``, in a forked child
    of the preloaded server where that is the same.

    Raises:
        subprocess.TimeoutExpired: the run took over ``timeout`` seconds
            (the child is killed first).
    """
    args = [str(arg) for arg in args]
    env = dict(os.environ if env is None else env)
    cwd = str(cwd or REPO)
    options = args[0].startswith('-') and args[0] not in ('-c', '-m')
    forked = env.get('SEGKIT_TEST_FORK') != '0' and not options
    server = _server(env) if forked else None
    if server is None or not server.ready:
        return subprocess.run([sys.executable, *args], cwd=cwd, env=env,
                              capture_output=True, text=True,
                              timeout=timeout)
    return server.run(args, cwd, env, timeout)


class _Server:
    """The client side: one request at a time, over the server's pipes."""

    def __init__(self, env: Dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, bufsize=0, cwd=REPO, env=env)
        # False where the imports fail: then so does python, in its way.
        self.ready = self._line(None) == 'ready'
        atexit.register(self.process.stdin.close)

    def _line(self, timeout: Optional[float]) -> Optional[str]:
        """The server's next line, or None after ``timeout`` seconds."""
        if timeout is not None:
            ready, _, _ = select.select([self.process.stdout], [], [],
                                        max(timeout, 0))
            if not ready:
                return None
        line = self.process.stdout.readline()  # unbuffered: one line only
        if not line:
            raise RuntimeError('the tool process server exited')
        return line.decode().strip()

    def run(self, args: List[str], cwd: str, env: Dict[str, str],
            timeout: float) -> subprocess.CompletedProcess:
        with tempfile.TemporaryDirectory() as folder:
            out, err = Path(folder, 'stdout'), Path(folder, 'stderr')
            request = dict(args=args, cwd=cwd, env=env, stdout=str(out),
                           stderr=str(err))
            self.process.stdin.write(json.dumps(request).encode() + b'\n')
            pid = int(self._line(None))
            status = self._line(timeout)
            if status is None:
                os.kill(pid, signal.SIGKILL)
                self._line(None)
                raise subprocess.TimeoutExpired(
                    [sys.executable, *args], timeout, out.read_text(),
                    err.read_text())
            return subprocess.CompletedProcess(
                [sys.executable, *args], int(status), out.read_text(),
                err.read_text())


_SERVERS: Dict[FrozenSet[Tuple[str, str]], _Server] = {}


def _server(env: Dict[str, str]) -> _Server:
    """The running server whose import-time variables are ``env``'s."""
    key = frozenset((name, value) for name, value in env.items()
                    if name.startswith(IMPORT_TIME_ENV))
    if key not in _SERVERS or _SERVERS[key].process.poll() is not None:
        _SERVERS[key] = _Server(env)
    return _SERVERS[key]


def _serve() -> None:
    """The server: preload, then fork one child per request line and
    answer with its pid, then with its exit status."""
    replies = os.fdopen(os.dup(1), 'w')
    os.dup2(2, 1)  # whatever an import prints stays off the replies
    with warnings.catch_warnings(record=True) as import_warnings:
        try:
            for module in PRELOAD:
                importlib.import_module(module)
        except Exception:  # e.g. a clone's broken segkit
            replies.write('failed\n')
            return
    replies.write('ready\n')
    replies.flush()
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            replies.close()
            _child(request, import_warnings)
        replies.write(f'{pid}\n')
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(f'{os.waitstatus_to_exitcode(status)}\n')
        replies.flush()


def _child(request: dict, import_warnings: list) -> None:
    """Become ``python ARGS`` in the request's cwd and environment; never
    returns."""
    code = 1
    try:
        os.chdir(request['cwd'])
        os.environ.clear()
        os.environ.update(request['env'])
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(os.open(request['stdout'], os.O_WRONLY | os.O_CREAT), 1)
        os.dup2(os.open(request['stderr'], os.O_WRONLY | os.O_CREAT), 2)
        sys.stdin = open(0, closefd=False)
        _reseed()
        for record in import_warnings:  # what these imports warn in python
            warnings.showwarning(record.message, record.category,
                                 record.filename, record.lineno)
        code = _exit_code(_run_main, request['args'])
        threading._shutdown()  # python's exit: non-daemon threads, atexit
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # a closed stream: nothing left to write
                pass
        os._exit(code)


def _reseed() -> None:
    """A new interpreter's random state, not the server's copy of it."""
    import numpy
    import torch
    random.seed()
    numpy.random.seed()
    torch.seed()


def _run_main(args: List[str]) -> None:
    if args[0] == '-c':
        sys.argv, sys.path[0] = ['-c', *args[2:]], ''
        exec(compile(args[1], '<string>', 'exec'), {'__name__': '__main__'})
    elif args[0] == '-m':
        sys.argv, sys.path[0] = args[1:], os.getcwd()
        runpy._run_module_as_main(args[1])
    else:
        sys.argv = args
        sys.path[0] = os.path.dirname(os.path.abspath(args[0]))
        runpy.run_path(args[0], run_name='__main__')


def _exit_code(function, *args) -> int:
    """What python's exit status would be after ``function(*args)``."""
    try:
        function(*args)
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        print(stop.code, file=sys.stderr)
        return 1
    except BaseException:  # reported as python reports it
        sys.excepthook(*sys.exc_info())
        return 1
    return 0


if __name__ == '__main__':
    _serve()
