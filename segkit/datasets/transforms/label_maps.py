"""Colour masks and raw mask values to class ids, by one table look-up."""
import functools
from typing import Dict, Sequence, Tuple

import cv2
import numpy as np

#: Binary masks, 0/1 or 0/255, to classes 0/1: how Carvana's GIF masks and a
#: 2-class ``FolderSegDataset`` without a ``label_map`` read their masks.
BINARY_LABEL_MAP = {0: 0, 1: 1, 255: 1}


@functools.lru_cache(maxsize=4)
def _palette_lut(palette: Tuple[Tuple[int, int, int], ...],
                 ignore_index: int) -> np.ndarray:
    """Class per 24-bit ``0xRRGGBB`` code: 16 MiB, built once per palette
    and process, so decoding a mask is a single table look-up per pixel."""
    if not 0 <= ignore_index <= 255 or len(palette) > ignore_index:
        raise ValueError(
            f'a palette of {len(palette)} colours with ignore_index '
            f'{ignore_index}: expected 0 <= number of colours <= '
            'ignore_index <= 255, so that classes and void fit in uint8')
    codes = [rgb_code(colour) for colour in palette]
    if len(set(codes)) != len(codes):
        raise ValueError(f'palette {list(palette)}: expected distinct colours')
    lut = np.full(1 << 24, ignore_index, dtype=np.uint8)
    lut[codes] = np.arange(len(codes), dtype=np.uint8)
    return lut


def palette_to_classes(bgr: np.ndarray,
                       palette: Sequence[Sequence[int]],
                       ignore_index: int = 255) -> np.ndarray:
    """Map a uint8 BGR colour mask to uint8 class indices: ``palette[i]``
    (RGB) becomes ``i``, every other colour ``ignore_index``.

    One table look-up per pixel code (:func:`colour_codes`): no per-colour
    or per-pixel Python loop.
    """
    lut = _palette_lut(tuple(tuple(int(v) for v in c) for c in palette),
                       ignore_index)
    return np.take(lut, colour_codes(bgr))


def colour_codes(bgr: np.ndarray) -> np.ndarray:
    """The ``0xRRGGBB`` code (uint32) of every pixel of a uint8 BGR image.

    cv2 appends an alpha channel so each pixel's 4 bytes read as one
    little-endian uint32, ``0xAARRGGBB``; masking off alpha leaves the code.
    """
    codes = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA).view('<u4')[..., 0]
    np.bitwise_and(codes, 0xFFFFFF, out=codes)
    return codes


def rgb_code(colour: Sequence[int]) -> int:
    """``0xRRGGBB`` of an ``(r, g, b)`` colour, as :func:`colour_codes`."""
    r, g, b = (int(v) for v in colour)
    return (r << 16) | (g << 8) | b


def check_label_map(label_map: Dict[int, int],
                    ignore_index: int = 255) -> Tuple[Tuple[int, int], ...]:
    """``label_map``'s items, sorted, after checking that every raw value is
    an integer in 0..65535 (what a 256/65536-entry table can index) and
    every class an integer in 0..255 (masks are uint8 class maps)."""
    if not isinstance(label_map, dict) or not label_map:
        raise ValueError(f'label_map {label_map!r}: expected a non-empty dict '
                         'of raw mask value -> class id')
    if not 0 <= ignore_index <= 255:
        raise ValueError(f'ignore_index {ignore_index}: expected 0..255 with '
                         'a label_map, whose output is uint8')
    for raw, cls in label_map.items():
        for value, what, top in ((raw, 'raw value', 65535),
                                 (cls, 'class id', 255)):
            if (isinstance(value, bool)
                    or not isinstance(value, (int, np.integer))
                    or not 0 <= value <= top):
                raise ValueError(f'label_map {label_map}: {what} {value!r} '
                                 f'is not an integer in 0..{top}')
    return tuple(sorted((int(k), int(v)) for k, v in label_map.items()))


@functools.lru_cache(maxsize=8)
def _label_map_lut(items: Tuple[Tuple[int, int], ...], ignore_index: int,
                   size: int) -> np.ndarray:
    """Class per raw value, ``ignore_index`` for unmapped ones; raw values
    the table cannot hold cannot occur in masks of its size."""
    lut = np.full(size, ignore_index, dtype=np.uint8)
    for raw, cls in items:
        if raw < size:
            lut[raw] = cls
    return lut


def apply_label_map(seg: np.ndarray, label_map: Dict[int, int],
                    ignore_index: int = 255) -> np.ndarray:
    """Map raw mask values to uint8 class ids with one table look-up:
    ``label_map[v]`` where mapped, ``ignore_index`` elsewhere (an unexpected
    value, such as an anti-aliased edge, is void rather than a guess).

    The table has 256 entries for uint8 masks and 65536 otherwise; other
    integer masks must hold values in 0..65535.
    """
    items = check_label_map(label_map, ignore_index)
    if seg.dtype != np.uint8 and seg.dtype != np.uint16 and seg.size and (
            seg.min() < 0 or seg.max() > 65535):
        raise ValueError(
            f'mask values {seg.min()}..{seg.max()}: expected 0..65535 to '
            'apply a label_map')
    lut = _label_map_lut(items, ignore_index,
                         256 if seg.dtype == np.uint8 else 65536)
    return np.take(lut, seg)
