"""Colour jitter on uint8 BGR images (masks are untouched)."""
from typing import Optional, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms.utils import cache_randomness

from segkit.registry import TRANSFORMS

_IDENTITY = np.arange(256, dtype=np.uint8)


def _affine_lut(lut: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """``lut`` followed by ``v * alpha + beta``, clipped and truncated to
    uint8 as mmsegmentation does per pixel."""
    return np.clip(lut.astype(np.float32) * alpha + beta, 0,
                   255).astype(np.uint8)


@TRANSFORMS.register_module()
class PhotoMetricDistortion(BaseTransform):
    """mmsegmentation's colour jitter: brightness, contrast, saturation and
    hue, each applied with probability 0.5, contrast randomly before or
    after the HSV steps.

    Every step maps each 8-bit value independently, so it is a 256-entry
    table applied with ``cv2.LUT``; consecutive steps compose into one table.
    The cost is at most two table passes plus one BGR↔HSV round trip, with
    no float copy of the image. Results equal mmsegmentation's per-pixel
    uint8 arithmetic, except that saturation and hue share one HSV round
    trip where mmsegmentation makes two (one rounding fewer). Hue is cv2's
    uint8 HSV hue (0–179).

    Args:
        brightness_delta: brightness shift drawn from
            ``[-delta, delta]``.
        contrast_range: contrast factor range.
        saturation_range: saturation factor range.
        hue_delta: hue shift drawn from ``[-delta, delta]`` (of 180).
    """

    def __init__(self,
                 brightness_delta: int = 32,
                 contrast_range: Tuple[float, float] = (0.5, 1.5),
                 saturation_range: Tuple[float, float] = (0.5, 1.5),
                 hue_delta: int = 18) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_range = tuple(contrast_range)
        self.saturation_range = tuple(saturation_range)
        self.hue_delta = hue_delta

    @cache_randomness
    def draw_params(self) -> dict:
        """Random parameters of one call; ``None`` means the step is off."""
        def maybe(draw):
            return draw() if np.random.randint(2) else None
        return dict(
            brightness=maybe(lambda: np.random.uniform(
                -self.brightness_delta, self.brightness_delta)),
            contrast_first=bool(np.random.randint(2)),
            contrast=maybe(lambda: np.random.uniform(*self.contrast_range)),
            saturation=maybe(
                lambda: np.random.uniform(*self.saturation_range)),
            hue=maybe(lambda: np.random.randint(-self.hue_delta,
                                                self.hue_delta + 1)))

    @staticmethod
    def apply(img: np.ndarray, brightness: Optional[float] = None,
              contrast: Optional[float] = None, contrast_first: bool = True,
              saturation: Optional[float] = None,
              hue: Optional[int] = None) -> np.ndarray:
        """Distort ``img`` (uint8 BGR, HxWx3) with the given parameters."""
        lut = _IDENTITY
        if brightness is not None:
            lut = _affine_lut(lut, 1.0, brightness)
        if contrast is not None and contrast_first:
            lut = _affine_lut(lut, contrast, 0.0)
        if saturation is not None or hue is not None:
            img = cv2.LUT(img, lut)
            lut = _IDENTITY
            hsv_lut = np.stack([
                _IDENTITY if hue is None else
                ((np.arange(256) + hue) % 180).astype(np.uint8),
                _IDENTITY if saturation is None else
                _affine_lut(_IDENTITY, saturation, 0.0),
                _IDENTITY], axis=-1)[:, None, :]
            img = cv2.cvtColor(
                cv2.LUT(cv2.cvtColor(img, cv2.COLOR_BGR2HSV), hsv_lut),
                cv2.COLOR_HSV2BGR)
        if contrast is not None and not contrast_first:
            lut = _affine_lut(lut, contrast, 0.0)
        return img if lut is _IDENTITY else cv2.LUT(img, lut)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(
                f'PhotoMetricDistortion got an image of dtype {img.dtype} and '
                f'shape {img.shape} from {results.get("img_path")}: expected '
                'uint8 BGR (H, W, 3), i.e. before any float conversion')
        results['img'] = self.apply(img, **self.draw_params())
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}('
                f'brightness_delta={self.brightness_delta}, '
                f'contrast_range={self.contrast_range}, '
                f'saturation_range={self.saturation_range}, '
                f'hue_delta={self.hue_delta})')
