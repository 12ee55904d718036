"""Write the run's ``report.html`` when training or testing ends."""
import math
import os.path as osp
import time
from typing import Any, Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import BaseLoop

from segkit.evaluation.functional import class_scores
from segkit.registry import HOOKS
from segkit.utils import dump_json_atomic
from segkit.visualization.report import (EVALUATION_FILE, RUN_INFO_FILE,
                                         write_report)
from ..run_facts import FACTS_KEY, run_facts


def _json_floats(values) -> list:
    """NaN as ``null``: strict JSON readers refuse NaN."""
    return [None if math.isnan(v) else v for v in values.tolist()]


@HOOKS.register_module()
class ReportHook(Hook):
    """Write ``<work_dir>/<timestamp>/report.html`` (see
    :func:`segkit.visualization.report.write_report`).

    Training runs get it at ``after_run``, from the logged scalars;
    tools/test.py runs after the test epoch, with the test metrics (MMEngine
    calls ``after_run`` for those too, hence the ``after_train`` flag).
    Beside it the hook records what the report shows besides the scalars:
    ``run_info.json``, the run's facts (``segkit.engine.run_facts``: machine,
    precision, versions, commit, model size, data; the wall time; for a test
    run the checkpoint's iteration, experiment and training config), and
    ``evaluation.json``, the last evaluation's confusion matrix and
    per-class IoU, Dice, Acc and Precision (from a metric with a
    ``confusion`` attribute: ``IoUMetric``, ``DiceMetric``).

    Only the main process writes. The report is a summary of a run that
    already succeeded: a failure to write it is logged as a warning, never
    raised. ``VERY_LOW`` priority: it reads what the logger and SegVisHook
    wrote.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._trained = False
        self._started = time.time()
        self._checkpoint: Optional[Dict[str, Any]] = None

    def before_run(self, runner) -> None:
        self._trained = False
        self._started = time.time()
        self._checkpoint = None

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta') or {}
        self._checkpoint = dict(
            path=runner._load_from, iter=meta.get('iter'),
            epoch=meta.get('epoch'),
            experiment_name=meta.get('experiment_name'),
            time=meta.get('time'), config=meta.get('cfg'))

    def before_train(self, runner) -> None:
        self._facts(runner, 'train')

    def before_test(self, runner) -> None:
        self._facts(runner, 'test')

    def after_train(self, runner) -> None:
        self._trained = True

    def after_val_epoch(self, runner, metrics=None) -> None:
        step = (f'iteration {runner.iter}'
                if isinstance(runner._train_loop, BaseLoop) else '')
        self._record_evaluation(runner, runner.val_loop,
                                f'validation at {step}' if step else 'val')

    def after_run(self, runner) -> None:
        if self._trained:
            self._write(runner)

    def after_test_epoch(self,
                         runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        self._record_evaluation(runner, runner.test_loop, 'test')
        self._write(runner, metrics)

    @staticmethod
    def _warn(runner, what: str, err: Exception) -> None:
        runner.logger.warning(f'ReportHook: {what}: {type(err).__name__}: '
                              f'{err}')

    def _facts(self, runner, mode: str) -> None:
        try:
            run_facts(runner, mode)
        except Exception as err:  # noqa: BLE001 -- see the class docstring
            self._warn(runner, 'no run facts', err)

    def _record_evaluation(self, runner, loop, source: str) -> None:
        if not is_main_process():
            return
        try:
            self._dump_evaluation(runner, loop, source)
        except Exception as err:  # noqa: BLE001 -- see the class docstring
            self._warn(runner, f'no {EVALUATION_FILE}', err)

    @staticmethod
    def _dump_evaluation(runner, loop, source: str) -> None:
        metric = next((m for m in getattr(loop.evaluator, 'metrics', ())
                       if getattr(m, 'confusion', None) is not None), None)
        if metric is None:
            return
        confusion = metric.confusion
        classes = list((metric.dataset_meta or {}).get('classes') or ())
        if len(classes) != len(confusion):
            classes = [str(i) for i in range(len(confusion))]
        scores = class_scores(confusion)
        dump_json_atomic(
            dict(source=source, classes=[str(c) for c in classes],
                 confusion=confusion.tolist(),
                 per_class={name: _json_floats(getattr(scores, field))
                            for name, field in (('IoU', 'iou'),
                                                ('Dice', 'dice'),
                                                ('Acc', 'acc'),
                                                ('Precision', 'precision'))}),
            osp.join(runner.log_dir, EVALUATION_FILE))

    def _write(self, runner, metrics: Optional[Dict[str, float]] = None
               ) -> None:
        if not is_main_process():
            return
        try:
            facts = dict(runner.message_hub.get_info(FACTS_KEY) or {})
            facts.update(started=self._started,
                         wall_time=time.time() - self._started)
            if isinstance(runner._train_loop, BaseLoop):
                facts['end_iter'] = runner.iter
                # A time budget sets the length after the run started.
                facts['schedule'] = dict(facts.get('schedule') or {},
                                         max_iters=runner.max_iters)
            elif self._checkpoint is not None:
                facts['checkpoint'] = self._checkpoint
            dump_json_atomic(facts, osp.join(runner.log_dir, RUN_INFO_FILE))
            path = write_report(runner.log_dir, cfg=runner.cfg,
                                metrics=metrics, facts=facts)
        except Exception as err:  # noqa: BLE001 -- see the class docstring
            self._warn(runner, f'no report written in {runner.log_dir}', err)
        else:
            runner.logger.info(f'Report: {path}')
