"""Geometric transforms mmcv lacks. Resize, RandomResize and RandomFlip come
from mmcv and already resize/flip ``gt_seg_map`` with nearest neighbour."""
from typing import Tuple, Union

import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from segkit.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomCrop(BaseTransform):
    """Crop one random window from ``img`` and every ``seg_fields`` entry.

    As mmsegmentation's: with ``cat_max_ratio < 1`` up to 10 windows are
    drawn until one where no class covers ``cat_max_ratio`` or more of the
    non-ignored pixels (and at least two classes are present), else the last
    one is kept; this stops crops of pure road or sky from dominating.

    A side shorter than the crop is kept whole, not padded: the result may
    be smaller than ``crop_size`` and ``SegDataPreProcessor`` pads the batch
    (masks with ``ignore_index``), so padding here would only cost memory.
    Updates ``img_shape``.

    Args:
        crop_size: ``(h, w)`` — height first, as in mmsegmentation, unlike
            the ``(w, h)`` scale of mmcv's ``Resize``; an int for a square.
        cat_max_ratio: largest share of one class in the crop; 1 disables
            the check.
        ignore_index: mask value left out of that share.
    """

    def __init__(self,
                 crop_size: Union[int, Tuple[int, int]],
                 cat_max_ratio: float = 1.0,
                 ignore_index: int = 255) -> None:
        if isinstance(crop_size, int):
            crop_size = (crop_size, crop_size)
        crop_size = tuple(crop_size)
        if len(crop_size) != 2 or not all(
                isinstance(v, int) and v > 0 for v in crop_size):
            raise ValueError(
                f'crop_size {crop_size}: expected (h, w) positive ints')
        if not 0 < cat_max_ratio <= 1:
            raise ValueError(
                f'cat_max_ratio {cat_max_ratio}: expected in (0, 1]')
        self.crop_size = crop_size
        self.cat_max_ratio = cat_max_ratio
        self.ignore_index = ignore_index

    def _random_window(self, shape: Tuple[int, int]) -> Tuple[int, int]:
        """Top-left corner of a uniformly random window."""
        return (np.random.randint(max(shape[0] - self.crop_size[0], 0) + 1),
                np.random.randint(max(shape[1] - self.crop_size[1], 0) + 1))

    def _crop(self, array: np.ndarray, corner: Tuple[int, int]) -> np.ndarray:
        y, x = corner
        return array[y:y + self.crop_size[0], x:x + self.crop_size[1]]

    def _balanced(self, seg: np.ndarray) -> bool:
        """Two classes or more, none with ``cat_max_ratio`` of the
        non-ignored pixels."""
        if seg.dtype == np.uint8:  # palette masks: a histogram, 5x faster
            counts = np.bincount(seg.ravel(), minlength=256)
            if 0 <= self.ignore_index < 256:
                counts[self.ignore_index] = 0
            counts = counts[counts > 0]
        else:
            labels, counts = np.unique(seg, return_counts=True)
            counts = counts[labels != self.ignore_index]
        return len(counts) > 1 and counts.max() < self.cat_max_ratio * \
            counts.sum()

    @cache_randomness
    def choose_window(self, results: dict) -> Tuple[int, int]:
        """Top-left ``(y, x)`` of the crop (cached by mmcv's
        ``TransformBroadcaster`` to crop several images alike)."""
        shape = results['img'].shape[:2]
        corner = self._random_window(shape)
        if self.cat_max_ratio < 1:
            for _ in range(9):
                if self._balanced(self._crop(results['gt_seg_map'], corner)):
                    break
                corner = self._random_window(shape)
        return corner

    def transform(self, results: dict) -> dict:
        corner = self.choose_window(results)
        results['img'] = self._crop(results['img'], corner)
        for key in results.get('seg_fields', []):
            results[key] = self._crop(results[key], corner)
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(crop_size={self.crop_size}, '
                f'cat_max_ratio={self.cat_max_ratio}, '
                f'ignore_index={self.ignore_index})')
