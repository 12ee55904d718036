"""Albu: an albumentations pipeline on the image and its masks, as
albumentations itself would run it, drawing from numpy's seeded generator."""
import copy
import importlib.util
import random
from pathlib import Path

import albumentations as A
import numpy as np
import pytest
from mmengine.registry import DefaultScope

from segkit.apis import ConfigKeyError, load_config
from segkit.datasets import CamVidDataset
from segkit.datasets.transforms import Albu, CachedLoading
from segkit.datasets.transforms.albu import SEED_RANGE
from segkit.registry import DATASETS
from segkit.utils import ConfigValueError
from segkit.utils.extras import MissingExtraError

REPO = Path(__file__).resolve().parents[2]

# Geometric (flip, affine with padding, crop) and colour steps, one nested.
STEPS = [
    dict(type='HorizontalFlip', p=0.5),
    dict(type='Affine', scale=(0.5, 1.5), keep_ratio=True,
         translate_percent=(-0.1, 0.1), fill_mask=255, p=1),
    dict(type='RandomCrop', height=40, width=48),
    dict(type='OneOf', transforms=[dict(type='RandomGamma', p=1),
                                   dict(type='Blur', blur_limit=3, p=1)],
         p=0.9),
]


def _sample(seed: int = 0) -> dict:
    """A 60x80 BGR image with a mask of 11 classes (plus void) and a second
    mask field, as LoadImageFromFile / LoadSegMap leave them."""
    rng = np.random.default_rng(seed)
    mask = rng.integers(0, 11, (60, 80), dtype=np.uint8)
    mask[:5] = 255
    return dict(img=rng.integers(0, 256, (60, 80, 3), dtype=np.uint8),
                gt_seg_map=mask, edges=(mask % 2).astype(np.uint8),
                seg_fields=['gt_seg_map', 'edges'], img_shape=(60, 80),
                ori_shape=(60, 80))


def _albumentations(seed: int, **targets) -> dict:
    """albumentations' own output for STEPS, its generators seeded as Albu
    documents: one draw of ``numpy.random`` seeded with ``seed``."""
    compose = A.Compose([
        A.HorizontalFlip(p=0.5),
        A.Affine(scale=(0.5, 1.5), keep_ratio=True,
                 translate_percent=(-0.1, 0.1), fill_mask=255, p=1),
        A.RandomCrop(height=40, width=48),
        A.OneOf([A.RandomGamma(p=1), A.Blur(blur_limit=3, p=1)], p=0.9),
    ])
    np.random.seed(seed)
    drawn = int(np.random.randint(SEED_RANGE, dtype=np.uint32))
    compose.set_random_state(np.random.default_rng(drawn),
                             random.Random(drawn))
    return compose(**targets)


@pytest.mark.parametrize('seed', range(6))
def test_output_equals_albumentations_for_the_same_seed(seed):
    sample = _sample(seed)
    want = _albumentations(seed, image=sample['img'],
                           mask=sample['gt_seg_map'])
    np.random.seed(seed)
    got = Albu(STEPS)(copy.deepcopy(sample))
    np.testing.assert_array_equal(got['img'], want['image'])
    np.testing.assert_array_equal(got['gt_seg_map'], want['mask'])
    # Every seg field moves with the image.
    np.testing.assert_array_equal(
        got['edges'],
        _albumentations(seed, image=sample['img'], mask=sample['edges'])[
            'mask'])
    assert got['img_shape'] == (40, 48) and got['ori_shape'] == (60, 80)


def test_masks_are_filled_with_fill_mask_and_never_interpolated():
    sample = _sample()
    sample['gt_seg_map'][:] = 3
    step = Albu([dict(type='Affine', scale=0.5, rotate=(10, 10),
                      fill_mask=255, p=1)])
    out = step(sample)
    assert set(np.unique(out['gt_seg_map'])) == {3, 255}
    assert set(np.unique(out['edges'])) <= {0, 1, 255}


def test_draws_follow_numpy_and_differ_between_transforms():
    """Reproducible under numpy's seed (MMEngine's randomness.seed and its
    per-worker seeds); the two flips are drawn apart, unlike with
    ``A.Compose(seed=...)`` where they always happen together."""
    step = Albu([dict(type='HorizontalFlip', p=0.5),
                 dict(type='VerticalFlip', p=0.5)])
    img = np.arange(12, dtype=np.uint8).reshape(3, 4, 1).repeat(3, axis=2)
    flips = {'h': img[:, ::-1], 'v': img[::-1], 'hv': img[::-1, ::-1],
             'none': img}

    def flip_of(seed):
        np.random.seed(seed)
        out = step(dict(img=img.copy(), seg_fields=[]))['img']
        return next(k for k, v in flips.items() if np.array_equal(out, v))

    seen = [flip_of(seed) for seed in range(40)]
    assert set(seen) == set(flips)
    assert seen == [flip_of(seed) for seed in range(40)]


def test_cached_frames_are_not_modified(camvid_sample_root):
    """After CachedLoading: each pass draws anew from its own copy, and
    neither the cache nor an earlier sample changes."""
    info = CamVidDataset(camvid_sample_root, pipeline=[]).get_data_info(0)
    loaders = [dict(type='LoadImageFromFile'), dict(type='LoadSegMap')]
    decoded = CachedLoading(loaders)(copy.deepcopy(info))
    cache = CachedLoading(loaders)
    step = Albu([dict(type='Affine', scale=(0.5, 1.5), fill_mask=255, p=1),
                 dict(type='GaussNoise', p=1)])
    first = step(cache(copy.deepcopy(info)))
    kept = {key: first[key].copy() for key in ('img', 'gt_seg_map')}
    second = step(cache(copy.deepcopy(info)))
    served = cache(copy.deepcopy(info))
    for key in ('img', 'gt_seg_map'):
        assert not np.array_equal(first[key], second[key])
        np.testing.assert_array_equal(first[key], kept[key])
        np.testing.assert_array_equal(served[key], decoded[key])
    assert cache.cached_bytes > 0


def test_input_arrays_are_left_alone():
    sample = _sample()
    before = copy.deepcopy(sample)
    Albu([dict(type='GaussNoise', p=1), dict(type='HorizontalFlip', p=1),
          dict(type='CLAHE', p=1)])(sample.copy())
    for key in ('img', 'gt_seg_map', 'edges'):
        np.testing.assert_array_equal(sample[key], before[key])


@pytest.mark.parametrize('steps, message', [
    ([dict(type='HorizontalFlp')],
     r"Albu transforms.0: type='HorizontalFlp' is not an albumentations "
     r".* transform; expected a class name such as 'HorizontalFlip'"),
    ([dict(p=1)], r"Albu transforms.0: type=None is not"),
    ([dict(type='OneOf', transforms=[dict(type='CLAHE'),
                                     dict(type='Blur', blur_limit='x')])],
     r'Albu transforms.0.transforms.1 \(Blur\): blur_limit'),
    ([dict(type='PadIfNeeded', always_apply=True)],
     r"Albu transforms.0 \(PadIfNeeded\): Argument\(s\) 'always_apply' are "
     r'not valid'),
    ([dict(type='RandomCrop', height=-3, width=3)],
     r"Albu transforms.0 \(RandomCrop\): height=-3: Input should be greater"),
])
def test_bad_configs_are_one_line_naming_the_step(steps, message):
    with pytest.raises(ConfigValueError, match=message) as error:
        Albu(steps)
    assert '\n' not in str(error.value)


def test_missing_albumentations_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *args: (
        None if name == 'albumentations' else real(name, *args)))
    with pytest.raises(MissingExtraError,
                       match=r"Albu needs .*pip install -e '\.\[albu\]'"):
        Albu([dict(type='HorizontalFlip')])


def test_smp_camvid_config_trains_on_320_crops(camvid_sample_root):
    """Only the training pipeline differs from the config it inherits."""
    cfg, base = (load_config(str(REPO / 'configs' / name),
                             {'data_root': str(camvid_sample_root)})
                 for name in ('unet_r18_camvid_albu.py', 'unet_r18_camvid.py'))
    steps = cfg.train_dataloader.dataset.pipeline
    assert [step['type'] for step in steps] == [
        'CachedLoading', 'Albu', 'PackSegInputs']
    base.train_dataloader.dataset.pipeline = steps
    for key in ('model', 'train_dataloader', 'val_dataloader',
                'optim_wrapper', 'param_scheduler', 'train_cfg'):
        assert cfg[key] == base[key]
    with DefaultScope.overwrite_default_scope('segkit'):
        dataset = DATASETS.build(cfg.train_dataloader.dataset)
    np.random.seed(0)
    for index in range(4):
        sample = dataset[index]
        labels = sample['data_samples'].gt_sem_seg.data
        assert sample['inputs'].shape == (3, 320, 320)
        assert labels.shape == (1, 320, 320)
        assert set(labels.unique().tolist()) <= set(range(11)) | {255}


def test_overrides_are_checked_against_albumentations_arguments():
    """segkit's RandomCrop takes crop_size; albumentations' pad_if_needed."""
    config = str(REPO / 'configs' / 'unet_r18_camvid_albu.py')
    steps = 'train_dataloader.dataset.pipeline.1.transforms'
    cfg = load_config(config, {f'{steps}.3.pad_if_needed': True,
                               f'{steps}.0.type': 'VerticalFlip'})
    albu = cfg.train_dataloader.dataset.pipeline[1]
    assert albu.transforms[3].pad_if_needed is True
    assert albu.transforms[0].type == 'VerticalFlip'
    with pytest.raises(ConfigKeyError, match=(
            rf"{steps}.6.transforms.0 \(CLAHE\) .* has no key 'clip_limt'; "
            rf"did you mean '{steps}.6.transforms.0.clip_limit'")):
        load_config(config, {f'{steps}.6.transforms.0.clip_limt': 2})
