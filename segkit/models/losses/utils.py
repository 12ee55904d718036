"""What every segmentation loss shares: config fields and ignored pixels."""
from abc import ABCMeta, abstractmethod
from typing import Optional, Tuple

from torch import Tensor, nn

# Keeps an all-ignored batch at 0 / EPS = 0 instead of 0 / 0 = NaN; far below
# any real sum of pixel weights.
EPS = 1e-12


class SegLoss(nn.Module, metaclass=ABCMeta):
    """Base of segkit's losses: ``loss_weight * self.compute(logits, target)``.

    BaseSegmentor reports each loss under ``loss_name``, and MMEngine's
    ``parse_losses`` only adds keys containing ``'loss'`` to the total that is
    back-propagated, so a name without it would silently not be trained on.

    Args:
        ignore_index: target value of pixels that take no part in the loss.
        loss_weight: factor applied to the loss (for weighted sums of losses).
        loss_name: key of this loss in the segmentor's loss dict.
    """

    def __init__(self, ignore_index: int, loss_weight: float, loss_name: str):
        super().__init__()
        if 'loss' not in loss_name:
            raise ValueError(
                f"loss_name must contain 'loss' for MMEngine to optimise it, "
                f'got {loss_name!r}')
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        """``loss_weight`` × loss of logits (N, C, H, W), target (N, H, W)."""
        if (logits.dim() != 4 or target.dim() != 3
                or logits.shape[0] != target.shape[0]
                or logits.shape[2:] != target.shape[1:]):
            raise ValueError(
                f'{type(self).__name__} expects logits (N, C, H, W) and '
                f'target (N, H, W), got {tuple(logits.shape)} and '
                f'{tuple(target.shape)}')
        return self.loss_weight * self.compute(logits, target)

    @abstractmethod
    def compute(self, logits: Tensor, target: Tensor) -> Tensor:
        """The unweighted scalar loss."""

    def split_ignored(self, target: Tensor) -> Tuple[Tensor, Tensor]:
        """``(target with ignored pixels set to class 0, valid-pixel mask)``.

        Class 0 only keeps indexing and ``one_hot`` in range; every user
        multiplies by the mask, so those pixels contribute nothing.
        """
        valid = target != self.ignore_index
        return target.masked_fill(~valid, 0), valid

    def summable_inputs(self, logits: Tensor,
                        target: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """``(float32 logits, target, valid-pixel mask)`` for losses that sum
        over every pixel (Dice, Lovász), whose sums float16 cannot hold.

        The target is :meth:`split_ignored`'s; single-channel logits are
        checked to be binary (:meth:`check_binary`).
        """
        safe, valid = self.split_ignored(target)
        logits = logits.float()
        if logits.shape[1] == 1:
            self.check_binary(logits, target, valid)
        return logits, safe, valid

    def check_binary(self, logits: Tensor, target: Tensor,
                     valid: Tensor) -> None:
        """Single-channel logits and 0/1 targets, or a clear error.

        A mask saved as 0/255 (foreground = 255 = ignore) is a common dataset
        mistake; silently ignoring the foreground would learn nothing.
        """
        if logits.shape[1] != 1:
            raise ValueError(
                f'{type(self).__name__} expects binary logits with 1 channel '
                f'(num_classes=1), got {logits.shape[1]} channels')
        bad = valid & (target != 0) & (target != 1)
        if bad.any():
            raise ValueError(
                f'{type(self).__name__} expects targets in {{0, 1, '
                f'{self.ignore_index}}}, got value {target[bad][0].item()}')


def masked_mean(loss: Tensor, weight: Tensor,
                denominator: Optional[float] = None) -> Tensor:
    """``sum(loss * weight) / denominator``, by default ``sum(weight)``.

    ``weight`` (float32) is 0 on ignored pixels, so with every pixel ignored
    the result is exactly 0 and still part of the graph (zero gradients).
    """
    total = (loss * weight).sum()
    if denominator is None:
        return total / weight.sum().clamp_min(EPS)
    return total / denominator
