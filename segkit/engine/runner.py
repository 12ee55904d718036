"""MMEngine's Runner with segkit's console, checkpoints that know their
model, and no trace of a run that failed to start."""
import os
import os.path as osp
import shutil
from typing import Any, Optional

import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.logging import MMLogger
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from segkit.registry import RUNNERS
from segkit.utils import ensure_writable_dir
from segkit.utils.console import install_console
from .compile import compile_network
from .hooks.preemption_hook import TrainingPreempted
from .resume import (MODEL_IDENTITY_KEY, RUN_SHAPE_KEY, check_resume_model,
                     model_identity, resume_changes, run_shape)
from .run_config import RunConfig
from .run_facts import FACTS_KEY

# What MMEngine writes into a run folder before the first iteration: the
# log and the config as run. A failed start leaves nothing else.
_START_FILES = ('{timestamp}.log', osp.join('vis_data', 'config.py'))
# LoggerHook(interval=AUTO) logs at auto_log_interval(the run's length).
AUTO = 'auto'
# ... and where the length is not in the config (an epoch-based loop).
LONG_RUN_LOG_INTERVAL = 50


def auto_log_interval(iterations: int) -> int:
    """The log interval of a run of ``iterations`` when the config leaves it
    to segkit: about 50 points on each curve, every iteration for a run
    under 100, at most every 50 iterations."""
    return max(1, min(LONG_RUN_LOG_INTERVAL, iterations // 50))


def settle_log_interval(default_hooks: Any, train_cfg: Any) -> Any:
    """``default_hooks`` with a ``logger`` interval of ``'auto'`` replaced
    by :func:`auto_log_interval` of ``train_cfg``'s ``max_iters`` (MMEngine's
    LoggerHook takes only an int); anything else unchanged."""
    logger = (default_hooks or {}).get('logger')
    if not isinstance(logger, dict) or logger.get('interval') != AUTO:
        return default_hooks
    iters = (train_cfg or {}).get('max_iters')
    interval = auto_log_interval(iters) if isinstance(
        iters, int) else LONG_RUN_LOG_INTERVAL
    return {**default_hooks, 'logger': {**logger, 'interval': interval}}


@RUNNERS.register_module()
class SegRunner(Runner):
    """The Runner every segkit config names (``runner_type='SegRunner'``).

    The differences from MMEngine's, none of which changes what is learnt:

    - **Console.** The logger's console handler becomes a
      :class:`~segkit.utils.console.ConsoleHandler`: the environment, config
      and hook dump go to the log file only; the console shows warnings and
      the records segkit marks for it (``ConsoleHook``).
    - **Model identity.** Every checkpoint's meta records the model config
      (:func:`~segkit.engine.resume.model_identity`), and resuming from a
      checkpoint of another model is refused before anything is loaded.
    - **Log interval.** ``LoggerHook(interval='auto')`` (the default
      runtime's) logs :func:`auto_log_interval` of ``train_cfg.max_iters``,
      so a 40-iteration run draws curves of 40 points and a 40k one logs
      every 50; a number in the config is kept as it is (and scaled with
      ``max_iters`` by ``segkit.apis.run_length`` when that is overridden).
    - **Failed starts.** A run that stops (an error, Ctrl-C) before it
      recorded anything removes its ``<timestamp>/`` folder, and the work
      dir too if the run created it and nothing else is in it. A work dir
      it cannot write stops it before anything is built
      (:func:`~segkit.utils.fileio.ensure_writable_dir`).
    - **channels_last weights.** Where the data preprocessor hands the
      network ``channels_last`` batches, the weights are converted too,
      before DDP wraps the model: the gradients then have the strides of
      DDP's buckets (no "Grad strides do not match bucket view strides"
      copy every step), and no convolution converts its weight per call.
    - **compile.** ``compile=True`` (or a dict of ``torch.compile``
      arguments) compiles the network -- backbone, neck and heads -- not
      MMEngine's whole ``train_step``, whose optimiser wrapper and
      preprocessing recompile at every new crop shape; a part that fails
      to compile runs eager after one warning line
      (:func:`~segkit.engine.compile.compile_network`).
    - **Config text.** The config is formatted once, not at each of the
      half-dozen places a run writes it (:class:`RunConfig`).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs['default_hooks'] = settle_log_interval(
            kwargs.get('default_hooks'), kwargs.get('train_cfg'))
        if isinstance(kwargs.get('cfg'), Config):
            kwargs['cfg'] = RunConfig.of(kwargs['cfg'])
        work_dir = kwargs.get('work_dir', args[1] if len(args) > 1 else None)
        self._created_work_dir: Optional[str] = (
            osp.abspath(work_dir)
            if work_dir and not osp.exists(work_dir) else None)
        try:
            if work_dir:
                ensure_writable_dir(work_dir, 'the work dir', '--work-dir')
            super().__init__(*args, **kwargs)
        except BaseException:
            self._discard_failed_start()
            raise

    def wrap_model(self, model_wrapper_cfg: Optional[dict],
                   model: nn.Module) -> nn.Module:
        if getattr(getattr(model, 'data_preprocessor', None),
                   'channels_last', False):
            model = model.to(memory_format=torch.channels_last)
        return super().wrap_model(model_wrapper_cfg, model)

    def _maybe_compile(self, target: str) -> None:
        options = self.cfg.get('compile')
        if not options:
            return
        model = self.model.module if is_model_wrapper(
            self.model) else self.model
        parts = compile_network(
            model, **(options if isinstance(options, dict) else {}))
        self.logger.info(f'torch.compile: {", ".join(parts)} (compiled on '
                         'first use: the first iterations are slow)')

    def build_logger(self, log_level: Any = 'INFO',
                     log_file: Optional[str] = None,
                     **kwargs: Any) -> MMLogger:
        logger = super().build_logger(log_level, log_file, **kwargs)
        install_console(logger)
        return logger

    def train(self):
        def checked_train():
            if self._resume and self._load_from and self.cfg.get('model'):
                meta = check_resume_model(self._load_from, self.cfg.model)
                changes = resume_changes(meta, self.cfg)
                if changes:
                    self.logger.warning(changes)
            return super(SegRunner, self).train()

        return self._discarding_failed_start(checked_train)

    def val(self) -> dict:
        return self._discarding_failed_start(super().val)

    def test(self) -> dict:
        return self._discarding_failed_start(super().test)

    def save_checkpoint(self, out_dir: str, filename: str, *args: Any,
                        meta: Optional[dict] = None, **kwargs: Any) -> None:
        meta = dict(meta or {})
        if self.cfg.get('model'):
            meta[MODEL_IDENTITY_KEY] = model_identity(self.cfg.model)
        meta[RUN_SHAPE_KEY] = run_shape(self.cfg)
        super().save_checkpoint(out_dir, filename, *args, meta=meta,
                                **kwargs)

    def resume(self, filename: str, *args: Any, **kwargs: Any) -> None:
        # The run facts stay out of checkpoints (not a resumed key), yet the
        # hub lists them and warns when a key it lists is not defined.
        if FACTS_KEY not in self.message_hub.runtime_info:
            self.message_hub.update_info(FACTS_KEY, None, resumed=False)
        super().resume(filename, *args, **kwargs)

    def _discarding_failed_start(self, run):
        try:
            return run()
        except TrainingPreempted:
            raise  # it trained and saved: its log says where it stopped
        except BaseException:
            self._discard_failed_start()
            raise

    def _discard_failed_start(self) -> None:
        """Remove the run folder if it holds only what every start writes,
        and the config dump (when named after the run), then the work dir
        if this run created it and left nothing else in it. Rank 0 only:
        the folders are shared."""
        log_dir = getattr(self, '_log_dir', None)
        if not log_dir or not osp.isdir(log_dir) or not is_main_process():
            return
        expected = {osp.join(log_dir, name.format(timestamp=self.timestamp))
                    for name in _START_FILES}
        written = {osp.join(root, name) for root, _, names in os.walk(log_dir)
                   for name in names}
        if not written <= expected:
            return
        shutil.rmtree(log_dir, ignore_errors=True)
        # Runner.dump_config: named after the config file, else the run.
        dump = osp.join(self.work_dir, osp.basename(
            self.cfg.filename or f'{self.timestamp}.py'))
        if self.cfg.filename is None and osp.isfile(dump):
            os.remove(dump)
        work_dir = self._created_work_dir
        if work_dir and osp.isdir(work_dir) and set(
                os.listdir(work_dir)) <= {osp.basename(dump)}:
            shutil.rmtree(work_dir, ignore_errors=True)
