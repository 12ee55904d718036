"""The arithmetic of stretching a schedule to another run length.

A schedule written for ``old`` iterations (warm-up and decay spans,
validation, checkpoint and log intervals) keeps its shape at ``new``
iterations when every count is multiplied by ``new / old``, except that
a run shorter than written validates at most
:data:`MAX_SCALED_DOWN_VALIDATIONS` times. The config
override ``train_cfg.max_iters`` (``segkit.apis.run_length``) and the
time-budgeted loop (``segkit.engine.time_budget_loop``) both scale by it.
"""
import math
from typing import Optional, Tuple

#: The most validations of a schedule scaled down: a 20-iteration run of a
#: schedule that validates 10 times would spend half its time validating.
MAX_SCALED_DOWN_VALIDATIONS = 4


def scale_interval(value: int, old: int, new: int) -> int:
    """An interval of a run of ``old`` iterations in one of ``new``: scaled
    and rounded up, at least 1 and at most ``new``.

    Rounding up keeps the number of events (validations, checkpoints) the
    schedule has: 800 of 2400 becomes 334 of 1000 (validations at 334, 668
    and the end), where rounding to 333 would add one at 999, just before
    the one every run ends with.
    """
    return min(new, max(1, math.ceil(value * new / old - 1e-9)))


def scale_val_interval(value: int, old: int, new: int) -> int:
    """``train_cfg.val_interval`` of a run of ``old`` iterations in one of
    ``new``: as :func:`scale_interval`, widened in a shorter run so that it
    validates at most :data:`MAX_SCALED_DOWN_VALIDATIONS` times (the last
    at its end), and never more often than the written schedule.
    """
    interval = scale_interval(value, old, new)
    if new < old:
        interval = max(interval,
                       math.ceil(new / MAX_SCALED_DOWN_VALIDATIONS - 1e-9))
    return min(new, interval)


def scale_span(begin: int, end: Optional[int], old: int,
               new: int) -> Tuple[int, Optional[int]]:
    """``(begin, end)`` of one iteration-based parameter scheduler, scaled.

    Each boundary maps alike, so one scheduler still starts where the one
    before it ends: 0 stays 0, the old length (or beyond) becomes the new
    one, and any other iteration a scaled one inside the run; a scheduler
    stays at least one iteration long. An ``end`` that is not an int (no
    end) stays as it is.
    """

    def boundary(step: int) -> int:
        if step <= 0:
            return 0
        if step >= old:
            return new
        return min(new - 1, max(1, round(step * new / old)))

    begin = boundary(begin)
    if isinstance(end, int):
        end = max(boundary(end), begin + 1)
    return begin, end
