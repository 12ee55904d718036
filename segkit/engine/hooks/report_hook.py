"""Write the run's ``report.html`` when training or testing ends."""
from typing import Dict, Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from segkit.registry import HOOKS
from segkit.visualization.report import write_report


@HOOKS.register_module()
class ReportHook(Hook):
    """Write ``<work_dir>/<timestamp>/report.html`` (see
    :func:`segkit.visualization.report.write_report`).

    Training runs get it at ``after_run``, from the logged scalars;
    tools/test.py runs after the test epoch, with the test metrics (MMEngine
    calls ``after_run`` for those too, hence the ``after_train`` flag). Only
    the main process writes. The report is a summary of a run that already
    succeeded: a failure to write it is logged as a warning, never raised.
    ``VERY_LOW`` priority: it reads what the logger and SegVisHook wrote.
    """

    priority = 'VERY_LOW'

    def __init__(self) -> None:
        self._trained = False

    def after_train(self, runner) -> None:
        self._trained = True

    def after_run(self, runner) -> None:
        if self._trained:
            self._write(runner)

    def after_test_epoch(self,
                         runner,
                         metrics: Optional[Dict[str, float]] = None) -> None:
        self._write(runner, metrics)

    @staticmethod
    def _write(runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if not is_main_process():
            return
        try:
            path = write_report(runner.log_dir, cfg=runner.cfg,
                                metrics=metrics)
        except Exception as err:  # noqa: BLE001 -- see the class docstring
            runner.logger.warning(
                f'ReportHook: no report written in {runner.log_dir}: '
                f'{type(err).__name__}: {err}')
        else:
            runner.logger.info(f'Report: {path}')
