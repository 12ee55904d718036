"""Soft Dice loss: overlap-based, so insensitive to class imbalance."""
import torch.nn.functional as F
from torch import Tensor

from segkit.registry import MODELS
from .utils import SegLoss


@MODELS.register_module()
class DiceLoss(SegLoss):
    """Soft Dice loss for binary (C = 1) and multi-class (C >= 2) logits.

    With probabilities ``p`` (sigmoid of the single channel when C = 1, so
    only the foreground is scored; softmax over classes when C >= 2), the
    one-hot target ``t`` (the 0/1 target itself when C = 1) and the mask
    ``v`` of non-ignored pixels::

        dice_c = (2 * sum_i v_i p_ic t_ic + smooth)
                 / (sum_i v_i p_ic**e + sum_i v_i t_ic**e + smooth)
        loss   = 1 - mean_c dice_c

    By default the sums run over all pixels of the batch, so an image
    without some class does not score that class 0. With ``per_image=True``
    they run over each image's pixels and ``dice_c`` is averaged over images
    too: the per-image mean that Carvana's Kaggle Dice scores, where a small
    object pulls as hard as a large one and any foreground predicted in an
    image without one costs that image's whole Dice. ``e = exponent``: 2 is
    V-Net's form (Milletari et al. 2016, mmseg's default), 1 the plain
    Sørensen-Dice. ``smooth > 0`` keeps a class absent from both prediction
    and target at dice 1, and an all-ignored batch at loss 0.

    Args:
        smooth: added to numerator and denominator.
        exponent: power of the terms in the denominator.
        per_image: sum over each image's pixels and average the images'
            dice, instead of summing over the whole batch.
        ignore_index: target value excluded from the loss.
        loss_weight: factor applied to the loss.
        loss_name: key in the loss dict.
    """

    def __init__(self,
                 smooth: float = 1.0,
                 exponent: float = 2,
                 per_image: bool = False,
                 ignore_index: int = 255,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_dice'):
        super().__init__(ignore_index, loss_weight, loss_name)
        if smooth <= 0:
            raise ValueError(
                f'smooth must be > 0 (it avoids 0/0 for absent classes), '
                f'got {smooth}')
        self.smooth = smooth
        self.exponent = exponent
        self.per_image = per_image

    def compute(self, logits: Tensor, target: Tensor) -> Tensor:
        logits, safe, valid = self.summable_inputs(logits, target)
        if logits.shape[1] == 1:
            probs, onehot = logits.sigmoid(), safe[:, None]
        else:
            probs = logits.softmax(dim=1)
            onehot = F.one_hot(safe, logits.shape[1]).permute(0, 3, 1, 2)
        mask = valid[:, None]
        probs, onehot = probs * mask, onehot.float() * mask
        dims = (2, 3) if self.per_image else (0, 2, 3)
        intersection = (probs * onehot).sum(dims)
        # t is 0/1, so t**e = t.
        cardinality = probs.pow(self.exponent).sum(dims) + onehot.sum(dims)
        dice = (2 * intersection + self.smooth) / (cardinality + self.smooth)
        return 1 - dice.mean()
