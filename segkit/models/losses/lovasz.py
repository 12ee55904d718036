"""Lovász loss: a convex surrogate of the Jaccard (IoU) loss."""
import torch
import torch.nn.functional as F
from torch import Tensor

from segkit.registry import MODELS
from .utils import SegLoss


def lovasz_extension(errors: Tensor, foreground: Tensor) -> Tensor:
    """The Lovász extension of the Jaccard loss, one column at a time.

    Args:
        errors: ``(P, K)`` non-negative errors of ``P`` pixels for ``K``
            classes.
        foreground: ``(P, K)`` 0/1 floats, whether a pixel is of the class.

    Returns:
        ``(K,)``: each column's errors, sorted in decreasing order, dotted
        with the gradient of ``1 - IoU`` along that order (the increase of
        ``1 - IoU`` when one more pixel is counted as wrong). One batched sort
        for all columns: sorting dominates the cost.
    """
    errors_sorted, order = errors.sort(dim=0, descending=True)
    foreground_sorted = foreground.gather(0, order)
    positives = foreground_sorted.sum(0)
    intersection = positives - foreground_sorted.cumsum(0)
    union = positives + (1 - foreground_sorted).cumsum(0)
    jaccard = 1 - intersection / union
    grad = torch.cat([jaccard[:1], jaccard[1:] - jaccard[:-1]])
    return (errors_sorted * grad).sum(0)


@MODELS.register_module()
class LovaszLoss(SegLoss):
    """Lovász loss (Berman et al., CVPR 2018): optimises IoU directly.

    The Lovász extension of the Jaccard loss ``1 - IoU`` is evaluated at the
    pixels' errors sorted in decreasing order. With binary logits (C = 1)
    the errors are the hinge errors ``1 - x * (2t - 1)`` (the Lovász hinge);
    with C >= 2 they are ``|1[t = c] - p_c|`` of the softmax (Lovász-Softmax),
    averaged over the classes present. At hard predictions it equals
    ``1 - IoU`` exactly (twice that for the hinge at logits ±1).

    With ``per_image=True`` the loss is computed for each image and averaged,
    as metrics averaged over images (Kaggle's Dice) score: an image without
    foreground is then penalised by its largest logit alone, so a false
    object in an empty image costs as much as a missed one. Sorting every
    pixel makes it slower than Dice; it is usually added to a pixel-wise loss
    (BCE, CE).

    Args:
        per_image: compute the loss per image and average, instead of once
            over the batch's pixels.
        ignore_index: target value excluded from the loss.
        loss_weight: factor applied to the loss.
        loss_name: key in the loss dict.
    """

    def __init__(self,
                 per_image: bool = False,
                 ignore_index: int = 255,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_lovasz'):
        super().__init__(ignore_index, loss_weight, loss_name)
        self.per_image = per_image

    def compute(self, logits: Tensor, target: Tensor) -> Tensor:
        logits, safe, valid = self.summable_inputs(logits, target)
        # (C, pixels) per image, or for the whole batch at once.
        groups = (zip(logits, safe, valid) if self.per_image else
                  [(logits.transpose(0, 1), safe, valid)])
        losses = []
        for group_logits, group_target, group_valid in groups:
            kept = group_valid.flatten()
            losses.append(self._group_loss(
                group_logits.flatten(1)[:, kept].t(),
                group_target.flatten()[kept]))
        return torch.stack(losses).mean()

    @staticmethod
    def _group_loss(logits: Tensor, target: Tensor) -> Tensor:
        """Loss of the valid pixels of an image or a batch: ``logits``
        ``(P, C)``, ``target`` ``(P,)``."""
        if target.numel() == 0:
            return logits.sum() * 0
        if logits.shape[1] == 1:
            foreground = target.float()[:, None]
            # Hinge errors; relu keeps their order, so the sort is the same.
            errors = F.relu(1 - logits * (2 * foreground - 1))
            return lovasz_extension(errors, foreground)[0]
        foreground = F.one_hot(target, logits.shape[1]).float()
        errors = (foreground - logits.softmax(dim=1)).abs()
        present = foreground.sum(0) > 0
        return lovasz_extension(errors, foreground)[present].mean()
