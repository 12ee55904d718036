"""Inference from Python: one code path for notebooks, tools/infer.py and,
through the model's ``predict``, tools/test.py."""
import copy
import os
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Optional,
                    Union)

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

from segkit.engine import install_checkpoint_safety, load_model_weights
from segkit.models import BaseSegmentor
from segkit.models.segmentors.inference_modes import (can_predict_in_bands,
                                                      predict_in_bands)
from segkit.registry import DATASETS, MODELS, TRANSFORMS
from segkit.structures import SegDataSample
from .cli import MODEL_CHECKPOINT_FILES, require_file
from .config import apply_overrides, load_config

ImageInput = Union[str, os.PathLike, np.ndarray]
# Transforms that read annotations, which inference does not have.
ANNOTATION_LOADERS = ('LoadSegMap', )
# Components are looked up here first, whatever scope the caller set.
SCOPE = 'segkit'


def init_model(config: Union[str, os.PathLike, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[Dict[str, Any]] = None,
               strict: bool = True,
               relax: str = 'pass strict=False') -> BaseSegmentor:
    """Build a segmentor in eval mode, ready for :func:`inference`.

    The model comes from segkit's ``MODELS`` registry whatever default
    scope the caller has set; the checkpoint is loaded weights-only
    (:func:`segkit.engine.load_model_weights`). Its data is not needed.

    Args:
        config: A config file or a loaded :class:`Config` (not modified).
        checkpoint: A local file holding a Runner checkpoint or a state
            dict; ``None`` keeps the initial weights.
        device: Where the model goes.
        cfg_options: Overrides, checked and merged as ``--cfg-options``.
        strict: Refuse a checkpoint that does not fit the model exactly;
            ``False`` loads the tensors that fit and warns about the rest.
        relax: How the caller's user turns ``strict`` off, for the error's
            advice (a tool: ``'rerun with --no-strict'``).

    Returns:
        The model. ``model.cfg`` is the config (its test pipeline is what
        :func:`inference` runs); ``model.dataset_meta`` holds the classes
        and palette of the checkpoint, else of the config's test dataset,
        else ``None``.

    Raises:
        MissingPathError: ``config`` or ``checkpoint`` is not a file.
    """
    if checkpoint is not None:
        require_file(checkpoint, 'checkpoint', MODEL_CHECKPOINT_FILES)
    install_checkpoint_safety()
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
        apply_overrides(cfg, cfg_options, cfg.filename or '<Config object>')
    else:
        cfg = load_config(os.fspath(config), cfg_options, check_data=False)
    with DefaultScope.overwrite_default_scope(SCOPE):
        model = MODELS.build(cfg.model)
    checkpoint_meta: dict = {}
    if checkpoint is not None:
        checkpoint_meta = load_model_weights(model, checkpoint, strict,
                                             relax=relax).meta
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


def _type_name(transform: dict) -> str:
    """A pipeline step's ``type``, given as a name or as a class."""
    kind = transform.get('type')
    return kind if isinstance(kind, str) else getattr(kind, '__name__', '')


def _test_pipeline(cfg: Config, from_array: bool) -> Compose:
    """``cfg.test_dataloader.dataset.pipeline`` without annotation loading;
    with ``from_array``, ``LoadImageFromNDArray`` replaces
    ``LoadImageFromFile``."""
    try:
        steps = cfg.test_dataloader.dataset.pipeline
    except AttributeError:
        raise KeyError(
            f'config {cfg.filename}: inference runs '
            'test_dataloader.dataset.pipeline, which it does not have'
        ) from None
    names = [_type_name(step) for step in steps]
    if from_array and 'LoadImageFromFile' not in names:
        raise ValueError(
            f'config {cfg.filename}: test pipeline {names} has no '
            'LoadImageFromFile to replace for array inputs')
    with DefaultScope.overwrite_default_scope(SCOPE):
        return Compose([
            TRANSFORMS.build(
                dict(type='LoadImageFromNDArray') if from_array
                and name == 'LoadImageFromFile' else step)
            for step, name in zip(steps, names)
            if name not in ANNOTATION_LOADERS
        ])


def dataset_image_paths(dataset_cfg: Dict[str, Any]) -> List[str]:
    """The image files of the dataset ``dataset_cfg`` describes, in dataset
    order; its pipeline is not built.

    Args:
        dataset_cfg: A dataset config, e.g. ``cfg.train_dataloader.dataset``.

    Returns:
        Each sample's ``img_path``.
    """
    with DefaultScope.overwrite_default_scope(SCOPE):
        dataset = DATASETS.build(dict(dataset_cfg, pipeline=[]))
    return [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]


def iter_inference(
    model: BaseSegmentor,
    images: Union[ImageInput, Iterable[ImageInput]],
    batch_size: int = 1,
    seg_logits: bool = True,
    on_error: Optional[Callable[[ImageInput, Exception], None]] = None
) -> Iterator[Optional[SegDataSample]]:
    """:func:`inference`, one sample at a time, in input order.

    Only one batch's predictions are in memory at once, so a stream of any
    length works. Arguments as :func:`inference`, and:

    Args:
        on_error: Where given, an image the test pipeline cannot load (a
            file corrupt or empty) is passed to it with the error, and the
            others go on: one bad file does not stop a folder's run.

    Yields:
        One :class:`SegDataSample` per image; ``None`` for an image
        ``on_error`` was given.
    """
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
            pipelines[from_array] = _test_pipeline(cfg, from_array)
        results = (dict(img=image, img_index=index) if from_array else
                   dict(img_path=os.fspath(image)))
        return pipelines[from_array](results)

    batch: List[Optional[dict]] = []
    for index, image in enumerate(images):
        try:
            batch.append(prepare(index, image))
        except Exception as error:
            if on_error is None:
                raise
            on_error(image, error)
            batch.append(None)
        if sum(item is not None for item in batch) == batch_size:
            yield from _predict_in_order(model, batch, seg_logits)
            batch = []
    if batch:
        yield from _predict_in_order(model, batch, seg_logits)


def _predict_in_order(model: BaseSegmentor, batch: List[Optional[dict]],
                      seg_logits: bool) -> List[Optional[SegDataSample]]:
    """:func:`_predict` of the loaded items, ``None`` where one failed."""
    loaded = [item for item in batch if item is not None]
    samples = iter(_predict(model, loaded, seg_logits) if loaded else [])
    return [None if item is None else next(samples) for item in batch]


def _predict(model: BaseSegmentor, batch: List[dict],
             seg_logits: bool) -> List[SegDataSample]:
    # Not a generator: inference mode must not stay on while the caller
    # runs between two yields.
    with torch.inference_mode():
        if not seg_logits and all(
                can_predict_in_bands(model.test_cfg, item['data_samples'])
                for item in batch):
            return [
                predict_in_bands(model, item['inputs'], item['data_samples'])
                for item in batch
            ]
        samples = model.test_step(pseudo_collate(batch))
    if not seg_logits:
        for sample in samples:
            del sample.seg_logits
    return samples


def inference(model: BaseSegmentor,
              images: Union[ImageInput, Iterable[ImageInput]],
              batch_size: int = 1,
              seg_logits: bool = True) -> List[SegDataSample]:
    """Predict image files or HWC BGR uint8 arrays (one or several).

    Runs the config's test pipeline minus ``LoadSegMap``, then
    ``model.test_step``: the same ``predict`` that tools/test.py scores,
    with the model's ``test_cfg`` (whole, sliding window, flip).

    Args:
        model: From :func:`init_model`.
        images: A path, an array, or an iterable of them.
        batch_size: Images per forward pass.
        seg_logits: Keep the per-class logits. ``False`` is for huge
            images: in slide mode without flip or resize the classes are
            then computed one row of windows at a time, in bounded memory.

    Returns:
        One :class:`SegDataSample` per image, with ``pred_sem_seg`` (and
        ``seg_logits``) at the image's original size.
    """
    return list(iter_inference(model, images, batch_size, seg_logits))
