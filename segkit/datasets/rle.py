"""Kaggle run-length encoding of binary masks: Carvana's ``train_masks.csv``
and the submission format.

A mask is flattened row-major (C order: pixel ``(y, x)`` is number
``y * W + x + 1``) and written as 1-indexed ``start length`` pairs of its
nonzero runs, separated by spaces; an empty mask is the empty string.
Checked against the GIF masks and csv of ``carvana_format``: every row
decodes to its GIF, and every GIF encodes to its row.

It lives here, not in ``transforms``, because the dataset (reading the csv),
``LoadSegMap`` (decoding) and a submission writer (encoding) all use it.
"""
from typing import Dict, Sequence

import numpy as np

from segkit.utils import DataError
from .csv_table import csv_rows

CSV_HEADER = ['img', 'rle_mask']
# Longest token that fits int64 whatever its digits.
_MAX_DIGITS = 18


def rle_encode(mask: np.ndarray) -> str:
    """Kaggle RLE of a 2-D mask's nonzero pixels ('' when there are none).

    Runs start where a padded copy of the flat mask changes from 0 to 1 and
    end where it changes back, so the cost is a few numpy passes.
    """
    if mask.ndim != 2:
        raise ValueError(f'rle_encode: mask has shape {mask.shape}: expected '
                         'a 2-D (H, W) array')
    padded = np.zeros(mask.size + 2, np.int8)
    padded[1:-1] = mask.ravel() != 0
    runs = np.flatnonzero(np.diff(padded)) + 1  # 1-indexed starts and ends
    runs[1::2] -= runs[::2]
    return ' '.join(map(str, runs.tolist()))


def rle_decode(rle: str, shape: Sequence[int]) -> np.ndarray:
    """The uint8 0/1 mask of ``shape`` (H, W) that ``rle`` encodes.

    Raises ``ValueError`` saying what is wrong for an odd number of tokens,
    a non-integer, a start below 1 or length below 1, a run past the last
    pixel, or a run that starts before the previous one ends (unsorted or
    overlapping): such a string belongs to another image size or is
    corrupt, and decoding it anyway would train on a scrambled mask.
    """
    if len(shape) != 2 or not all(int(v) > 0 for v in shape):
        raise ValueError(f'rle_decode: shape {tuple(shape)}: expected '
                         '(height, width), both positive')
    height, width = int(shape[0]), int(shape[1])
    tokens = rle.split()
    if len(tokens) % 2:
        raise ValueError(f'RLE has {len(tokens)} tokens: expected an even '
                         'number, as start length pairs')
    bad = [t for t in tokens
           if not (t.isascii() and t.isdigit() and len(t) <= _MAX_DIGITS)]
    if bad:
        raise ValueError(f'RLE token {bad[0]!r} is not a non-negative '
                         f'integer of at most {_MAX_DIGITS} digits: expected '
                         'start length pairs')
    values = np.array(tokens, dtype=np.int64)
    starts, lengths = values[0::2], values[1::2]
    ends = starts - 1 + lengths  # 0-indexed, exclusive
    for wrong, what in ((starts < 1, 'start below 1 (starts are 1-indexed)'),
                        (lengths < 1, 'length below 1'),
                        (ends > height * width,
                         f'run past the last pixel of a {height}x{width} '
                         f'(HxW) mask, {height * width} pixels')):
        if wrong.any():
            i = int(np.argmax(wrong))
            raise ValueError(f'RLE pair {i} (start {starts[i]}, length '
                             f'{lengths[i]}): {what}')
    early = starts[1:] - 1 < ends[:-1]
    if early.any():
        i = int(np.argmax(early)) + 1
        raise ValueError(
            f'RLE pair {i} starts at {starts[i]}, before pair {i - 1} '
            f'(start {starts[i - 1]}, length {lengths[i - 1]}) ends: '
            'expected sorted, non-overlapping runs')
    # +1 where a run starts, -1 after it ends; the running sum is the mask.
    steps = np.zeros(height * width + 1, np.int8)
    steps[starts - 1] += 1
    steps[ends] -= 1
    return np.cumsum(steps[:-1], dtype=np.int8).view(np.uint8).reshape(
        height, width)


def read_rle_csv(path: str) -> Dict[str, str]:
    """``{image file name: RLE}`` from an ``img,rle_mask`` csv.

    Raises ``FileNotFoundError`` or ``ValueError`` naming the file (and line)
    for a missing file, a wrong header, a row without two fields or an image
    listed twice: with two rows for one image, which mask is right is
    unknowable. The RLE strings are checked when decoded.
    """
    rles: Dict[str, str] = {}
    lines: Dict[str, int] = {}
    for line, (name, rle) in csv_rows(path, CSV_HEADER, 'RLE csv'):
        name = name.strip()
        if name in rles:
            raise DataError(f'{path}, line {line}: image {name!r} '
                            f'already has a mask on line {lines[name]}')
        rles[name] = rle.strip()
        lines[name] = line
    return rles
