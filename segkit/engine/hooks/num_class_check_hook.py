"""Fail before the first iteration when model and dataset disagree."""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from segkit.registry import HOOKS
from segkit.utils import ConfigValueError


@HOOKS.register_module()
class NumClassCheckHook(Hook):
    """Check ``model.num_classes`` against the dataset's ``classes``.

    A mismatch otherwise shows up late and obscurely: as a CUDA assert in the
    loss, or as a silently wrong metric. A binary model (``num_classes=1``,
    one sigmoid output) matches a dataset with two classes.
    """

    def before_train(self, runner) -> None:
        self._check(runner, runner.train_dataloader.dataset, 'train')

    def before_val(self, runner) -> None:
        self._check(runner, runner.val_dataloader.dataset, 'val')

    def before_test(self, runner) -> None:
        self._check(runner, runner.test_dataloader.dataset, 'test')

    @staticmethod
    def _check(runner, dataset, split: str) -> None:
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        classes = dataset.metainfo.get('classes')
        num_classes = getattr(model, 'num_classes', None)
        if classes is None or num_classes is None:
            return
        if num_classes == len(classes) or (num_classes == 1
                                           and len(classes) == 2):
            return
        # The config key: the decode head's in an EncoderDecoder.
        key = ('model.decode_head.num_classes'
               if hasattr(model, 'decode_head') else 'model.num_classes')
        raise ConfigValueError(
            f'{key}={num_classes} but the {split} dataset '
            f'({type(dataset).__name__}) has {len(classes)} classes '
            f'{tuple(classes)}: set {key}={len(classes)}'
            + (' (or 1 for a single sigmoid output)'
               if len(classes) == 2 else ''))
