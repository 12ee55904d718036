"""Geometric and photometric transforms: masks stay aligned with images."""
import shutil

import cv2
import numpy as np
import pytest
import torch

from segkit.datasets import CamVidDataset
from segkit.datasets.transforms import (PhotoMetricDistortion, RandomCrop,
                                        palette_to_classes)
from segkit.registry import TRANSFORMS
from segkit.structures import SegDataSample


def position_coded(h: int, w: int) -> dict:
    """Image and two masks whose values encode each pixel's position."""
    pos = np.arange(h * w).reshape(h, w)
    img = np.stack([pos % 256, pos // 256, np.zeros_like(pos)], -1)
    return dict(img=img.astype(np.uint8), gt_seg_map=pos.copy(),
                aux_map=-pos, seg_fields=['gt_seg_map', 'aux_map'],
                img_shape=(h, w))


def test_random_crop_cuts_image_and_all_masks_alike():
    np.random.seed(0)
    results = RandomCrop((20, 30))(position_coded(50, 60))
    img, seg = results['img'], results['gt_seg_map']
    assert img.shape == (20, 30, 3) and results['img_shape'] == (20, 30)
    np.testing.assert_array_equal(img[..., 0] + 256 * img[..., 1].astype(int),
                                  seg)
    np.testing.assert_array_equal(results['aux_map'], -seg)
    # One contiguous window of the original.
    assert (np.diff(seg, axis=1) == 1).all()
    assert (np.diff(seg, axis=0) == 60).all()


def test_random_crop_keeps_short_sides_whole():
    np.random.seed(0)
    results = RandomCrop(40)(position_coded(30, 100))
    assert results['img'].shape[:2] == (30, 40)
    assert results['gt_seg_map'][:, 0].tolist() == \
        list(range(results['gt_seg_map'][0, 0], 3000, 100))


@pytest.mark.parametrize('crop_size,ratio', [((0, 4), 1.0), ((4, 4, 4), 1.0),
                                             ((4, 4), 0.0), ((4, 4), 1.5)])
def test_random_crop_rejects_bad_arguments(crop_size, ratio):
    with pytest.raises(ValueError):
        RandomCrop(crop_size, cat_max_ratio=ratio)


@pytest.mark.parametrize('dtype', [np.uint8, np.int64])
def test_cat_max_ratio_prefers_mixed_crops(dtype):
    # Class 1 fills only the last 10 of 40 columns; a 20-wide crop has no
    # class over 75% only when it starts at column 16..20 (5 of 21 starts).
    seg = np.zeros((10, 40), dtype)
    seg[:, 30:] = 1
    seg[0] = 255  # ignored pixels count for no class

    def mixed_share(transform) -> float:
        np.random.seed(0)
        mixed = 0
        for _ in range(100):
            out = transform(dict(img=np.zeros((10, 40, 3), np.uint8),
                                 gt_seg_map=seg, seg_fields=['gt_seg_map']))
            counts = np.bincount(out['gt_seg_map'].ravel(), minlength=256)
            mixed += counts[:2].max() < 0.75 * counts[:2].sum()
        return mixed / 100

    assert mixed_share(RandomCrop((10, 20))) < 0.4
    assert mixed_share(RandomCrop((10, 20), cat_max_ratio=0.75)) > 0.8


def test_mmcv_resize_and_flip_treat_masks_with_nearest():
    rng = np.random.default_rng(0)
    seg = rng.choice(np.array([0, 3, 7, 255], np.uint8), size=(37, 53))
    img = np.repeat(seg[..., None], 3, -1)
    resize = TRANSFORMS.build(dict(type='Resize', scale=(101, 77),
                                   keep_ratio=False))
    out = resize(dict(img=img, gt_seg_map=seg, seg_fields=['gt_seg_map']))
    assert out['gt_seg_map'].shape == out['img'].shape[:2] == (77, 101)
    assert set(np.unique(out['gt_seg_map'])) == {0, 3, 7, 255}
    # The check can fail: the (bilinear) image did get blended values.
    assert len(np.unique(out['img'])) > 4
    flip = TRANSFORMS.build(dict(type='RandomFlip', prob=1.0))
    flipped = flip(dict(img=img, gt_seg_map=seg.copy(),
                        seg_fields=['gt_seg_map']))
    np.testing.assert_array_equal(flipped['gt_seg_map'], seg[:, ::-1])


def reference_distortion(img, brightness=None, contrast=None,
                         contrast_first=True, saturation=None, hue=None):
    """mmsegmentation's per-pixel float arithmetic, step by step."""
    def convert(x, alpha=1.0, beta=0.0):
        return np.clip(x.astype(np.float32) * alpha + beta, 0,
                       255).astype(np.uint8)
    if brightness is not None:
        img = convert(img, beta=brightness)
    if contrast is not None and contrast_first:
        img = convert(img, alpha=contrast)
    if saturation is not None or hue is not None:
        hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
        if saturation is not None:
            hsv[..., 1] = convert(hsv[..., 1], alpha=saturation)
        if hue is not None:
            hsv[..., 0] = (hsv[..., 0].astype(int) + hue) % 180
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if contrast is not None and not contrast_first:
        img = convert(img, alpha=contrast)
    return img


@pytest.mark.parametrize('params', [
    dict(brightness=-20.7, contrast=1.43, contrast_first=True),
    dict(brightness=31.2, contrast=0.61, contrast_first=False,
         saturation=1.37, hue=-15),
    dict(contrast=1.2, contrast_first=False, hue=17),
    dict(saturation=0.55),
    dict(),
])
def test_photometric_lookup_tables_equal_per_pixel_arithmetic(
        camvid_sample_root, params):
    img = cv2.imread(str(camvid_sample_root / 'val' / '0016E5_07959.png'))
    out = PhotoMetricDistortion.apply(img, **params)
    assert out.dtype == np.uint8 and out.shape == img.shape
    np.testing.assert_array_equal(out, reference_distortion(img, **params))
    assert np.array_equal(out, img) == (not params)


def test_photometric_draws_and_checks_input():
    np.random.seed(1)
    transform = PhotoMetricDistortion()
    draws = [transform.draw_params() for _ in range(50)]
    for key in ('brightness', 'contrast', 'saturation', 'hue'):
        used = [d[key] for d in draws if d[key] is not None]
        assert 10 < len(used) < 40  # each step on about half the time
    assert all(-32 <= d['brightness'] <= 32 for d in draws
               if d['brightness'] is not None)
    with pytest.raises(ValueError, match=r'x\.png.*expected uint8 BGR'):
        transform(dict(img=np.zeros((4, 4, 3), np.float32),
                       img_path='x.png'))


@pytest.fixture
def synthetic_camvid(camvid_sample_root, tmp_path):
    """Frames whose colour *is* their class colour, one class per pixel:
    any misalignment of mask and image shows up as a differing pixel."""
    shutil.copy(camvid_sample_root / 'class_dict.csv', tmp_path)
    palette = CamVidDataset(camvid_sample_root,
                            lazy_init=True).metainfo['palette']
    colours = np.array(palette + [[0, 0, 0]], np.uint8)  # + Unlabelled
    rng = np.random.default_rng(0)
    for sub in ('train', 'train_labels'):
        (tmp_path / sub).mkdir()
    for i in range(3):
        rgb = colours[rng.integers(0, len(colours), size=(45, 60))]
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        cv2.imwrite(str(tmp_path / 'train' / f'f{i}.png'), bgr)
        cv2.imwrite(str(tmp_path / 'train_labels' / f'f{i}_L.png'), bgr)
    return tmp_path


def test_pipeline_keeps_image_and_mask_aligned(synthetic_camvid):
    geometric = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadSegMap'),
        # Nearest for the image too, so its colours stay class colours.
        dict(type='RandomResize', scale=(60, 45), ratio_range=(0.5, 2.0),
             keep_ratio=True, interpolation='nearest'),
        dict(type='RandomCrop', crop_size=(32, 40), cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
    ]
    ds = CamVidDataset(synthetic_camvid, pipeline=geometric)
    palette = ds.metainfo['palette']
    np.random.seed(0)
    shapes, flips = set(), set()
    for _ in range(4):
        for i in range(len(ds)):
            results = ds[i]
            seg = results['gt_seg_map']
            np.testing.assert_array_equal(
                palette_to_classes(results['img'], palette), seg)
            assert set(np.unique(seg)) <= set(range(11)) | {255}
            assert (seg == 255).any()
            shapes.add(seg.shape)
            flips.add(results['flip'])
    assert flips == {True, False}
    assert len(shapes) > 1 and all(h <= 32 and w <= 40 for h, w in shapes)


def test_full_pipeline_packs_uint8_inputs_and_int64_masks(synthetic_camvid):
    ds = CamVidDataset(synthetic_camvid, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='LoadSegMap'),
        dict(type='RandomResize', scale=(60, 45), ratio_range=(1.0, 2.0),
             keep_ratio=True),
        dict(type='RandomCrop', crop_size=(32, 40), cat_max_ratio=0.75),
        dict(type='RandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackSegInputs'),
    ])
    np.random.seed(0)
    packed = ds[0]
    inputs, sample = packed['inputs'], packed['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 32, 40)
    assert isinstance(sample, SegDataSample)
    gt = sample.gt_sem_seg.data
    assert gt.dtype == torch.int64 and gt.shape == (1, 32, 40)
    assert set(gt.unique().tolist()) <= set(range(11)) | {255}
    assert sample.img_shape == (32, 40) and sample.ori_shape == (45, 60)
    assert sample.img_path.endswith('f0.png')
