"""Run ``python <tool> ARGS`` for a test, in a fresh process that starts
with segkit's imports already done.

Each tool run in a new interpreter spends ~3.5 s of CPU importing torch,
MMEngine and segkit before it reads its first argument, and the suite
starts about a hundred of them. :func:`run_python` (``subprocess.run``)
and :func:`start_python` (``subprocess.Popen``) ask a server, started
once per test process, to fork a child instead: the child is a new
process (own pid, cwd, environment, file descriptors, exit status,
signals) that has the imports, and nothing else, of its parent. A child
then runs the tool as ``python`` would: ``sys.argv``, ``sys.path[0]``,
``__main__``, ``sys.excepthook`` on an uncaught exception, non-daemon
threads joined and ``atexit`` run before it exits, fresh random seeds.

The variables read at import (``PYTHONPATH``, e.g. to a clone's own
segkit; thread counts) are the server's: each set of them gets a server
of its own. A call with interpreter options, or with
``SEGKIT_TEST_FORK=0`` in its environment, starts a real ``python``.
"""
import atexit
import gc
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
import time
import warnings
from pathlib import Path
from typing import (Dict, FrozenSet, List, Optional, Sequence, Tuple,
                    Union)

REPO = Path(__file__).resolve().parents[1]
# What the tools import before they read their arguments, and torchvision,
# which every Runner imports to log its version (1-2 s of each run).
PRELOAD = ('numpy', 'cv2', 'PIL.Image', 'torch', 'torchvision',
           'mmengine.runner', 'segkit.apis', 'segkit.engine',
           'segkit.engine.hooks', 'segkit.models', 'segkit.datasets',
           'segkit.evaluation', 'segkit.visualization')
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
    with tempfile.TemporaryDirectory() as folder:
        out, err = Path(folder, 'stdout'), Path(folder, 'stderr')
        process = start_python(args, out, err, cwd, env)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired as expired:
            process.kill()
            process.wait()
            expired.output, expired.stderr = out.read_text(), err.read_text()
            raise
        return subprocess.CompletedProcess(
            process.args, process.returncode, out.read_text(),
            err.read_text())


def succeeded(proc: subprocess.CompletedProcess) -> str:
    """``proc``'s stdout and stderr, after asserting that it exited 0 (the
    ends of both outputs are the assertion's message)."""
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def start_python(args: Sequence[str], stdout: Path,
                 stderr: Optional[Path] = None, cwd: Optional[Path] = None,
                 env: Optional[Dict[str, str]] = None,
                 new_session: bool = False
                 ) -> Union[subprocess.Popen, '_Child']:
    """``subprocess.Popen([sys.executable, *args], ...)`` with its output
    written to the file ``stdout`` (and ``stderr``; None: to ``stdout``
    too), in a forked child where that is the same: an object with the
    ``args``, ``pid``, ``returncode``, ``poll``, ``wait`` and ``kill`` of
    a ``Popen``. ``new_session``: the child leads a process group of its
    own (``start_new_session``), which ``os.killpg(pid, ...)`` reaches
    whole.
    """
    args = [str(arg) for arg in args]
    env = dict(os.environ if env is None else env)
    cwd = str(cwd or REPO)
    options = args[0].startswith('-') and args[0] not in ('-c', '-m')
    forked = env.get('SEGKIT_TEST_FORK') != '0' and not options
    server = _server(env) if forked else None
    if server is not None and server.ready:
        for path in filter(None, (stdout, stderr)):  # as Popen's open does
            Path(path).write_text('')
        return server.start(dict(
            args=args, cwd=cwd, env=env, stdout=str(stdout),
            stderr=str(stderr) if stderr else None, new_session=new_session))
    with open(stdout, 'w') as out, open(stderr or os.devnull, 'w') as err:
        return subprocess.Popen(
            [sys.executable, *args], cwd=cwd, env=env, stdout=out,
            stderr=err if stderr else subprocess.STDOUT,
            start_new_session=new_session)


class _Server:
    """The client side of a server's pipes: requests out; ``pid N`` after
    each, ``exit N STATUS`` when a child ends, back."""

    def __init__(self, env: Dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, bufsize=0, cwd=REPO, env=env)
        # False where the imports fail: then so does python, in its way.
        self.ready = self._line(None) == 'ready'
        self.exits: Dict[int, int] = {}
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

    def _record(self, line: str) -> None:
        _, pid, status = line.split()
        self.exits[int(pid)] = int(status)

    def start(self, request: dict) -> '_Child':
        self.process.stdin.write(json.dumps(request).encode() + b'\n')
        while True:
            line = self._line(None)
            if line.startswith('pid '):
                return _Child(self, [sys.executable, *request['args']],
                              int(line.split()[1]))
            self._record(line)

    def exit_status(self, pid: int, timeout: Optional[float]
                    ) -> Optional[int]:
        """``pid``'s exit status, or None if it runs ``timeout`` seconds
        more."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while pid not in self.exits:
            line = self._line(None if deadline is None else
                              deadline - time.monotonic())
            if line is None:
                return None
            self._record(line)
        return self.exits.pop(pid)


class _Child:
    """A forked run, as a ``subprocess.Popen`` shows it."""

    def __init__(self, server: _Server, args: List[str], pid: int) -> None:
        self.server, self.args, self.pid = server, args, pid
        self.returncode: Optional[int] = None

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            self.returncode = self.server.exit_status(self.pid, 0)
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        if self.returncode is None:
            self.returncode = self.server.exit_status(self.pid, timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)


_SERVERS: Dict[FrozenSet[Tuple[str, str]], _Server] = {}


def _server(env: Dict[str, str]) -> _Server:
    """The running server whose import-time variables are ``env``'s."""
    key = frozenset((name, value) for name, value in env.items()
                    if name.startswith(IMPORT_TIME_ENV))
    if key not in _SERVERS or _SERVERS[key].process.poll() is not None:
        _SERVERS[key] = _Server(env)
    return _SERVERS[key]


def _serve() -> None:
    """The server: preload, then fork a child per request line and answer
    ``pid N``; answer ``exit N STATUS`` as each child ends."""
    replies = os.fdopen(os.dup(1), 'w', buffering=1)
    os.dup2(2, 1)  # whatever an import prints stays off the replies
    with warnings.catch_warnings(record=True) as import_warnings:
        try:
            for module in PRELOAD:
                importlib.import_module(module)
        except Exception:  # e.g. a clone's broken segkit
            replies.write('failed\n')
            return
        # yapf loads its grammar on first use (~0.2 s): every Runner
        # formats its config once.
        from mmengine.config import Config
        assert Config(dict(warm=True)).pretty_text
    # What the preload made is never collected: the children skip it in
    # every full collection, and leave its pages shared, not copied.
    gc.freeze()
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes the select
    replies.write('ready\n')
    pending = b''
    while True:
        readable, _, _ = select.select([0, wake_read], [], [])
        if wake_read in readable:
            os.read(wake_read, 4096)
            _report_exits(replies)
        if 0 not in readable:
            continue
        chunk = os.read(0, 1 << 16)
        if not chunk:  # the client is gone
            return
        pending += chunk
        while b'\n' in pending:
            line, pending = pending.split(b'\n', 1)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for fd in (wake_read, wake_write):
                    os.close(fd)
                replies.close()
                _child(json.loads(line), import_warnings)
            replies.write(f'pid {pid}\n')


def _report_exits(replies) -> None:
    """``exit N STATUS`` for each child that has ended."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:  # no children
            return
        if pid == 0:
            return
        replies.write(f'exit {pid} {os.waitstatus_to_exitcode(status)}\n')


def _child(request: dict, import_warnings: list) -> None:
    """Become ``python ARGS`` in the request's cwd and environment; never
    returns."""
    code = 1
    try:
        if request['new_session']:
            os.setsid()
        os.chdir(request['cwd'])
        os.environ.clear()
        os.environ.update(request['env'])
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.dup2(os.open(request['stdout'], os.O_WRONLY), 1)
        os.dup2(os.open(request['stderr'], os.O_WRONLY)
                if request['stderr'] else 1, 2)
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
