"""Inference from Python: one code path for notebooks, tools/infer.py and,
through the model's ``predict``, tools/test.py.

``init_model`` builds a segmentor from a config and a checkpoint;
``inference`` runs the config's test pipeline (minus annotation loading) and
``model.test_step`` on image files or arrays. The rest turns predictions into
files: which inputs are images, what each mask is called, how it looks.

Image size. A 1x1 image works: the data preprocessor pads every batch to
its ``size_divisor`` (``2**depth`` in the U-Net configs) and ``predict``
crops back; a model whose divisor is too small for its net says so (e.g.
"UNet with depth=4 needs inputs of at least 16×16"). A huge image needs
sliding windows (``test_cfg=dict(mode='slide', ...)``), which bound the
network's memory but still hold float logits for the whole image, about
``(8 * num_classes + 24)`` bytes a pixel (11 classes: 11 GB at 10k x 10k);
``seg_logits=False`` predicts it one row of windows at a time, about 11
bytes a pixel plus one row's logits (see :func:`_predict_in_bands`).
"""
import copy
import dataclasses
import glob
import math
import os
import os.path as osp
from collections import Counter, defaultdict
from pathlib import Path
from typing import (Any, Dict, Iterable, Iterator, List, Optional, Sequence,
                    Union)

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData

from segkit.engine.checkpoint import atomic_write
from segkit.engine.model_loading import load_model_weights
from segkit.models import BaseSegmentor
from segkit.models.segmentors.base import window_starts
from segkit.registry import DATASETS, MODELS, TRANSFORMS
from segkit.structures import SegDataSample
from segkit.visualization import (class_palette, palette_lut, read_rgb,
                                  write_rgb)
from segkit.visualization.palette import paint
from .config import check_override_key, load_config

ImageInput = Union[str, os.PathLike, np.ndarray]
# Lower-case suffixes a folder or glob INPUT is searched for.
IMAGE_EXTENSIONS = ('.bmp', '.jpeg', '.jpg', '.png', '.tif', '.tiff', '.webp')
OUTPUT_FORMATS = ('index', 'color', 'overlay')
# Weight of the colour mask in an overlay.
OVERLAY_ALPHA = 0.5
# Transforms that read annotations, which inference does not have.
ANNOTATION_LOADERS = ('LoadSegMap', )
# Components are looked up here first, whatever scope the caller set.
SCOPE = 'segkit'


def init_model(config: Union[str, os.PathLike, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[Dict[str, Any]] = None) -> BaseSegmentor:
    """A segmentor in eval mode on ``device``, ready for :func:`inference`.

    The model is built from ``config.model`` by segkit's ``MODELS``
    registry under ``default_scope='segkit'`` (whatever scope the caller
    has set, as a Runner of a segkit config would) and the checkpoint, if
    given, is loaded strictly (weights-only) by
    :func:`segkit.engine.model_loading.load_model_weights`: one of another
    architecture or ``num_classes`` raises ``CheckpointMismatchError``
    listing the differing keys and shapes. ``model.cfg`` keeps the config
    (its test pipeline is what :func:`inference` runs) and
    ``model.dataset_meta`` the classes and palette: from the checkpoint's
    ``meta['dataset_meta']`` (every Runner checkpoint has it), else the
    config's test dataset ``metainfo`` or the dataset class's
    ``METAINFO``; ``None`` where none of these names classes (CamVid reads
    them from its data folder, which inference need not have).

    Args:
        config: a config file or a loaded :class:`Config` (not modified).
        cfg_options: overrides, checked and merged as ``--cfg-options``.
    """
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
        for key in cfg_options or {}:
            check_override_key(cfg, key, cfg.filename or '<Config object>')
        cfg.merge_from_dict(dict(cfg_options or {}))
    else:
        cfg = load_config(os.fspath(config), cfg_options)
    with DefaultScope.overwrite_default_scope(SCOPE):
        model = MODELS.build(cfg.model)
    checkpoint_meta: dict = {}
    if checkpoint is not None:
        checkpoint_meta = load_model_weights(model, checkpoint).meta
    model.cfg = cfg
    model.dataset_meta = checkpoint_meta.get(
        'dataset_meta') or _config_dataset_meta(cfg)
    return model.to(device).eval()


def _config_dataset_meta(cfg: Config) -> Optional[dict]:
    """Classes and palette the config states without reading any data."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    if dataset.get('metainfo'):
        return dict(dataset['metainfo'])
    dataset_type = dataset.get('type')
    dataset_cls = (DATASETS.get(dataset_type)
                   if isinstance(dataset_type, str) else dataset_type)
    return dict(getattr(dataset_cls, 'METAINFO', None) or {}) or None


class LoadImageFromArray(BaseTransform):
    """Stands in for ``LoadImageFromFile`` when the image is already in
    memory (``results['img']``, HWC BGR uint8, as cv2 reads files)."""

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


def _type_name(transform: dict) -> str:
    """A pipeline step's ``type``, given as a name or as a class."""
    kind = transform.get('type')
    return kind if isinstance(kind, str) else getattr(kind, '__name__', '')


def build_test_pipeline(cfg: Config, from_array: bool = False) -> Compose:
    """``cfg.test_dataloader.dataset.pipeline`` without annotation loading;
    with ``from_array``, images come from ``results['img']`` instead of
    ``LoadImageFromFile``."""
    try:
        steps = cfg.test_dataloader.dataset.pipeline
    except AttributeError:
        raise KeyError(
            f'config {cfg.filename}: inference runs '
            'test_dataloader.dataset.pipeline, which it does not have'
        ) from None
    transforms: List[Any] = []
    replaced = False
    with DefaultScope.overwrite_default_scope(SCOPE):
        for step in steps:
            name = _type_name(step)
            if name in ANNOTATION_LOADERS:
                continue
            if from_array and name == 'LoadImageFromFile':
                transforms.append(LoadImageFromArray())
                replaced = True
            else:
                transforms.append(TRANSFORMS.build(step))
    if from_array and not replaced:
        raise ValueError(
            f'config {cfg.filename}: test pipeline '
            f'{[_type_name(step) for step in steps]} has no '
            'LoadImageFromFile to replace for array inputs')
    return Compose(transforms)


def iter_inference(model: BaseSegmentor,
                   images: Union[ImageInput, Iterable[ImageInput]],
                   batch_size: int = 1,
                   seg_logits: bool = True) -> Iterator[SegDataSample]:
    """:func:`inference`, one sample at a time, in input order; only one
    batch's predictions are in memory at once."""
    if isinstance(images, (str, os.PathLike, np.ndarray)):
        images = [images]
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f'batch_size={batch_size!r}: expected an int >= 1')
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise AttributeError(
            'inference needs model.cfg, the config whose test pipeline it '
            'runs: build the model with segkit.apis.init_model')
    pipelines: Dict[bool, Compose] = {}

    def prepare(index: int, image: ImageInput) -> dict:
        from_array = isinstance(image, np.ndarray)
        if from_array not in pipelines:
            pipelines[from_array] = build_test_pipeline(cfg, from_array)
        results = (dict(img=image, img_index=index) if from_array else
                   dict(img_path=os.fspath(image)))
        return pipelines[from_array](results)

    batch: List[dict] = []
    for index, image in enumerate(images):
        batch.append(prepare(index, image))
        if len(batch) == batch_size:
            yield from _predict(model, batch, seg_logits)
            batch = []
    if batch:
        yield from _predict(model, batch, seg_logits)


def _predict(model: BaseSegmentor, batch: List[dict],
             seg_logits: bool) -> List[SegDataSample]:
    # Not a generator: inference mode must not stay on while the caller
    # runs between two yields.
    with torch.inference_mode():
        if not seg_logits and all(_in_bands(model, item) for item in batch):
            return [_predict_in_bands(model, item) for item in batch]
        samples = model.test_step(pseudo_collate(batch))
    if not seg_logits:
        for sample in samples:
            del sample.seg_logits
    return samples


def _in_bands(model: BaseSegmentor, item: dict) -> bool:
    """Whether :func:`_predict_in_bands` gives ``predict``'s classes: in
    slide mode, unless flip TTA mirrors the whole image or the pipeline
    resized it (resizing logits back needs all of them at once)."""
    meta = item['data_samples'].metainfo
    return (model.test_cfg.mode == 'slide' and not model.test_cfg.flip
            and not meta.get('flip', False)
            and tuple(meta['img_shape'][:2]) == tuple(meta['ori_shape'][:2]))


def _predict_in_bands(model: BaseSegmentor, item: dict) -> SegDataSample:
    """``pred_sem_seg`` of one image as slide mode's ``predict`` computes
    it, one row of windows at a time.

    Each band (``crop_size[0]`` rows of the padded image, full width) is
    normalised and padded as the data preprocessor does the whole image,
    and ``model.window_logits`` averages its row of windows; overlapping
    bands are then summed row by row and divided by how many bands cover
    each row -- the average over every window covering a pixel, as
    ``window_logits`` takes it over the whole image. Rows no later band
    reaches are turned into classes at once, so logits exist for at most
    two bands: memory is the uint8 image, the int64 class map and
    ``O(num_classes * crop_h * width)``, instead of float logits of the
    whole image (twice, while they are averaged).
    """
    image, sample = item['inputs'], item['data_samples']
    preprocess = model.data_preprocessor
    height, width = image.shape[-2:]
    padded_height = (math.ceil(height / preprocess.pad_size_divisor) *
                     preprocess.pad_size_divisor)
    crop = min(model.test_cfg.crop_size[0], padded_height)
    pred = acc = covered = None
    done = 0  # rows [0, done) are in pred, acc sums rows [done, done + crop)
    for top in window_starts(padded_height, crop, model.test_cfg.stride[0]):
        band = preprocess(dict(inputs=[image[:, top:top + crop]],
                               data_samples=None))['inputs'][..., :crop, :]
        band = F.pad(band, (0, 0, 0, crop - band.shape[-2]),
                     value=preprocess.pad_value)
        logits = model.window_logits(band)[0]
        cover = logits.new_ones((crop, 1))  # bands covering each row
        if acc is None:
            pred = torch.empty((1, height, width), dtype=torch.long,
                               device=logits.device)
        else:
            final = top - done
            _classify(model, acc[:, :final] / covered[:final], pred, done)
            logits[:, :crop - final] += acc[:, final:]
            cover[:crop - final] += covered[final:]
        acc, covered, done = logits, cover, top
    _classify(model, acc / covered, pred, done)
    padded_shape = (padded_height, band.shape[-1])
    sample.set_metainfo(dict(batch_input_shape=padded_shape,
                             pad_shape=padded_shape))
    sample.pred_sem_seg = PixelData(data=pred)
    return sample


def _classify(model: BaseSegmentor, logits: torch.Tensor, pred: torch.Tensor,
              top: int) -> None:
    """Classes of ``logits`` (rows from ``top`` of the padded image) into
    ``pred``, leaving out padding rows and columns."""
    rows = max(0, min(logits.shape[1], pred.shape[1] - top))
    if rows:
        pred[:, top:top + rows] = model.logits_to_classes(
            logits[:, :rows, :pred.shape[2]])


def inference(model: BaseSegmentor,
              images: Union[ImageInput, Iterable[ImageInput]],
              batch_size: int = 1,
              seg_logits: bool = True) -> List[SegDataSample]:
    """Predict image files or HWC BGR uint8 arrays (one or several).

    Runs the config's test pipeline minus ``LoadSegMap`` (arrays replace
    ``LoadImageFromFile``), then ``model.test_step``: the same
    ``predict`` that tools/test.py scores, with the model's ``test_cfg``
    (whole, sliding window, flip). Each returned sample has
    ``pred_sem_seg`` (and, if ``seg_logits``, ``seg_logits``) at its
    image's original size. ``seg_logits=False`` is for large images: in
    slide mode without flip or resize, the classes are then computed one
    row of windows at a time, in bounded memory (see the module
    docstring).
    """
    return list(iter_inference(model, images, batch_size, seg_logits))


def set_inference_options(model: BaseSegmentor,
                          threshold: Optional[float] = None,
                          flip: Optional[bool] = None) -> None:
    """Override the binary ``threshold`` and/or flip TTA of a built model,
    e.g. from command-line flags."""
    if threshold is not None:
        if model.num_classes != 1:
            raise ValueError(
                f'threshold={threshold}: only a binary model '
                f'(num_classes=1) thresholds; this one has '
                f'num_classes={model.num_classes} and takes the argmax')
        if not 0 <= threshold <= 1:
            raise ValueError(f'threshold={threshold}: expected a foreground '
                             'probability in [0, 1]')
        model.threshold = threshold
    if flip is not None:
        model.test_cfg = dataclasses.replace(model.test_cfg, flip=flip)


def find_images(inputs: Sequence[str]) -> List[Path]:
    """The images named by files, folders (their images, not recursive) and
    globs, sorted per input, without repeats.

    Every input is checked before any is used: a ``ValueError`` lists each
    one that matches no image and each file whose header cv2 does not
    recognise as an image (a file corrupt past its header fails later, when
    it is decoded, with an error naming it).
    """
    found: Dict[Path, Path] = {}
    problems: List[str] = []
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
            if not cv2.haveImageReader(str(match)):
                problems.append(f'{match}: unreadable, empty or not an '
                                'image')
            found.setdefault(match.resolve(), match)
    if problems:
        raise ValueError('bad INPUT:\n  ' + '\n  '.join(problems))
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
