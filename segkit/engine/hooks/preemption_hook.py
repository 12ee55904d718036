"""Stop training cleanly when the cluster or the user asks: SIGTERM,
SIGUSR1 or Ctrl-C (SIGINT) finish the iteration, save a complete
checkpoint, exit with a status to requeue on."""
import functools
import os
import os.path as osp
import signal
import threading
from typing import (Callable, Dict, Iterator, NoReturn, Optional,
                    Sequence, Union)

import torch
from mmengine.dist import (all_reduce, barrier, is_distributed,
                           is_main_process)
from mmengine.hooks import CheckpointHook, Hook
from mmengine.runner import BaseLoop

from segkit.registry import HOOKS
from ..atomic_backend import ATOMIC_LOCAL_BACKEND, AtomicLocalBackend

#: Exit status of a run stopped by :class:`PreemptionHook` after saving its
#: checkpoint: ``os.EX_TEMPFAIL`` ("temporary failure, try again later").
#: Requeue scripts test for it (tools/slurm_train.sh); it is none of 0, 1,
#: argparse's 2, the shell's 126/127 or a 128+N death by signal.
EXIT_PREEMPTED = 75
#: tools/torchrun.sh sets this to a file each preempted rank writes the
#: checkpoint path into: torchrun reports any worker's non-zero status as
#: its own 1, so the wrapper reads the marker to exit with EXIT_PREEMPTED.
PREEMPTED_MARKER_ENV = 'SEGKIT_PREEMPTED_MARKER'

STDERR = 2  # the file descriptor
_Handler = Union[Callable, int, None]


class TrainingPreempted(Exception):
    """Training stopped on a signal after its checkpoint was saved."""

    def __init__(self, reason: str, iteration: int, checkpoint: str) -> None:
        super().__init__(
            f'{reason}: stopped after iteration {iteration}, checkpoint '
            f'{checkpoint}; --resume continues from it')
        self.iteration = iteration
        self.checkpoint = checkpoint


class _ValidationAbandoned(Exception):
    """Validation failed on another rank after a signal: stop here too."""


class _StopBeforeNextBatch:
    """The train loop's batch iterator, with the hook's stop check after
    each fetch: before the next iteration starts."""

    def __init__(self, batches: Iterator, hook: 'PreemptionHook',
                 runner) -> None:
        self.batches, self.hook, self.runner = batches, hook, runner

    def __iter__(self) -> '_StopBeforeNextBatch':
        return self

    def __next__(self):
        try:
            batch = next(self.batches)
        except Exception:
            # The DataLoader workers got the signal too and died with the
            # batch this process was waiting for: stop all the same.
            if self.hook.received is None:
                raise
            batch = None
        if self.hook.stop_requested():
            self.hook.stop(self.runner)
        return batch


def _without_stop_check(batches: Iterator) -> Iterator:
    """``batches`` without its :class:`_StopBeforeNextBatch`, wherever that
    is in a chain of iterator wrappers (each keeps the iterator it wraps
    as ``batches``; DevicePrefetchHook's may wrap it)."""
    if isinstance(batches, _StopBeforeNextBatch):
        return batches.batches
    if hasattr(batches, 'batches'):
        batches.batches = _without_stop_check(batches.batches)
    return batches


def _any_rank(flag: bool) -> bool:
    """Whether ``flag`` is true on any rank: a collective every rank calls
    at the same point (just ``flag`` without distribution)."""
    if not is_distributed():
        return flag
    tensor = torch.tensor(float(flag))
    all_reduce(tensor, op='max')
    return bool(tensor.item())


@HOOKS.register_module()
class PreemptionHook(Hook):
    """Turn a preemption signal into a checkpoint and a clean exit.

    Slurm sends SIGTERM (or, with ``--signal``, SIGUSR1) some time before
    it kills a job; Kubernetes sends SIGTERM. During training the signal
    only sets a flag, so the iteration in flight finishes (with the
    validation, if one is due then). When the next batch has been fetched,
    every rank agrees through one all-reduce, the checkpoint of the
    iterations done is saved (through the config's iteration-based
    ``CheckpointHook``, i.e. ``AtomicCheckpointHook``'s atomic writes,
    unless the periodic save just wrote it; without one,
    ``runner.save_checkpoint`` with the atomic backend), all ranks wait at a
    barrier until rank 0 has written it, the log says where training
    stopped, and :class:`TrainingPreempted` is raised; tools/train.py exits
    with :data:`EXIT_PREEMPTED`. The fetched batch is dropped: ``--resume``
    replays the data stream and fetches it again.

    Slurm and ``timeout`` signal the whole process group, so DataLoader
    workers die with the batches they were preparing. While a stop is
    pending, their death is no crash, and a batch they cannot deliver, to
    training or to a validation under way, stops training there just the
    same. Ranks whose workers had their batches ready finish validating;
    before they gather the results, every rank agrees whether any failed,
    so all stop together instead of waiting in different collectives. A
    second signal while saving is absorbed (torchrun forwards the SIGTERM
    Slurm already sent); were the process killed anyway, the atomic
    writes leave the previous checkpoint intact. A signal during the last
    iteration lets training end normally. The signals are handled from the
    start of the train loop to its end, however it ends, and then are the
    caller's again.

    Ctrl-C (SIGINT, to every process of the terminal's foreground group)
    stops the same way, after a line on stderr saying so; a second Ctrl-C
    is the caller's again (Python's ``KeyboardInterrupt``), so it stops at
    once, as it would without the hook. Needs an iteration-based loop
    (``IterBasedTrainLoop``, every segkit schedule) in the main thread;
    elsewhere it warns and leaves the signals alone.

    Args:
        signals: Names of the signals that stop training.
    """

    def __init__(self,
                 signals: Sequence[str] = ('SIGTERM', 'SIGUSR1', 'SIGINT')):
        unknown = [name for name in signals
                   if not isinstance(getattr(signal, str(name), None),
                                     signal.Signals)]
        if unknown or not signals:
            raise ValueError(f'PreemptionHook signals={list(signals)!r}: '
                             'expected names such as SIGTERM or SIGUSR1')
        self.signals = [signal.Signals[name] for name in signals]
        self.received: Optional[str] = None
        self._previous: Dict[int, _Handler] = {}

    def before_run(self, runner) -> None:
        loop = runner._train_loop  # built by now in a training run
        if not isinstance(loop, BaseLoop):
            return  # a test or validation run
        if threading.current_thread() is not threading.main_thread() or \
                not hasattr(loop, 'dataloader_iterator'):
            runner.logger.warning(
                f'PreemptionHook: {type(loop).__name__} in thread '
                f'{threading.current_thread().name!r}: preemption signals '
                'are handled for an IterBasedTrainLoop in the main thread '
                'only; here one ends training without a checkpoint')
            return
        run = loop.run

        @functools.wraps(run)
        def run_stopping_on_signals():
            self._arm(runner)
            try:
                return run()
            finally:  # however training ends, the caller's handlers return
                self._disarm(runner)

        loop.run = run_stopping_on_signals

    def _arm(self, runner) -> None:
        self.received = None
        loop = runner.train_loop
        loop.dataloader_iterator = _StopBeforeNextBatch(
            loop.dataloader_iterator, self, runner)
        if runner.val_loop is not None:
            runner.val_loop.run = self._stopping_on_failure(
                runner.val_loop.run, runner)
            evaluator = runner.val_loop.evaluator
            evaluator.evaluate = self._unless_abandoned(evaluator.evaluate)
        for sig in self.signals:
            self._previous[sig] = signal.signal(sig, self._on_signal)
        if callable(signal.getsignal(signal.SIGCHLD)):
            # torch's DataLoader handler, which raises when a worker dies by
            # a signal: the preemption signal may have killed it too.
            self._previous[signal.SIGCHLD] = signal.signal(
                signal.SIGCHLD, self._on_child_exit)

    def _disarm(self, runner) -> None:
        while self._previous:
            sig, handler = self._previous.popitem()
            signal.signal(sig, handler)
        loop = runner.train_loop
        loop.dataloader_iterator = _without_stop_check(
            loop.dataloader_iterator)
        for wrapped in (loop, runner.val_loop):
            if wrapped is not None:
                vars(wrapped).pop('run', None)
        if runner.val_loop is not None:
            vars(runner.val_loop.evaluator).pop('evaluate', None)

    def _on_signal(self, signum: int, frame) -> None:
        if signum == signal.SIGINT and self.received is None:
            # The next Ctrl-C is the caller's: an impatient user stops now.
            signal.signal(signum, self._previous[signum])
            # os.write: print() may be writing when the signal comes.
            if is_main_process():
                os.write(STDERR, (
                    'Ctrl-C: finishing this iteration and saving a '
                    'checkpoint; press Ctrl-C again to stop at once\n'
                ).encode())
        self.received = self.received or signal.Signals(signum).name

    def _on_child_exit(self, signum: int, frame) -> None:
        if self.received is None:
            self._previous[signal.SIGCHLD](signum, frame)

    def _stopping_on_failure(self, run: Callable, runner) -> Callable:
        """``run`` (the validation loop's), stopping training if it fails
        after a signal (its DataLoader workers died of it too) here or on
        another rank."""

        @functools.wraps(run)
        def guarded():
            try:
                return run()
            except _ValidationAbandoned:
                self.stop(runner)
            except Exception:
                if self.received is None:
                    raise
                # The other ranks ask in their evaluate(): see below.
                _any_rank(True)
                self.stop(runner)

        return guarded

    @staticmethod
    def _unless_abandoned(evaluate: Callable) -> Callable:
        """``evaluate`` (the validation evaluator's), first asking every
        rank whether its validation failed: it gathers results from all."""

        @functools.wraps(evaluate)
        def checked(*args, **kwargs):
            if _any_rank(False):
                raise _ValidationAbandoned
            return evaluate(*args, **kwargs)

        return checked

    def stop_requested(self) -> bool:
        """Whether any rank got a signal; every rank gets the same answer."""
        return _any_rank(self.received is not None)

    def stop(self, runner) -> NoReturn:
        """Save the iterations done, log, raise :class:`TrainingPreempted`."""
        done = runner.iter
        checkpoint = self._save(runner, done)
        barrier()
        reason = self.received or 'a preemption signal on another rank'
        runner.logger.warning(
            f'{reason}: stopped after iteration {done}/{runner.max_iters}, '
            f'checkpoint {checkpoint} is complete; exiting with status '
            f'{EXIT_PREEMPTED}, --resume continues')
        marker = os.environ.get(PREEMPTED_MARKER_ENV)
        if marker:
            AtomicLocalBackend().put_text(checkpoint, marker)
        runner.call_hook('after_run')  # flush and close the vis backends
        raise TrainingPreempted(reason, done, checkpoint)

    @staticmethod
    def _save(runner, done: int) -> str:
        """The checkpoint after ``done`` iterations; saved unless the
        periodic save has just written it (or it was resumed from)."""
        meta = dict(epoch=runner.epoch, iter=done)
        hook = next((h for h in runner.hooks
                     if isinstance(h, CheckpointHook) and not h.by_epoch),
                    None)
        if hook is not None:
            if osp.basename(hook.last_ckpt or '') != \
                    hook.filename_tmpl.format(done):
                hook._save_checkpoint_with_step(runner, done, meta)
            return hook.last_ckpt
        path = osp.join(runner.work_dir, f'iter_{done}.pth')
        runner.save_checkpoint(
            runner.work_dir, osp.basename(path), meta=meta, by_epoch=False,
            backend_args=dict(backend=ATOMIC_LOCAL_BACKEND))
        if is_main_process():
            AtomicLocalBackend().put_text(
                path, osp.join(runner.work_dir, 'last_checkpoint'))
        return path
