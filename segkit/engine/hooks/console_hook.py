"""What the console shows of a run (see ``segkit.utils.console``)."""
import datetime
import numbers
import os
import os.path as osp
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from mmengine.hooks import Hook
from mmengine.runner import BaseLoop

from segkit.registry import HOOKS
from segkit.utils.console import CONSOLE, find_console
from ..run_facts import run_facts

# Progress lines a run prints when the console is not a terminal (a pipe,
# a batch job's log): about this many. The loss shown is the mean over as
# many iterations (at most 50), on a terminal too (there as of the last log
# point, so that the terminal's line does not wait for the GPU).
PIPED_PROGRESS_LINES = 10
# ... and one at least this often (seconds), however long iterations are:
# a slow run (a time budget's long plan) would show nothing for minutes.
PIPED_PROGRESS_SECONDS = 45.0


def _duration(seconds: float) -> str:
    return str(datetime.timedelta(seconds=round(seconds)))


def _data_rows(facts: Mapping[str, Any]) -> List[Tuple[str, str]]:
    rows = []
    for split, data in (facts.get('data') or {}).items():
        if data:
            text = f'{split}: {data["images"]} images'
            if data.get('source'):
                text += f' in {data["source"]}'
            if not rows and data.get('classes'):
                text += f' ({data["type"]}, {data["classes"]} classes)'
            rows.append(('data' if not rows else '', text))
    return rows


def _device_line(machine: Mapping[str, Any]) -> str:
    if machine.get('gpu'):
        return (f'cuda: {machine["gpus"]} x {machine["gpu"]}, '
                f'{machine["threads"]} CPU threads')
    return (f'cpu: {machine["cpu"]}, {machine["threads"]} threads on '
            f'{machine["cpus"]} CPUs')


def summary_lines(facts: Mapping[str, Any],
                  checkpoint: Optional[Mapping[str, Any]] = None) -> str:
    """The lines a run opens with: what runs, on which data, model,
    precision and device, and where its results go."""
    rows = _data_rows(facts)
    if facts.get('model'):
        rows.append(('model', facts['model']['line']))
    if facts.get('weights'):
        rows.append(('weights', facts['weights']))
    rows += [('precision', facts['precision']),
             ('device', _device_line(facts['machine'])),
             ('work dir', f'{facts["work_dir"]} (this run: '
              f'{osp.basename(facts["log_dir"])}/)')]
    schedule = facts.get('schedule')
    if schedule:
        text = f'{schedule["max_iters"]} iterations'
        if schedule.get('minutes'):
            text = (f'{schedule["minutes"]:g} minutes: the schedule written '
                    f'for {text} is fitted to them once the first are timed')
        elif schedule.get('val_interval'):
            text += f', validation every {schedule["val_interval"]}'
        if schedule.get('start_iter'):
            text += f', resumed at iteration {schedule["start_iter"]}'
        rows.append(('schedule', text))
    if checkpoint:
        rows.append(('checkpoint', checkpoint_line(checkpoint)))
    head = ('training' if facts['mode'] == 'train' else 'testing') + (
        f' {facts["config"]}' if facts.get('config') else '')
    width = max(len(name) for name, _ in rows)
    return head + ''.join(f'\n  {name.ljust(width)}  {text}'
                          for name, text in rows)


def checkpoint_line(checkpoint: Mapping[str, Any]) -> str:
    """A checkpoint's path and the training it holds."""
    trained = ''
    if checkpoint.get('iter') is not None:
        trained = f', after {checkpoint["iter"]} training iterations'
    if checkpoint.get('experiment_name'):
        trained += f' of {checkpoint["experiment_name"]}'
    return f'{checkpoint["path"]}{trained}'


def scores_line(metrics: Mapping[str, Any]) -> str:
    """The overall scores (keys without a ``.<class>`` part), in order."""
    return '  '.join(f'{k}: {float(v):.4f}' for k, v in metrics.items()
                     if '.' not in k and isinstance(v, numbers.Real)
                     and not isinstance(v, bool))


@HOOKS.register_module()
class ConsoleHook(Hook):
    """The console's side of a run: a summary as it starts, one progress
    line with the ETA (in place on a terminal), the validation scores after
    each validation (the metric's per-class table comes before them), and
    where everything was written at the end.

    Everything but the progress line also goes to the log file (which has
    MMEngine's own line per logged iteration). Under a plain MMEngine
    logger (no :class:`~segkit.utils.console.ConsoleHandler`, e.g.
    ``Runner`` instead of ``SegRunner``) its lines appear among MMEngine's
    and there is no progress line.

    When the console is not a terminal, the progress line is printed as a
    line of its own about :data:`PIPED_PROGRESS_LINES` times a run, and
    at least every ``progress_seconds``.

    ``LOWEST`` priority: it reports what the other hooks have done (the
    timer's ETA, the checkpoint and report files).

    Args:
        progress_seconds: The longest wait between two progress lines on a
            console that is not a terminal.
    """

    priority = 'LOWEST'

    def __init__(self,
                 progress_seconds: float = PIPED_PROGRESS_SECONDS) -> None:
        self.progress_seconds = progress_seconds
        self._checkpoint: Optional[Dict[str, Any]] = None
        self._started = time.time()
        self._last_progress = time.monotonic()

    def _info(self, runner, message: str) -> None:
        runner.logger.info(message, extra=CONSOLE)

    def before_run(self, runner) -> None:
        self._started = time.time()
        self._checkpoint = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta') or {}
        self._checkpoint = dict(path=runner._load_from, iter=meta.get('iter'),
                                experiment_name=meta.get('experiment_name'))

    def before_train(self, runner) -> None:
        self._last_progress = time.monotonic()
        facts = run_facts(runner, 'train')
        self._info(runner, summary_lines(facts))
        padding = facts.get('padding')
        if padding:
            crop, padded = padding['crop'], padding['padded']
            runner.logger.warning(
                f'train_dataloader: RandomCrop crop_size={tuple(crop)} is '
                f'padded to {padded[0]}x{padded[1]} for the model\'s '
                f'size_divisor={padding["divisor"]}: '
                f'{padding["share"]:.0%} of every batch is padding, '
                'computed but never learnt from; expected a crop_size '
                f'that is a multiple of {padding["divisor"]}')

    def before_test(self, runner) -> None:
        self._info(runner, summary_lines(run_facts(runner, 'test'),
                                         self._checkpoint))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        console = find_console(runner.logger)
        if console is None:
            return
        done, total = runner.iter + 1, runner.max_iters
        every = max(1, round(total / PIPED_PROGRESS_LINES))
        now = time.monotonic()
        if (not console.interactive and done % every and done != total
                and now - self._last_progress < self.progress_seconds):
            return
        self._last_progress = now
        hub = runner.message_hub
        window = max(1, min(every, done, 50))
        parts = [f'iter {done}/{total}']
        for key, label, fmt in (('train/loss', 'loss', '.4f'),
                                ('train/lr', 'lr', '.2e'),
                                ('train/time', 's/iter', '.2f')):
            # A piped line reads the latest losses (get_scalar empties
            # DeferredRuntimeInfoHook's queue: about PIPED_PROGRESS_LINES
            # reads from the device a run); a terminal's line, rewritten
            # every iteration, shows them as of the last log point.
            try:
                buffer = (hub.log_scalars[key] if console.interactive else
                          hub.get_scalar(key))
            except KeyError:
                continue
            value = (buffer.current() if label == 'lr' else
                     buffer.mean(window))
            parts.append(f'{label} {value:{fmt}}')
        eta = hub.get_info('eta')
        if eta is not None:
            parts.append(f'eta {_duration(eta)}')
        console.progress('  '.join(parts))

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[Sequence] = None) -> None:
        self._evaluation_progress(runner, 'val', batch_idx,
                                  runner.val_dataloader)

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence] = None) -> None:
        self._evaluation_progress(runner, 'test', batch_idx,
                                  runner.test_dataloader)

    def after_val_epoch(self, runner, metrics: Optional[Dict] = None) -> None:
        if not metrics:
            return
        at = (f' at iteration {runner.iter}'
              if isinstance(runner._train_loop, BaseLoop) else '')
        self._info(runner, f'val{at}: {scores_line(metrics)}')

    def after_test_epoch(self, runner,
                         metrics: Optional[Dict] = None) -> None:
        if metrics:
            self._info(runner, f'test: {scores_line(metrics)}')

    def after_run(self, runner) -> None:
        lines = [f'done in {_duration(time.time() - self._started)}; '
                 f'results in {runner.work_dir}']
        hub = runner.message_hub
        last = osp.join(runner.work_dir, 'last_checkpoint')
        if isinstance(runner._train_loop, BaseLoop) and osp.isfile(last):
            with open(last) as f:
                lines.append(f'  last checkpoint  {f.read().strip()}')
            # A resumed run's hub names the best of the run it resumed,
            # which that run may have replaced since.
            best = [hub.get_info(k) for k in hub.runtime_info
                    if k.startswith('best_ckpt')
                    and osp.isfile(str(hub.get_info(k)))]
            lines += [f'  best checkpoint  {path}' for path in best]
        vis_data = osp.join(runner.log_dir, 'vis_data')
        steps = sorted(entry.name for entry in os.scandir(vis_data)
                       if entry.is_dir()) if osp.isdir(vis_data) else []
        panels = osp.join(vis_data, steps[0] if steps == ['test'] else
                          '<iteration>', '') if steps else ''
        for name, path in (
                ('log', osp.join(runner.log_dir, f'{runner.timestamp}.log')),
                ('report', osp.join(runner.log_dir, 'report.html')),
                ('scalars', osp.join(vis_data, 'scalars.json')),
                ('panels', panels)):
            if path and (name == 'panels' or osp.exists(path)):
                lines.append(f'  {name.ljust(15)}  {path}')
        self._info(runner, '\n'.join(lines))

    @staticmethod
    def _evaluation_progress(runner, mode: str, batch_idx: int,
                             loader) -> None:
        console = find_console(runner.logger)
        if console is not None and console.interactive:
            console.progress(f'{mode} {batch_idx + 1}/{len(loader)}')
