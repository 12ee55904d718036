"""Reading images and masks into the results dict.

Every failure names the file: one bad file among thousands must be findable
from the error alone, also when it is raised in a dataloader worker, and also
when its name is not valid UTF-8 (see :func:`segkit.utils.printable`).
"""
import io
import os
import os.path as osp
from typing import Optional, Sequence

import cv2
import mmcv
import numpy as np
from mmcv.transforms import BaseTransform
from mmcv.transforms import LoadImageFromFile as MMCVLoadImageFromFile
from mmengine import fileio
from PIL import Image

from segkit.registry import TRANSFORMS
from segkit.utils import ConfigValueError, DataError, printable
from ..rle import rle_decode
from .label_maps import apply_label_map, palette_to_classes

_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# MAT-file headers start with text such as 'MATLAB 5.0 MAT-file'.
_MAT_SIGNATURE = b'MATLAB'


def read_bytes(path: str, backend_args: Optional[dict] = None) -> bytes:
    """The file's bytes; ``OSError``/``ValueError`` naming it if missing,
    empty (cv2 reports an empty buffer without the file name) or a broken
    symbolic link (whose name ``ls`` shows, so "no such file" alone would
    puzzle)."""
    try:
        data = fileio.get(path, backend_args=backend_args)
    except OSError as error:
        if not osp.islink(path):
            raise
        raise type(error)(
            error.errno,
            f'{error.strerror}: {printable(path)} is a symbolic link to '
            f'{printable(os.readlink(path))!r}, which leads to no file '
            '(dangling, or a loop of links): expected an image file'
        ) from error
    if not data:
        raise DataError(f'{printable(path)} is empty (0 bytes): expected an '
                        'image file')
    return data


def _undecodable(path: str, what: str) -> DataError:
    return DataError(f'cannot decode {what} {printable(path)}: expected a '
                     'readable image file, it is corrupt, truncated or not '
                     'an image')


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


@TRANSFORMS.register_module()
class LoadImageFromNDArray(BaseTransform):
    """``LoadImageFromFile`` for an image already in memory.

    Takes ``results['img']``, an HxWxC (or HxW) uint8 array in BGR order as
    cv2 reads files, and sets ``img_shape`` and ``ori_shape``. Inference on
    arrays replaces ``LoadImageFromFile`` by this (mmseg's name).
    """

    def transform(self, results: dict) -> dict:
        img = results['img']
        if (not isinstance(img, np.ndarray) or img.dtype != np.uint8
                or img.ndim not in (2, 3)):
            raise ValueError(
                f'image array {results.get("img_index", "")}: expected an '
                f'HxWxC (or HxW) uint8 BGR array, got '
                f'{type(img).__name__} {getattr(img, "shape", "")} '
                f'{getattr(img, "dtype", "")}')
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


def _read_mat(data: bytes, path: str, key: Optional[str]) -> np.ndarray:
    """The array ``key`` of a MATLAB v5 file, as many medical sets ship
    masks. scipy reads it when installed; segkit does not depend on it."""
    shown = printable(path)
    if key is None:
        raise ConfigValueError(
            f'{shown} is a MATLAB file: expected mat_key in the data info '
            '(e.g. FolderSegDataset(mat_key=...)) naming the variable that '
            'holds the mask')
    try:
        from scipy.io import loadmat
    except ImportError:
        raise ImportError(
            f'reading the MATLAB mask {shown} needs scipy, which is not '
            'installed: pip install scipy') from None
    try:
        arrays = loadmat(io.BytesIO(data))
    except Exception as e:  # scipy raises several types, e.g. for v7.3
        raise DataError(f'cannot read the MATLAB mask {shown}: {e} '
                        "(scipy reads MATLAB's -v7 files and older; resave "
                        '-v7.3 ones with -v7)') from e
    if key not in arrays:
        names = sorted(k for k in arrays if not k.startswith('__'))
        raise KeyError(f'{shown} has no variable {key!r} (mat_key): it '
                       f'holds {names}')
    return np.asarray(arrays[key])


def _decode_mask(data: bytes, path: str, colour: bool,
                 mat_key: Optional[str]) -> np.ndarray:
    """Colour masks as uint8 BGR, or uint8 grey if stored as one channel;
    index masks as stored (indices for paletted files, the ``mat_key`` array
    of MATLAB files). Pillow, a dependency of mmcv and torchvision, reads
    GIF (which cv2 cannot) and the indices of palette PNGs."""
    if data[:len(_MAT_SIGNATURE)] == _MAT_SIGNATURE:
        return _read_mat(data, path, mat_key)
    try:
        if data[:4] == b'GIF8' or (not colour and _is_palette_png(data)):
            with Image.open(io.BytesIO(data)) as im:
                if colour:
                    return cv2.cvtColor(np.asarray(im.convert('RGB')),
                                        cv2.COLOR_RGB2BGR)
                return np.array(im)
        seg = cv2.imdecode(np.frombuffer(data, np.uint8),
                           cv2.IMREAD_ANYCOLOR if colour else
                           cv2.IMREAD_UNCHANGED)
    except Exception as e:  # Pillow and cv2 raise various types
        raise _undecodable(path, 'segmentation map') from e
    if seg is None:
        raise _undecodable(path, 'segmentation map')
    return seg


def _colour_mask(seg: np.ndarray, shown: str,
                 palette: Sequence[Sequence[int]]) -> np.ndarray:
    """``seg`` as BGR for :func:`palette_to_classes`.

    A grey mask can only hold grey colours: fine for an all-grey palette,
    but for a colourful one it is the wrong file (typically an index mask),
    which would otherwise load as void or as whichever class is grey.
    """
    if seg.ndim == 3:
        return seg
    if any(len(set(colour)) > 1 for colour in palette):
        raise DataError(
            f'segmentation map {shown} is single-channel (grey), but the '
            f'dataset maps RGB colours to classes (palette '
            f'{[list(c) for c in palette[:3]]}...): expected a colour mask '
            "such as CamVid's <id>_L.png; masks of class ids need a dataset "
            'without a palette, e.g. FolderSegDataset')
    return cv2.cvtColor(seg, cv2.COLOR_GRAY2BGR)


def _rle_mask(results: dict) -> np.ndarray:
    """Decode ``seg_map_rle`` at the size of the image loaded before."""
    where = (f'the RLE mask of {printable(str(results.get("img_path")))} '
             f'in {printable(results["seg_map_path"])}')
    size = results.get('ori_shape')
    if size is None:
        raise ConfigValueError(f'{where} takes its size from the image: '
                               'expected LoadImageFromFile before LoadSegMap')
    try:
        return rle_decode(results['seg_map_rle'], size[:2])
    except ValueError as e:
        raise DataError(f'{where}: {e}') from None


def load_raw_seg_map(results: dict,
                     backend_args: Optional[dict] = None) -> np.ndarray:
    """A data info's mask as stored, before any class mapping: uint8 BGR
    colours when the data info has a ``palette``, else a 2-D integer array
    of raw values (the decoded 0/1 of ``seg_map_rle``, which needs the
    image's ``ori_shape``). What ``LoadSegMap`` maps to classes, and what
    dataset analysis counts raw values in.

    Raises ``ValueError`` naming the file for a grey mask where colours are
    expected, a colour one where indices are, or non-integer values.
    """
    path = results['seg_map_path']
    palette = results.get('palette')
    if 'seg_map_rle' in results:
        seg = _rle_mask(results)
    else:
        seg = _decode_mask(read_bytes(path, backend_args), path,
                           colour=palette is not None,
                           mat_key=results.get('mat_key'))
    shown = printable(path)
    if palette is not None:
        return _colour_mask(seg, shown, palette)
    if seg.ndim != 2:
        raise DataError(
            f'segmentation map {shown} has shape {seg.shape} (a colour '
            'image): expected one channel of class indices, or a '
            'palette in the data info to decode a colour mask')
    if not np.issubdtype(seg.dtype, np.integer):
        raise DataError(f'segmentation map {shown} has dtype '
                        f'{seg.dtype}: expected integer classes')
    return seg


@TRANSFORMS.register_module()
class LoadSegMap(BaseTransform):
    """Read ``results['seg_map_path']`` into ``results['gt_seg_map']``.

    The mode follows the data info, so configs write just
    ``dict(type='LoadSegMap')``:

    - ``palette`` present (a list of RGB triples, from e.g.
      :class:`CamVidDataset`): a colour mask, mapped to classes by
      :func:`palette_to_classes`; unknown colours become ``ignore_index``
      (default 255). Result uint8. A grey (one-channel) file is refused
      unless every palette colour is grey.
    - ``seg_map_rle`` present (a Kaggle RLE string, from
      :class:`CarvanaDataset` with ``mask_source='rle'``): decoded to 0/1 at
      the size of the image, so ``LoadImageFromFile`` must come first;
      ``seg_map_path`` is then the csv it came from, named in errors.
    - otherwise an index mask, values kept as stored: single-channel PNG
      (uint8 kept; 16-bit becomes int64), the palette indices of a GIF or
      palette PNG, or the variable ``mat_key`` (from the data info) of a
      MATLAB v5 ``.mat`` file (needs scipy).

    If the data info has a ``label_map`` (raw value -> class id), it is then
    applied by :func:`apply_label_map` (unmapped values become
    ``ignore_index``; result uint8): how a dataset turns 0/255 masks into
    0/1, or swaps foreground and background, with no config step.

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
        ignore_index = results.get('ignore_index', 255)
        seg = load_raw_seg_map(results, self.backend_args)
        shown = printable(path)
        if palette is not None:
            seg = palette_to_classes(seg, palette, ignore_index)
        if 'label_map' in results:
            try:
                seg = apply_label_map(seg, results['label_map'],
                                      ignore_index)
            except ValueError as e:
                raise DataError(f'segmentation map {shown}: {e}') from None
        elif seg.dtype != np.uint8:
            seg = seg.astype(np.int64)
        img_size = results.get('ori_shape')
        if img_size is not None and tuple(img_size[:2]) != seg.shape:
            raise DataError(
                f'segmentation map {shown} is {seg.shape[0]}x{seg.shape[1]} '
                f'(HxW) but image {printable(str(results.get("img_path")))} '
                f'is {img_size[0]}x{img_size[1]}: expected the same size')
        results['gt_seg_map'] = seg
        fields = results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in fields:
            fields.append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(backend_args={self.backend_args})'
