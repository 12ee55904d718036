"""Draw predictions during validation and testing, so a run shows what the
model does, not only its scores."""
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.runner import BaseLoop, EpochBasedTrainLoop

from segkit.registry import HOOKS
from segkit.structures import SegDataSample
from segkit.visualization import SegLocalVisualizer, UniqueStems, read_rgb
from .hook_config import configure_hook

TEST_FOLDER = 'test'


@HOOKS.register_module()
class SegVisHook(Hook):
    """Panels (:class:`SegLocalVisualizer`) of the first ``max_samples``
    samples of every validation and test run (of every test sample with
    ``test_out_dir``).

    Files: ``<log_dir>/vis_data/<step>/<image stem>.png`` for validation,
    ``<step>`` being the training iteration (the epoch for an epoch-based
    loop, 0 outside training); ``<log_dir>/vis_data/test/<stem>.png`` for a
    test run, or ``<test_out_dir>/<stem>.png`` when given. Same-named images
    from different folders get ``<stem>_1``, ``<stem>_2``... Each panel also
    goes, as ``val/<stem>`` at that step (``test/<stem>`` at step 0), to
    the visualizer's other backends (TensorBoard, W&B).

    Only rank 0 draws, the samples of its own shard of the data.

    Args:
        max_samples: panels per run; ``None`` draws every sample.
        alpha: opacity of the prediction in the overlay tile.
        test_out_dir: draw every test sample, into this folder instead of
            ``vis_data/test`` (``tools/test.py --show-dir``).
    """

    def __init__(self,
                 max_samples: Optional[int] = 8,
                 alpha: float = 0.5,
                 test_out_dir: Optional[str] = None) -> None:
        if max_samples is not None and (not isinstance(max_samples, int)
                                        or max_samples < 0):
            raise ValueError(f'max_samples={max_samples!r}: expected an int '
                             '>= 0, or None for every sample')
        self.max_samples = max_samples
        self.alpha = alpha
        self.test_out_dir = test_out_dir
        self._start_run('', '', 0, max_samples)

    def before_run(self, runner) -> None:
        if not isinstance(runner.visualizer, SegLocalVisualizer):
            raise TypeError(
                f'SegVisHook draws with a SegLocalVisualizer, but the '
                f'runner\'s visualizer is {type(runner.visualizer).__name__}:'
                " set visualizer=dict(type='SegLocalVisualizer', ...)")

    def before_val(self, runner) -> None:
        step = self._train_step(runner)
        self._start_run('val', osp.join(runner.log_dir, 'vis_data',
                                        str(step)), step, self.max_samples)

    def before_test(self, runner) -> None:
        if self.test_out_dir is None:
            self._start_run('test', osp.join(runner.log_dir, 'vis_data',
                                             TEST_FOLDER), 0,
                            self.max_samples)
        else:
            self._start_run('test', self.test_out_dir, 0, None)

    def after_val_iter(self, runner, batch_idx: int, data_batch=None,
                       outputs: Optional[Sequence[SegDataSample]] = None
                       ) -> None:
        self._draw(runner, outputs or ())

    def after_test_iter(self, runner, batch_idx: int, data_batch=None,
                        outputs: Optional[Sequence[SegDataSample]] = None
                        ) -> None:
        self._draw(runner, outputs or ())

    def _start_run(self, tag: str, out_dir: str, step: int,
                   limit: Optional[int]) -> None:
        """Where this run's panels go, and how many; none drawn yet."""
        self._tag = tag
        self._out_dir = out_dir
        self._step = step
        self._limit = limit
        self._drawn = 0
        self._stems = UniqueStems()

    @staticmethod
    def _train_step(runner) -> int:
        """The training epoch or iteration validation runs after; 0 for a
        validation without training. Like MMEngine's LoggerHook, the train
        loop is looked at only if built: ``runner.iter`` would build it."""
        loop = runner._train_loop
        if not isinstance(loop, BaseLoop):
            return 0
        return loop.epoch if isinstance(loop, EpochBasedTrainLoop) else \
            loop.iter

    def _draw(self, runner, samples: Sequence[SegDataSample]) -> None:
        if not is_main_process():
            return
        for sample in samples:
            if self._limit is not None and self._drawn >= self._limit:
                return
            self._drawn += 1
            draw_panel_file(runner.visualizer, sample, self._stems,
                            self._out_dir, self._tag, self._step, self.alpha)


def draw_panel_file(visualizer: SegLocalVisualizer,
                    sample: SegDataSample,
                    stems: UniqueStems,
                    out_dir: str,
                    tag: str,
                    step: int = 0,
                    alpha: float = 0.5) -> str:
    """Draw ``sample``'s panel into ``<out_dir>/<stem>.png`` and, as
    ``<tag>/<stem>`` at ``step``, to the visualizer's other backends.

    Args:
        visualizer: The runner's visualizer.
        sample: A prediction with ``gt_sem_seg`` and metainfo ``img_path``,
            the input image it reads.
        stems: The names already taken in ``out_dir``.
        out_dir: The folder of the panel.
        tag: The backends' name prefix, e.g. ``'val'``.
        step: The backends' step.
        alpha: Opacity of the prediction in the overlay tile.

    Returns:
        The panel's path.
    """
    img_path = sample.metainfo.get('img_path')
    if img_path is None:
        raise KeyError('drawing a sample needs its metainfo img_path; it has '
                       f'{sorted(sample.metainfo)}')
    stem = stems.claim(img_path)
    out_file = osp.join(out_dir, stem + '.png')
    visualizer.add_datasample(f'{tag}/{stem}',
                              read_rgb(img_path, sample.pred_sem_seg.shape),
                              sample, step=step, out_file=out_file,
                              alpha=alpha)
    return out_file


def configure_show_dir(cfg: Config, show_dir: str) -> None:
    """Make ``cfg``'s test run draw every sample into ``show_dir`` (adding a
    :class:`SegVisHook` to ``custom_hooks`` if the config has none)."""
    configure_hook(cfg, 'SegVisHook', test_out_dir=show_dir)
