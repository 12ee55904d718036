"""See what the model is fed: samples after the pipeline, augmentation
included, drawn as image | ground truth."""
import os.path as osp
import random
import uuid
from typing import List, Optional

import cv2
import numpy as np
from mmengine.config import Config
from torch import Tensor

from segkit.registry import DATASETS

from .files import UniqueStems, fit
from .seg_local_visualizer import SegLocalVisualizer

SPLITS = ('train', 'val')


def packed_to_rgb(inputs: Tensor) -> np.ndarray:
    """``PackSegInputs``' uint8 BGR (or grey) ``(C, H, W)`` → RGB
    ``(H, W, 3)``."""
    image = inputs.numpy().transpose(1, 2, 0)
    if image.dtype != np.uint8 or image.shape[2] not in (1, 3):
        raise ValueError(f'inputs: expected uint8 with 1 or 3 channels, got '
                         f'{image.dtype} (C={image.shape[2]})')
    code = cv2.COLOR_GRAY2RGB if image.shape[2] == 1 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(np.ascontiguousarray(image), code)


def sample_indices(size: int, n: int, seed: Optional[int]) -> List[int]:
    """The first ``n`` of ``range(size)``; with a ``seed``, ``n`` drawn
    without replacement in the order of a seeded permutation (the same seed
    draws the same samples, and a larger ``n`` extends a smaller one's)."""
    if seed is None:
        return list(range(min(n, size)))
    return np.random.default_rng(seed).permutation(size)[:n].tolist()


def browse_dataset(cfg: Config, split: str, n: int, out_dir: str,
                   seed: Optional[int] = None) -> List[str]:
    """Write panels of ``n`` samples of ``cfg``'s ``split`` dataset, through
    its own pipeline, to ``<out_dir>/<stem>.png``; returns the paths
    written.

    Without ``seed`` the first ``n`` samples; with one, ``n`` samples drawn
    at random (:func:`sample_indices`), their augmentations drawn from the
    same seed too, so the same command draws the same panels.

    A test pipeline resizes the image but loads the mask at its native size
    (scores are taken there); the image is then drawn at the mask's size.
    """
    if split not in SPLITS:
        raise ValueError(f'split {split!r}: expected one of {SPLITS}')
    key = f'{split}_dataloader'
    if 'dataset' not in cfg.get(key, {}):
        raise KeyError(f'config {cfg.filename} has no {key}.dataset')
    dataset = DATASETS.build(cfg[key]['dataset'])
    visualizer = SegLocalVisualizer(name=f'browse-{uuid.uuid4().hex}')
    visualizer.dataset_meta = dataset.metainfo
    stems = UniqueStems()
    paths = []
    if seed is not None:  # the transforms draw from these
        random.seed(seed)
        np.random.seed(seed)
    for index in sample_indices(len(dataset), n, seed):
        item = dataset[index]
        sample = item['data_samples']
        stem = stems.claim(sample.metainfo['img_path'])
        path = osp.join(out_dir, stem + '.png')
        image = fit(packed_to_rgb(item['inputs']), sample.gt_sem_seg.shape)
        visualizer.add_datasample(stem, image, sample, draw_pred=False,
                                  out_file=path)
        paths.append(path)
    return paths
