"""Reading images and masks into the results dict.

Every failure names the file: one bad file among thousands must be findable
from the error alone, also when it is raised in a dataloader worker.
"""
import functools
import io
from typing import Optional, Sequence, Tuple

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmengine import fileio
from PIL import Image

from segkit.registry import TRANSFORMS

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


def read_bytes(path: str, backend_args: Optional[dict] = None) -> bytes:
    """The file's bytes; ``FileNotFoundError``/``ValueError`` naming it if
    missing or empty (cv2 reports an empty buffer without the file name)."""
    data = fileio.get(path, backend_args=backend_args)
    if not data:
        raise ValueError(f'{path} is empty: expected an image file')
    return data


def _undecodable(path: str, what: str) -> ValueError:
    return ValueError(f'cannot decode {what} {path}: expected a readable '
                      'image file, it is corrupt, truncated or not an image')


def _is_palette_png(data: bytes) -> bool:
    """PNG whose IHDR colour type is 3: its pixel values are palette
    indices, which cv2 would expand to colours."""
    return (data[:8] == _PNG_SIGNATURE and data[12:16] == b'IHDR'
            and len(data) > 25 and data[25] == 3)


@TRANSFORMS.register_module()
class LoadImageFromFile(MMCVLoadImageFromFile):
    """mmcv's ``LoadImageFromFile``, with a ``ValueError`` naming the file
    when it cannot be decoded.

    mmcv reports a corrupt file with a bare ``assert`` (which ``python -O``
    removes, leaving a ``None`` image to fail later) and an empty one with a
    cv2 error that does not name the file. Same arguments as mmcv's, minus
    the deprecated ``file_client_args``; results keys ``img``, ``img_shape``
    and ``ori_shape`` as mmcv's.
    """

    def __init__(self,
                 to_float32: bool = False,
                 color_type: str = 'color',
                 imdecode_backend: str = 'cv2',
                 ignore_empty: bool = False,
                 *,
                 backend_args: Optional[dict] = None) -> None:
        super().__init__(to_float32=to_float32, color_type=color_type,
                         imdecode_backend=imdecode_backend,
                         ignore_empty=ignore_empty, backend_args=backend_args)

    def transform(self, results: dict) -> Optional[dict]:
        path = results['img_path']
        try:
            data = read_bytes(path, self.backend_args)
            try:
                img = mmcv.imfrombytes(data, flag=self.color_type,
                                       backend=self.imdecode_backend)
            except Exception as e:  # each backend raises its own type
                raise _undecodable(path, 'image') from e
            if img is None:
                raise _undecodable(path, 'image')
        except Exception:
            if self.ignore_empty:
                return None
            raise
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


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
    codes = [(r << 16) | (g << 8) | b for r, g, b in palette]
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

    cv2 appends an alpha channel so each pixel's 4 bytes read as one
    little-endian uint32, ``0xAARRGGBB``; masking off alpha leaves the code
    the look-up table is indexed by. No per-colour or per-pixel Python loop.
    """
    lut = _palette_lut(tuple(tuple(int(v) for v in c) for c in palette),
                       ignore_index)
    codes = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA).view('<u4')[..., 0]
    np.bitwise_and(codes, 0xFFFFFF, out=codes)
    return np.take(lut, codes)


def _decode_mask(data: bytes, path: str, colour: bool) -> np.ndarray:
    """Colour masks as uint8 BGR; index masks as stored (indices for
    paletted files). Pillow, a dependency of mmcv and torchvision, reads
    GIF (which cv2 cannot) and the indices of palette PNGs."""
    try:
        if data[:4] == b'GIF8' or (not colour and _is_palette_png(data)):
            with Image.open(io.BytesIO(data)) as im:
                if colour:
                    return cv2.cvtColor(np.asarray(im.convert('RGB')),
                                        cv2.COLOR_RGB2BGR)
                return np.array(im)
        seg = cv2.imdecode(np.frombuffer(data, np.uint8),
                           cv2.IMREAD_COLOR if colour else
                           cv2.IMREAD_UNCHANGED)
    except Exception as e:  # Pillow and cv2 raise various types
        raise _undecodable(path, 'segmentation map') from e
    if seg is None:
        raise _undecodable(path, 'segmentation map')
    return seg


@TRANSFORMS.register_module()
class LoadSegMap(BaseTransform):
    """Read ``results['seg_map_path']`` into ``results['gt_seg_map']``.

    The mode follows the data info, so configs write just
    ``dict(type='LoadSegMap')``:

    - ``palette`` present (a list of RGB triples, from e.g.
      :class:`CamVidDataset`): a colour mask, mapped to classes by
      :func:`palette_to_classes`; unknown colours become ``ignore_index``
      (default 255). Result uint8.
    - otherwise an index mask, values kept as stored: single-channel PNG
      (uint8 kept; 16-bit becomes int64), or the palette indices of a GIF or
      palette PNG.

    Appends ``'gt_seg_map'`` to ``results['seg_fields']``. If the image was
    loaded first, its size as loaded (``ori_shape``, so also in test
    pipelines that resize the image before loading the native-size mask)
    must equal the mask's: a mismatch means a wrong pair or a resized copy,
    which would train or score on shifted labels.

    Args:
        backend_args: file backend arguments, as ``LoadImageFromFile``.
    """

    def __init__(self, backend_args: Optional[dict] = None) -> None:
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        path = results['seg_map_path']
        palette = results.get('palette')
        data = read_bytes(path, self.backend_args)
        seg = _decode_mask(data, path, colour=palette is not None)
        if palette is not None:
            seg = palette_to_classes(seg, palette,
                                     results.get('ignore_index', 255))
        elif seg.ndim != 2:
            raise ValueError(
                f'segmentation map {path} has shape {seg.shape}: expected '
                'one channel of class indices, or a palette in the data '
                'info to decode a colour mask')
        elif seg.dtype != np.uint8:
            if not np.issubdtype(seg.dtype, np.integer):
                raise ValueError(f'segmentation map {path} has dtype '
                                 f'{seg.dtype}: expected integer classes')
            seg = seg.astype(np.int64)
        img_size = results.get('ori_shape')
        if img_size is not None and tuple(img_size[:2]) != seg.shape:
            raise ValueError(
                f'segmentation map {path} is {seg.shape[0]}x{seg.shape[1]} '
                f'(HxW) but image {results.get("img_path")} is '
                f'{img_size[0]}x{img_size[1]}: expected the same size')
        results['gt_seg_map'] = seg
        fields = results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in fields:
            fields.append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(backend_args={self.backend_args})'
