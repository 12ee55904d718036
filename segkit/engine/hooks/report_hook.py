"""Write the run's ``report.html`` when training or testing ends."""
import math
import os.path as osp
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import BaseLoop

from segkit.evaluation import ConfusionMetric
from segkit.evaluation.failures import (empty_frame_false_positives,
                                        empty_frames, worst_images)
from segkit.evaluation.functional import class_scores
from segkit.registry import HOOKS
from segkit.structures import SegDataSample
from segkit.utils import ConfigValueError, dump_json_atomic
from segkit.visualization import UniqueStems
from segkit.visualization.report import (EVALUATION_FILE, FAILURE_PANELS,
                                         FAILURES_FILE, RUN_INFO_FILE,
                                         write_report)
from ..run_facts import FACTS_KEY, run_facts
from .vis_hook import draw_panel_file


def _json_floats(values) -> list:
    """NaN as ``null``: strict JSON readers refuse NaN."""
    return [None if math.isnan(v) else v for v in values.tolist()]


def _confusion_metric(loop) -> Optional[Any]:
    """The first of the loop's metrics that keeps a ``confusion`` matrix."""
    return next((m for m in getattr(loop.evaluator, 'metrics', ())
                 if getattr(m, 'confusion', None) is not None), None)


def _predict(runner, loop, img_paths: Sequence[str]
             ) -> Iterator[SegDataSample]:
    """The model's prediction of each image of ``img_paths`` in ``loop``'s
    dataset, through its pipeline and collate function, one at a time."""
    dataset = loop.dataloader.dataset
    wanted = set(img_paths)
    index = {}
    for i in range(len(dataset)):
        path = dataset.get_data_info(i).get('img_path')
        if path in wanted:
            index[path] = i
    missing = sorted(map(str, wanted - index.keys()))
    if missing:
        raise KeyError(f'{missing[0]} is no image of the test set: a sample '
                       'without metainfo img_path cannot be drawn')
    for path in img_paths:
        batch = loop.dataloader.collate_fn([dataset[index[path]]])
        with torch.no_grad():
            [sample] = runner.model.test_step(batch)
        yield sample


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

    A test run also records where the model fails, from the per-image
    matrices of a :class:`~segkit.evaluation.ConfusionMetric`, in
    ``failures.json``: the ``worst`` images of the whole test set by the
    metric's own per-image score, and in a binary task every frame without
    an object in its ground truth on which the model predicts one (the
    ``worst`` with the most such pixels drawn). Their panels go to
    ``vis_data/test_failures/``: the model predicts these few images again,
    one at a time, so no prediction is kept while the test runs.

    Only the main process writes. The report is a summary of a run that
    already succeeded: a failure to write it is logged as a warning, never
    raised. ``VERY_LOW`` priority: it reads what the logger and SegVisHook
    wrote.

    Args:
        worst: how many of the lowest-scored test images the report shows
            (``tools/test.py --worst``); 0 records no failures.
    """

    priority = 'VERY_LOW'

    def __init__(self, worst: int = 8) -> None:
        if isinstance(worst, bool) or not isinstance(worst, int) or worst < 0:
            raise ConfigValueError(
                f'ReportHook worst={worst!r}: expected an int >= 0 (the '
                'number of worst test images to show; 0 for none)')
        self.worst = worst
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
        if self.worst and is_main_process():
            self._guarded(runner, f'no {FAILURES_FILE}',
                          self._record_failures, runner, runner.test_loop)
        self._write(runner, metrics)

    @staticmethod
    def _guarded(runner, what: str, action: Callable[..., Any],
                 *args: Any) -> Any:
        """``action(*args)``; an error is logged as a warning saying
        ``what`` is missing, and gives ``None``."""
        try:
            return action(*args)
        except Exception as err:  # noqa: BLE001 -- see the class docstring
            runner.logger.warning(f'ReportHook: {what}: '
                                  f'{type(err).__name__}: {err}')
            return None

    def _facts(self, runner, mode: str) -> None:
        self._guarded(runner, 'no run facts', run_facts, runner, mode)

    def _record_evaluation(self, runner, loop, source: str) -> None:
        if is_main_process():
            self._guarded(runner, f'no {EVALUATION_FILE}',
                          self._dump_evaluation, runner, loop, source)

    @staticmethod
    def _dump_evaluation(runner, loop, source: str) -> None:
        metric = _confusion_metric(loop)
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

    def _record_failures(self, runner, loop) -> None:
        """``failures.json`` and the panels it names (see the class
        docstring)."""
        metric = _confusion_metric(loop)
        if not isinstance(metric, ConfusionMetric):
            return
        confusion = metric.image_confusion
        worst = worst_images(metric.score_images(confusion).tolist(),
                             self.worst)
        binary = confusion.shape[-1] == 2
        false_positives = (empty_frame_false_positives(confusion)
                           if binary else [])
        drawn = list(dict.fromkeys(
            [i for i, _ in worst]
            + [i for i, _ in false_positives[:self.worst]]))
        panels = dict(zip(drawn, self._draw(
            runner, loop, [metric.image_paths[i] for i in drawn])))

        def entries(found, key: str) -> List[Dict[str, Any]]:
            """The found images, those among the first ``worst`` drawn."""
            return [{'image': metric.image_paths[i], key: value,
                     'panel': panels[i] if rank < self.worst else None}
                    for rank, (i, value) in enumerate(found)]

        record = dict(rule=metric.score_rule, images=len(confusion),
                      worst=entries(worst, 'score'))
        if binary:
            record.update(empty_frames=int(empty_frames(confusion).sum()),
                          false_positives=entries(false_positives, 'pixels'))
        dump_json_atomic(record, osp.join(runner.log_dir, FAILURES_FILE))

    @staticmethod
    def _draw(runner, loop, img_paths: Sequence[str]) -> List[str]:
        """Panels of ``img_paths`` in ``vis_data/test_failures``, as paths
        relative to the run folder."""
        stems = UniqueStems()
        out_dir = osp.join(runner.log_dir, FAILURE_PANELS)
        return [osp.relpath(draw_panel_file(runner.visualizer, sample, stems,
                                            out_dir, 'test_failures'),
                            runner.log_dir)
                for sample in _predict(runner, loop, img_paths)]

    def _write(self, runner, metrics: Optional[Dict[str, float]] = None
               ) -> None:
        if not is_main_process():
            return
        path = self._guarded(runner,
                             f'no report written in {runner.log_dir}',
                             self._report, runner, metrics)
        if path is not None:
            runner.logger.info(f'Report: {path}')

    def _report(self, runner,
                metrics: Optional[Dict[str, float]]) -> Path:
        """Record the run's facts; write the report and return its path."""
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
        return write_report(runner.log_dir, cfg=runner.cfg, metrics=metrics,
                            facts=facts)
