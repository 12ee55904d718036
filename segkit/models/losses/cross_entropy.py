"""Pixel-wise softmax cross-entropy for multi-class segmentation."""
import os
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from segkit.datasets.class_weights import load_class_weights
from segkit.registry import MODELS
from .utils import SegLoss, masked_mean


@MODELS.register_module()
class CrossEntropyLoss(SegLoss):
    """Softmax cross-entropy over the pixels of logits with C >= 2 classes.

    ``loss = sum_i w[y_i] * -log(softmax(x_i)[y_i]) / D`` over non-ignored
    pixels ``i``, where ``w`` is ``class_weight`` (all 1 by default) and ``D``
    is ``sum_i w[y_i]`` when ``avg_non_ignore`` (exactly ``F.cross_entropy``'s
    ``'mean'``), otherwise the number of all pixels, ignored ones included
    (mmseg's old default, which shrinks the loss of images with much void).
    With every pixel ignored the loss is 0, not NaN.

    Args:
        class_weight: one weight per class, e.g. inverse frequencies, or
            the path of the ``class_weights.json`` that
            ``tools/analyze_dataset.py`` writes.
        ignore_index: target value excluded from the loss.
        loss_weight: factor applied to the loss.
        loss_name: key in the loss dict.
        avg_non_ignore: average over non-ignored pixels only.
    """

    def __init__(self,
                 class_weight: Union[None, str, os.PathLike,
                                     Sequence[float]] = None,
                 ignore_index: int = 255,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_ce',
                 avg_non_ignore: bool = True):
        super().__init__(ignore_index, loss_weight, loss_name)
        self.avg_non_ignore = avg_non_ignore
        if isinstance(class_weight, (str, os.PathLike)):
            class_weight = load_class_weights(class_weight)
        # A buffer follows the model to its device; not persistent, so a
        # checkpoint never overrides the weights the config asks for.
        self.register_buffer(
            'class_weight',
            None if class_weight is None else torch.tensor(
                class_weight, dtype=torch.float32),
            persistent=False)

    def compute(self, logits: Tensor, target: Tensor) -> Tensor:
        num_classes = logits.shape[1]
        if num_classes < 2:
            raise ValueError(
                f'CrossEntropyLoss needs logits with >= 2 channels (softmax '
                f'over num_classes >= 2), got {num_classes}; for '
                f"num_classes=1 set loss_decode to "
                f"dict(type='BCEWithLogitsLoss') and/or dict(type='DiceLoss')")
        if (self.class_weight is not None
                and len(self.class_weight) != num_classes):
            raise ValueError(
                f'class_weight has {len(self.class_weight)} entries, expected '
                f'one per class: {num_classes}')
        safe, valid = self.split_ignored(target)
        per_pixel = F.cross_entropy(logits, safe, reduction='none')
        weight = valid.float()
        if self.class_weight is not None:
            weight = weight * self.class_weight[safe]
        return masked_mean(per_pixel, weight,
                           None if self.avg_non_ignore else target.numel())
