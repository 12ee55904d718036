"""Pictures inside an HTML page: ``data:`` URIs, so a page copied on its own
(mailed, attached to a ticket) still shows every image."""
import base64
from pathlib import Path
from typing import Tuple

import cv2
import numpy as np

#: Longest side of an embedded panel: a 4-tile panel of a 480x360 frame
#: shrinks from 1920 to 960 pixels wide, ~100 kB.
THUMBNAIL_SIDE = 960
JPEG_QUALITY = 88
#: zlib's default level: within 1 % of level 9's size on panels, in a third
#: of its time (~30 ms a panel instead of ~110 ms).
PNG_COMPRESSION = 6


def data_uri(content: bytes, mime: str) -> str:
    return f'data:{mime};base64,' + base64.b64encode(content).decode('ascii')


def _encode(image: np.ndarray, ext: str, *params: int) -> bytes:
    ok, buf = cv2.imencode(ext, image, list(params))
    if not ok:
        raise ValueError(f'could not encode a {image.shape} image as {ext}')
    return buf.tobytes()


def thumbnail(path: Path, side: int = THUMBNAIL_SIDE) -> Tuple[str, Tuple[
        int, int]]:
    """``path``'s picture as a data URI, shrunk to fit ``side`` x ``side``
    (never enlarged), and its ``(width, height)``.

    PNG when that is the smaller file (flat drawings: masks, plots, keeping
    their exact colours), else JPEG (photographs).

    Raises:
        ValueError: ``path`` is not an image OpenCV reads.
    """
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'{path}: not an image OpenCV can read')
    height, width = image.shape[:2]
    scale = min(1.0, side / max(height, width))
    if scale < 1.0:
        width = max(1, round(width * scale))
        height = max(1, round(height * scale))
        image = cv2.resize(image, (width, height),
                           interpolation=cv2.INTER_AREA)
    png = _encode(image, '.png', cv2.IMWRITE_PNG_COMPRESSION, PNG_COMPRESSION)
    jpeg = _encode(image, '.jpg', cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY)
    uri = (data_uri(png, 'image/png') if len(png) <= len(jpeg) else
           data_uri(jpeg, 'image/jpeg'))
    return uri, (width, height)
