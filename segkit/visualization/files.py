"""Reading the panel's input image and writing panels under unique names."""
import os.path as osp
from typing import Optional, Set, Tuple

import cv2
import numpy as np

from segkit.utils import atomic_write


def read_rgb(path: str, size: Optional[Tuple[int, int]] = None
             ) -> np.ndarray:
    """The image file as RGB uint8 ``(H, W, 3)``, resized to ``size``
    ``(h, w)`` when given (a prediction's original-image size)."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f'cannot read image {path!r} to visualise')
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image if size is None else fit(image, size)


def fit(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """``image`` resized (bilinear) to ``size`` ``(h, w)``, the size of the
    masks drawn beside it, unless it has that size already."""
    if image.shape[:2] == tuple(size):
        return image
    return cv2.resize(image, (size[1], size[0]),
                      interpolation=cv2.INTER_LINEAR)


def write_rgb(path: str, image: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG atomically: a reader (or a killed
    run) never sees a half-written file."""
    ok, png = cv2.imencode('.png', cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError(f'cannot encode a {image.shape} {image.dtype} '
                         f'image as PNG for {path!r}')
    atomic_write(path, png.tobytes())


class UniqueStems:
    """File stems for one folder of panels: an image's own stem, or
    ``<stem>_1``, ``<stem>_2``... when another image (same name, another
    folder) or the same image drawn twice already took it."""

    def __init__(self) -> None:
        self.used: Set[str] = set()

    def claim(self, img_path: str) -> str:
        stem = osp.splitext(osp.basename(img_path))[0]
        name, n = stem, 0
        while name in self.used:
            n += 1
            name = f'{stem}_{n}'
        self.used.add(name)
        return name
