"""Files in and out of ``tools/infer.py``: which inputs are images, what
each mask is called, and how it is drawn and written."""
import glob
import os.path as osp
from collections import Counter, defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from segkit.datasets.csv_table import write_csv
from segkit.datasets.inspect_folder import IMAGE_EXTENSIONS
from segkit.datasets.rle import CSV_HEADER, rle_encode
from segkit.models import BaseSegmentor
from segkit.structures import SegDataSample
from segkit.utils import ConfigValueError, atomic_write
from segkit.visualization import (class_palette, palette_lut, read_rgb,
                                  write_rgb)
from segkit.visualization.palette import paint

# The submission format: one csv for all images, not a mask per image.
RLE_FORMAT = 'rle'
OUTPUT_FORMATS = ('index', 'color', 'overlay')
# Weight of the colour mask in an overlay.
OVERLAY_ALPHA = 0.5


def find_images(inputs: Sequence[str],
                unreadable: Optional[List[str]] = None) -> List[Path]:
    """The images named by files, folders (their images, not recursive) and
    globs, sorted per input, without repeats.

    Every input is checked before any is used: a ``ValueError`` lists each
    one that matches no image and each file whose header cv2 does not
    recognise as an image (a file corrupt past its header fails later, when
    it is decoded, with an error naming it).

    Args:
        inputs: Files, folders and globs.
        unreadable: Where given, a file cv2 does not recognise is left out
            and its message appended here instead of refused (unless an
            input is refused: then it is listed too).
    """
    found: Dict[Path, Path] = {}
    problems: List[str] = []
    bad_files: List[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_file():
            matches = [path]
        else:
            candidates = (path.iterdir() if path.is_dir() else map(
                Path, glob.glob(item, recursive=True)))
            matches = sorted(p for p in candidates if p.is_file()
                             and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not matches:
            what = ('a folder' if path.is_dir() else
                    'not a file or folder, and a glob')
            problems.append(f'{item}: {what} that matches no image with '
                            f'suffix {"|".join(IMAGE_EXTENSIONS)}')
        for match in matches:
            if cv2.haveImageReader(str(match)):
                found.setdefault(match.resolve(), match)
                continue
            bad_files.append(f'{match}: unreadable, empty or not an image')
    if problems or (bad_files and unreadable is None):
        raise ValueError('bad INPUT:\n  ' + '\n  '.join(problems + bad_files))
    if unreadable is not None:
        unreadable.extend(bad_files)
    return list(found.values())


def output_paths(images: Sequence[Path], out_dir: Union[str, Path]
                 ) -> List[Path]:
    """``out_dir/<stem>.png`` per image.

    Images sharing a stem get their folder, relative to the folders' common
    parent, in front (``a/x.jpg``, ``b/x.jpg`` → ``a__x.png``,
    ``b__x.png``), and namesakes in one folder keep their suffix
    (``x.jpg.png``). Raises ``ValueError`` if names still collide or a mask
    would overwrite an input.
    """
    by_stem: Dict[str, List[Path]] = defaultdict(list)
    for image in images:
        by_stem[image.stem].append(image.resolve())
    names: Dict[Path, str] = {}
    for stem, group in by_stem.items():
        if len(group) == 1:
            names[group[0]] = stem
            continue
        common = osp.commonpath([str(p.parent) for p in group])
        parents = [p.parent for p in group]
        for p in group:
            own = p.name if parents.count(p.parent) > 1 else p.stem
            names[p] = '__'.join(p.parent.relative_to(common).parts + (own, ))
    out_dir = Path(out_dir)
    paths = [out_dir / f'{names[image.resolve()]}.png' for image in images]
    inputs = {image.resolve() for image in images}
    counts = Counter(paths)
    clashes = sorted(str(p) for p in counts
                     if counts[p] > 1 or p.resolve() in inputs)
    if clashes:
        raise ValueError(f'output masks would collide with each other or '
                         f'overwrite an input: {clashes}; choose another '
                         '--out-dir or rename the images')
    return paths


def model_palette(model: BaseSegmentor) -> np.ndarray:
    """``(N, 3)`` RGB colour per class id, chosen as the visualiser does
    (:func:`segkit.visualization.palette.class_palette`): the dataset's
    palette from ``model.dataset_meta``, black/green when binary, fixed
    seeded colours when no palette is known."""
    meta = getattr(model, 'dataset_meta', None) or {}
    classes = meta.get('classes') or [
        str(i) for i in range(max(model.num_classes, 2))
    ]
    return class_palette(classes, meta.get('palette'))


def render_mask(pred: np.ndarray, fmt: str, colours: np.ndarray,
                image: Optional[np.ndarray] = None) -> np.ndarray:
    """An ``(H, W)`` class map as ``fmt``: ``index``, uint8 class ids;
    ``color``, RGB ``colours[id]``; ``overlay``, those colours blended at
    :data:`OVERLAY_ALPHA` on ``image`` (RGB, the size of ``pred``)."""
    if fmt not in OUTPUT_FORMATS:
        raise ValueError(f'format {fmt!r}: expected one of {OUTPUT_FORMATS}')
    if fmt == 'index':
        return pred.astype(np.uint8)
    painted = paint(pred, palette_lut(colours))
    if fmt == 'color':
        return painted
    if image is None or image.shape != painted.shape:
        raise ValueError(
            f'overlay needs the RGB image the mask was predicted from, '
            f'{painted.shape}; got {None if image is None else image.shape}')
    return cv2.addWeighted(image, 1 - OVERLAY_ALPHA, painted, OVERLAY_ALPHA,
                           0)


def save_prediction(sample: SegDataSample, out_path: Union[str, Path],
                    fmt: str, colours: np.ndarray) -> None:
    """Write ``sample``'s class map as a PNG, atomically (a killed run
    leaves no torn mask); ``overlay`` rereads the image at ``img_path``."""
    pred = sample.pred_sem_seg.data[0].cpu().numpy()
    image_path = sample.metainfo.get('img_path')
    image = (read_rgb(image_path)
             if fmt == 'overlay' and image_path else None)
    rendered = render_mask(pred, fmt, colours, image)
    if fmt != 'index':
        write_rgb(str(out_path), rendered)
        return
    ok, encoded = cv2.imencode('.png', rendered)
    if not ok:
        raise ValueError(f'cv2 could not encode the index mask for '
                         f'{out_path}')
    atomic_write(out_path, encoded.tobytes())


def check_binary(model: BaseSegmentor) -> None:
    """A Kaggle RLE submission encodes one foreground: refuse a model
    with more than two classes (``ConfigValueError``)."""
    if model.num_classes > 2:
        raise ConfigValueError(
            f'--format rle writes one foreground mask per image, but the '
            f'model has {model.num_classes} classes: expected a binary model '
            '(num_classes=1, or 2 with class 1 the foreground); use --format '
            'index for multi-class masks')


def submission_row(image: Path, sample: SegDataSample) -> Tuple[str, str]:
    """``(image file name, Kaggle RLE of class 1)`` of one prediction, at
    the original image size; encoded at once, so that a long stream of
    images holds strings, not masks."""
    return image.name, rle_encode(
        sample.pred_sem_seg.data[0].cpu().numpy() == 1)


def write_submission(out_file: Union[str, Path],
                     rows: Sequence[Tuple[str, str]]) -> int:
    """Write :func:`submission_row` rows as the Kaggle csv ``img,rle_mask``
    sorted by image name, atomically; returns the number of rows. Two
    images of one name are an error: Kaggle keys rows by it."""
    if not str(out_file).endswith('.csv'):
        raise ConfigValueError(f'--out {out_file}: expected a .csv file for '
                               '--format rle')
    names = Counter(name for name, _ in rows)
    repeated = sorted(name for name, n in names.items() if n > 1)
    if repeated:
        raise ConfigValueError(
            f'--format rle: images {repeated} occur in several inputs, but '
            'a submission has one row per image name')
    write_csv(out_file, CSV_HEADER, sorted(rows))
    return len(rows)
