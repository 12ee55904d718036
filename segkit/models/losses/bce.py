"""Pixel-wise sigmoid binary cross-entropy for single-channel logits."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from segkit.registry import MODELS
from .utils import SegLoss, masked_mean


@MODELS.register_module()
class BCEWithLogitsLoss(SegLoss):
    """Binary cross-entropy of logits ``(N, 1, H, W)``, targets 0, 1, ignore.

    ``loss = mean_i -(p * t_i * log(sigmoid(x_i))
    + (1 - t_i) * log(1 - sigmoid(x_i)))`` over non-ignored pixels ``i``,
    with ``p = pos_weight`` (1 by default; > 1 favours recall of a small
    foreground). With every pixel ignored the loss is 0, not NaN.

    Args:
        pos_weight: weight of the foreground term.
        ignore_index: target value excluded from the loss.
        loss_weight: factor applied to the loss.
        loss_name: key in the loss dict.
    """

    def __init__(self,
                 pos_weight: Optional[float] = None,
                 ignore_index: int = 255,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_bce'):
        super().__init__(ignore_index, loss_weight, loss_name)
        self.register_buffer(
            'pos_weight',
            None if pos_weight is None else torch.tensor(
                float(pos_weight)),
            persistent=False)

    def compute(self, logits: Tensor, target: Tensor) -> Tensor:
        safe, valid = self.split_ignored(target)
        self.check_binary(logits, target, valid)
        per_pixel = F.binary_cross_entropy_with_logits(
            logits[:, 0], safe.to(logits.dtype), pos_weight=self.pos_weight,
            reduction='none')
        return masked_mean(per_pixel, valid.float())
