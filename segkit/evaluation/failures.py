"""Where a model fails, from a metric's per-image scores and confusion
matrices: the images it scores lowest, and in a binary task the frames
without an object on which it predicts one."""
import heapq
import math
from typing import Iterable, List, Tuple

from torch import Tensor

from .functional import FOREGROUND


def worst_images(scores: Iterable[float], n: int) -> List[Tuple[int, float]]:
    """The ``n`` lowest scores, as ``(index, score)``, lowest first.

    ``scores`` is read once, keeping at most ``n`` candidates, so a stream
    of any length fits. Equal scores keep their order; NaN (an image with
    no scored pixel) is never among them.

    Args:
        scores: Per-image scores, higher is better.
        n: How many to keep.

    Returns:
        Up to ``n`` ``(index into scores, score)`` pairs.
    """
    scored = ((score, index) for index, score in enumerate(scores)
              if not math.isnan(score))
    return [(index, score) for score, index in heapq.nsmallest(n, scored)]


def empty_frames(confusion: Tensor) -> Tensor:
    """Which images of a binary task have no foreground pixel in their
    ground truth.

    Args:
        confusion: ``(N, 2, 2)`` per-image confusion matrices, rows ground
            truth, class :data:`FOREGROUND` the object.

    Returns:
        ``(N,)`` bool.
    """
    return confusion[:, FOREGROUND].sum(-1) == 0


def empty_frame_false_positives(confusion: Tensor) -> List[Tuple[int, int]]:
    """The images without an object in their ground truth on which some
    foreground is predicted, as ``(index, false pixels)``, most false
    pixels first (equal counts keep their order).

    Args:
        confusion: ``(N, 2, 2)`` per-image confusion matrices, rows ground
            truth, class :data:`FOREGROUND` the object.

    Returns:
        ``(index into confusion, foreground pixels predicted)`` pairs.
    """
    predicted = confusion[..., FOREGROUND].sum(-1)
    found = (empty_frames(confusion) & (predicted > 0)).nonzero().flatten()
    return sorted(((int(i), int(predicted[i])) for i in found),
                  key=lambda item: -item[1])
