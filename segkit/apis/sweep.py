"""Train variants of configs N at a time, then compare them.

A sweep file is Python, read as a config (names starting with ``_`` are
its own helpers)::

    config = 'configs/unet_r18_camvid_quick.py'  # the variants' default
    variants = dict(
        base=dict(),
        wd=dict(options={'optim_wrapper.optimizer.weight_decay': 0.05}),
        paper=dict(config='configs/unet_camvid_quick.py'),
    )

Each variant runs as ``tools/train.py CONFIG --work-dir DIR/NAME
--cfg-options KEY=VALUE ...`` in a process of its own, so a run is exactly
its command line and can be rerun alone. Every variant's overrides are
checked, as ``--cfg-options`` are, before the first run starts.
``tools/sweep.py`` is the command line; docs/experiments/ the sweeps
behind its tables.
"""
import os
import os.path as osp
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from segkit.utils import ConfigValueError, SegkitUserError, dump_json_atomic
from segkit.visualization.compare import compare_runs
from segkit.visualization.curves import SCALARS_FILE
from .cli import parse_override_value
from .config import apply_overrides, info_silenced, read_config

TRAIN_TOOL = osp.join('tools', 'train.py')
VARIANT_KEYS = ('config', 'options')
#: How long a run stopped at the deadline gets to save its checkpoint
#: (SIGTERM: segkit's PreemptionHook finishes the iteration and saves).
STOP_GRACE_SECONDS = 120
POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Variant:
    """One run of a sweep.

    Attributes:
        name: Its key in the sweep file, and its folder in the work dir.
        config: The config it trains.
        options: ``{dotted key: value}`` merged into the config.
    """
    name: str
    config: str
    options: Dict[str, Any]

    def command(self, work_dir: str) -> List[str]:
        """``tools/train.py`` with this variant's overrides, each value
        written so that ``--cfg-options`` reads it back unchanged."""
        command = [sys.executable, TRAIN_TOOL, self.config, '--work-dir',
                   osp.join(work_dir, self.name)]
        if self.options:
            command += ['--cfg-options'] + [
                f'{key}={value!r}' for key, value in self.options.items()]
        return command


@dataclass
class Outcome:
    """What became of a variant's run: ``status`` is ``'finished'``,
    ``'failed'``, ``'stopped at the deadline'`` or ``'not started'``."""
    name: str
    command: List[str]
    status: str
    returncode: Optional[int] = None
    seconds: Optional[float] = None


def read_sweep(path: str, common_options: Optional[Dict[str, Any]] = None,
               only: Optional[Sequence[str]] = None) -> List[Variant]:
    """The variants of sweep file ``path``, each checked as a run would
    check its ``--cfg-options`` (with ``common_options`` under its own).

    Args:
        path: The sweep file (see the module docstring).
        common_options: Overrides given to every variant; a variant's own
            win.
        only: Names of the variants to keep, in the file's order.

    Raises:
        ConfigValueError: a malformed sweep file or variant, or a value that
            a command line cannot carry, naming the file and the variant.
        ConfigKeyError, MissingPathError: as ``tools/train.py`` would raise
            them for the variant, prefixed with the file and the variant.
    """
    spec = {name: value for name, value in read_config(path).to_dict().items()
            if not name.startswith('_')}  # the file's own helpers
    unknown = set(spec) - {'config', 'variants'}
    variants = spec.get('variants')
    if unknown or not isinstance(variants, dict) or not variants:
        raise ConfigValueError(
            f'{path}: expected `variants = dict(name=dict(config=..., '
            'options={...}), ...)` and an optional default `config`'
            + (f'; unknown names {sorted(unknown)}' if unknown else ''))
    missing = sorted(set(only or ()) - set(variants))
    if missing:
        raise ConfigValueError(f'--only {missing}: {path} has no such '
                               f'variant; expected some of {list(variants)}')
    return [_check_variant(path, name, body, spec.get('config'),
                           common_options or {})
            for name, body in variants.items() if not only or name in only]


def _check_variant(path: str, name: str, body: Any, default_config: Any,
                   common_options: Dict[str, Any]) -> Variant:
    """One entry of ``variants``, checked (see :func:`read_sweep`)."""
    where = f'{path}, variant {name!r}'
    if not isinstance(body, dict) or set(body) - set(VARIANT_KEYS):
        raise ConfigValueError(
            f'{where}: expected a dict with the keys {VARIANT_KEYS}, got '
            f'{body!r}')
    config = body.get('config', default_config)
    options = dict(common_options, **body.get('options', {}))
    if not isinstance(config, str):
        raise ConfigValueError(f'{where}: no config; expected config=PATH in '
                               'the variant or at the top of the file')
    if osp.basename(name) != name or name.startswith('.'):
        raise ConfigValueError(f'{where}: expected a name that can be a '
                               'folder name')
    for key, value in options.items():
        written = repr(value)
        try:
            carried = repr(parse_override_value(written))
        except ValueError:
            carried = None
        if carried != written:
            raise ConfigValueError(
                f'{where}: {key}={written} does not survive a command line '
                f'(it reads back as {carried}); expected literals: numbers, '
                'strings, None, booleans, and lists, tuples and dicts of them')
    try:
        with info_silenced():  # the run logs what its overrides change
            apply_overrides(read_config(config), options, config)
    except SegkitUserError as error:
        raise type(error)(f'{where}: {error}') from None
    return Variant(name, config, options)


@dataclass
class _Running:
    """A started run: its process, when it started, when it was stopped."""
    process: subprocess.Popen
    started: float
    stopped: Optional[float] = None


def _start(command: List[str], folder: Path, env: Dict[str, str]
           ) -> _Running:
    """Start ``command`` with its console in ``folder/console.log``."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / 'console.log', 'w') as console:
        process = subprocess.Popen(command, stdout=console,
                                   stderr=subprocess.STDOUT, env=env)
    return _Running(process, time.monotonic())


def run_sweep(variants: Sequence[Variant], work_dir: str, parallel: int = 1,
              minutes: Optional[float] = None) -> List[Outcome]:
    """Run the variants, ``parallel`` at a time, each with a 1/``parallel``
    share of the CPU threads (``OMP_NUM_THREADS``, unless already set).

    A run's console goes to ``work_dir/<name>/console.log``. With
    ``minutes``, no run starts after that many minutes, and one still
    running then is sent SIGTERM: it saves a checkpoint and stops
    (``tools/train.py --resume`` continues it).

    Returns:
        One :class:`Outcome` per variant, in their order.
    """
    deadline = None if minutes is None else time.monotonic() + 60 * minutes
    env = dict(os.environ)
    env.setdefault('OMP_NUM_THREADS',
                   str(max(1, (os.cpu_count() or 1) // parallel)))
    outcomes = [Outcome(v.name, v.command(work_dir), 'not started')
                for v in variants]
    waiting = list(range(len(variants)))
    running: Dict[int, _Running] = {}
    while waiting or running:
        late = deadline is not None and time.monotonic() > deadline
        if late:
            waiting.clear()
        while waiting and len(running) < parallel:
            index = waiting.pop(0)
            running[index] = _start(outcomes[index].command,
                                    Path(work_dir, variants[index].name), env)
            print(f'started {variants[index].name}', flush=True)
        for index, run in list(running.items()):
            if late and run.stopped is None and run.process.poll() is None:
                run.process.send_signal(signal.SIGTERM)
                run.stopped = time.monotonic()
            if (run.stopped is not None and run.process.poll() is None
                    and time.monotonic() - run.stopped > STOP_GRACE_SECONDS):
                run.process.kill()
            if run.process.poll() is None:
                continue
            outcome = outcomes[index]
            outcome.returncode = run.process.returncode
            outcome.seconds = round(time.monotonic() - run.started, 1)
            outcome.status = (
                'stopped at the deadline' if run.stopped is not None else
                'finished' if run.process.returncode == 0 else 'failed')
            del running[index]
            print(f'{outcome.status} {outcome.name} '
                  f'({outcome.seconds:.0f} s)', flush=True)
        if running:
            time.sleep(POLL_SECONDS)
    return outcomes


def summarise(outcomes: Sequence[Outcome], work_dir: str) -> str:
    """Write ``work_dir/sweep.json`` (every outcome, with its command) and
    the overlaid curves in ``work_dir/compare/``; return the table of the
    runs that validated (:func:`~segkit.visualization.compare_runs`)."""
    dump_json_atomic([asdict(o) for o in outcomes],
                     Path(work_dir, 'sweep.json'))
    scored = [osp.join(work_dir, o.name) for o in outcomes
              if o.status != 'not started' and
              any(Path(work_dir, o.name).glob(f'*/{SCALARS_FILE}'))]
    if not scored:
        return 'no run validated'
    try:
        table, _ = compare_runs(scored, osp.join(work_dir, 'compare'))
    except ValueError as error:  # runs without validation metrics yet
        return str(error)
    return table
