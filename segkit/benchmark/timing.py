"""The timing harness: medians of repeated timed runs after a warm-up."""
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, \
    Sequence

Sync = Callable[[], None]


@dataclass(frozen=True)
class Settings:
    """How each figure is measured: ``repeats`` timed runs of ``iters``
    iterations after ``warmup`` untimed ones (at least one, so that worker
    start-up and oneDNN's first-call kernel selection are never timed)."""
    warmup: int = 3
    iters: int = 10
    repeats: int = 3
    infer_batch: int = 4

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(f'{name}={value!r}: expected an int >= 1')


def window_ends(settings: Settings, warmup: Optional[int] = None) -> set:
    """The 0-based iterations after which a timed window starts or ends:
    the only ones whose end is synchronised with the device, so that a
    window's iterations overlap host and device work as they do in a run
    (one sync at each end of a window, as in a user's training)."""
    warmup = settings.warmup if warmup is None else warmup
    return {warmup - 1 + r * settings.iters
            for r in range(settings.repeats + 1)}


def repeat_rates(ends: Sequence[float], counts: Sequence[int], warmup: int,
                 iters: int, repeats: int) -> List[float]:
    """Items/s of each timed repeat, from the time each iteration ended and
    how many items it processed: repeat ``r`` is iterations
    ``warmup + r * iters`` onwards, timed from the end of the one before."""
    needed = warmup + iters * repeats
    if len(ends) != needed or len(counts) != needed:
        raise ValueError(f'{len(ends)} end times and {len(counts)} counts: '
                         f'expected {needed} of each ({warmup} warm-up + '
                         f'{repeats} x {iters} timed iterations)')
    rates = []
    for r in range(repeats):
        first = warmup + r * iters
        last = first + iters
        rates.append(sum(counts[first:last]) /
                     (ends[last - 1] - ends[first - 1]))
    return rates


def timed_rates(step: Callable[[], int], settings: Settings, sync: Sync,
                warmup: Optional[int] = None) -> List[float]:
    """Items/s of each repeat of ``step``, which returns how many items it
    processed; ``warmup`` overrides ``settings.warmup``. The device is
    synchronised at the ends of the windows only (:func:`window_ends`)."""
    warmup = settings.warmup if warmup is None else warmup
    synced = window_ends(settings, warmup)
    ends: List[float] = []
    counts: List[int] = []
    for i in range(warmup + settings.iters * settings.repeats):
        counts.append(step())
        if i in synced:
            sync()
        ends.append(time.perf_counter())
    return repeat_rates(ends, counts, warmup, settings.iters,
                        settings.repeats)


def summary(rates: Sequence[float], **extra: Any) -> Dict[str, Any]:
    """The median images/s and every repeat's, plus ``extra`` fields."""
    return dict(images_per_s=statistics.median(rates), repeats=list(rates),
                **extra)


def endless(iterable: Iterable) -> Iterator:
    """``iterable`` over and over (a finite sampler or image list)."""
    while True:
        yield from iterable
