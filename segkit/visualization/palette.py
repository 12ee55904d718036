"""Class colours: which colour each class id is painted with, and painting.

Masks are painted by indexing one 256-entry look-up table with the mask, so
a whole image costs one numpy gather, not a loop over classes or pixels.
"""
from typing import Optional, Sequence

import numpy as np

RGBArray = np.ndarray  # (N, 3) uint8
IGNORE_INDEX = 255
# White: black is the binary background and CamVid's void, grey (128) is
# CamVid's Sky; no segkit palette uses white for a multi-class dataset.
IGNORE_COLOUR = (255, 255, 255)
# Two-class datasets ship palettes such as white-on-black (ISBI, folder
# defaults) that would vanish against the ignore colour or the image; every
# binary dataset is painted black (background) and green (foreground).
BINARY_PALETTE = ((0, 0, 0), (0, 255, 0))
# Ids a mask may hold: classes below IGNORE_INDEX, and IGNORE_INDEX.
LUT_SIZE = IGNORE_INDEX + 1


def class_palette(classes: Sequence[str],
                  palette: Optional[Sequence[Sequence[int]]] = None
                  ) -> RGBArray:
    """``(len(classes), 3)`` uint8 RGB colours to paint the classes with.

    Binary datasets get :data:`BINARY_PALETTE`; others their own
    ``palette``, or fixed pseudo-random colours (seeded, so the same across
    runs) when the dataset has none.
    """
    n = len(classes)
    if not 0 < n < IGNORE_INDEX:
        raise ValueError(f'{n} classes: expected 1 to {IGNORE_INDEX - 1} '
                         f'(id {IGNORE_INDEX} is ignore)')
    if n == 2:
        return np.array(BINARY_PALETTE, np.uint8)
    if palette is None:
        return np.random.default_rng(0).integers(0, 256, (n, 3), np.uint8)
    colours = np.asarray(palette)
    if colours.shape != (n, 3) or colours.min() < 0 or colours.max() > 255:
        raise ValueError(f'dataset_meta palette {palette}: expected one RGB '
                         f'triple in 0..255 for each of the {n} classes')
    return colours.astype(np.uint8)


def palette_lut(colours: RGBArray) -> RGBArray:
    """``(256, 3)`` table: class id → colour, :data:`IGNORE_INDEX` →
    :data:`IGNORE_COLOUR`. Ids with no class stay black; :func:`check_mask`
    refuses them before painting."""
    lut = np.zeros((LUT_SIZE, 3), np.uint8)
    lut[:len(colours)] = colours
    lut[IGNORE_INDEX] = IGNORE_COLOUR
    return lut


def check_mask(mask: np.ndarray, num_classes: int, what: str) -> np.ndarray:
    """Per-id pixel counts (length 256) of an integer class map; raises
    ``ValueError`` naming ``what`` for ids that are neither a class nor
    :data:`IGNORE_INDEX` (a wrong ``num_classes`` or an unmapped label)."""
    if mask.size and (mask.min() < 0 or mask.max() > IGNORE_INDEX):
        raise ValueError(f'{what} has ids {mask.min()}..{mask.max()}: '
                         f'expected 0..{num_classes - 1} or {IGNORE_INDEX}')
    counts = np.bincount(mask.ravel(), minlength=LUT_SIZE)
    unknown = np.flatnonzero(counts[num_classes:IGNORE_INDEX]) + num_classes
    if unknown.size:
        raise ValueError(f'{what} has ids {unknown.tolist()} but the dataset '
                         f'has {num_classes} classes (and {IGNORE_INDEX} = '
                         'ignore)')
    return counts


def paint(mask: np.ndarray, lut: RGBArray) -> np.ndarray:
    """``(H, W)`` class map → ``(H, W, 3)`` uint8 RGB, by one table gather."""
    return lut[mask]
