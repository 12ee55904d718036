"""CachedLoading: decode once per process, identical samples after."""
import copy

import numpy as np
import pytest

from segkit.datasets import CamVidDataset
from segkit.datasets.transforms import CachedLoading, loading
from segkit.registry import TRANSFORMS

LOADERS = [dict(type='LoadImageFromFile'), dict(type='LoadSegMap')]


@pytest.fixture
def decodes(monkeypatch) -> dict:
    """How often each real loading step ran."""
    counts = dict(LoadImageFromFile=0, LoadSegMap=0)
    for name in counts:
        cls = getattr(loading, name)
        original = cls.transform

        def counted(self, results, _name=name, _original=original):
            counts[_name] += 1
            return _original(self, results)

        monkeypatch.setattr(cls, 'transform', counted)
    return counts


@pytest.fixture
def sample(camvid_sample_root) -> dict:
    """A real CamVid data info, as the dataset hands it to the pipeline."""
    return CamVidDataset(camvid_sample_root, pipeline=[]).get_data_info(0)


def test_a_repeated_sample_is_served_from_memory(decodes, sample):
    step = CachedLoading(LOADERS)
    first = step(copy.deepcopy(sample))
    second = step(copy.deepcopy(sample))
    assert decodes == dict(LoadImageFromFile=1, LoadSegMap=1)
    assert first.keys() == second.keys()
    for key in ('img', 'gt_seg_map'):
        np.testing.assert_array_equal(first[key], second[key])
    assert second['seg_fields'] == ['gt_seg_map']
    assert second['ori_shape'] == first['ori_shape'] == (360, 480)
    assert step.cached_bytes == first['img'].nbytes + first[
        'gt_seg_map'].nbytes


def test_hits_are_copies_that_later_steps_may_change(sample):
    step = CachedLoading(LOADERS)
    reference = step(copy.deepcopy(sample))['img'].copy()
    step(copy.deepcopy(sample))['img'][:] = 0
    step(copy.deepcopy(sample))['seg_fields'].append('changed')
    third = step(copy.deepcopy(sample))
    np.testing.assert_array_equal(third['img'], reference)
    assert third['seg_fields'] == ['gt_seg_map']


def test_keys_the_loaders_did_not_set_come_from_the_sample(sample):
    step = CachedLoading(LOADERS)
    step(dict(copy.deepcopy(sample), sample_idx=3))
    again = step(dict(copy.deepcopy(sample), sample_idx=8, note='new'))
    assert again['sample_idx'] == 8 and again['note'] == 'new'


def test_samples_beyond_the_budget_are_decoded_every_time(decodes, sample):
    step = CachedLoading(LOADERS, max_mb=0.5)  # a frame is 0.66 MiB
    for _ in range(2):
        step(copy.deepcopy(sample))
    assert decodes == dict(LoadImageFromFile=2, LoadSegMap=2)
    assert step.cached_bytes == 0


def test_a_failing_file_is_not_cached(decodes, sample, tmp_path):
    step = CachedLoading(LOADERS)
    missing = dict(copy.deepcopy(sample), img_path=str(tmp_path / 'x.png'))
    for _ in range(2):
        with pytest.raises(FileNotFoundError, match='x.png'):
            step(copy.deepcopy(missing))
    assert decodes['LoadImageFromFile'] == 2
    assert step.cached_bytes == 0


@pytest.mark.parametrize('kwargs, message', [
    (dict(transforms=[]), 'needs the loading transforms'),
    (dict(transforms=LOADERS, max_mb=-1), 'max_mb=-1'),
])
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TRANSFORMS.build(dict(type='CachedLoading', **kwargs))


def test_a_cached_pipeline_gives_the_uncached_samples(camvid_sample_root):
    """Same seed, same augmentations: caching changes nothing but speed."""
    augment = [dict(type='RandomCrop', crop_size=(64, 96)),
               dict(type='RandomFlip', prob=0.5),
               dict(type='PackSegInputs')]
    plain = CamVidDataset(camvid_sample_root, pipeline=LOADERS + augment)
    cached = CamVidDataset(
        camvid_sample_root,
        pipeline=[dict(type='CachedLoading', transforms=LOADERS)] + augment)
    outputs = []
    for dataset in (plain, cached):
        np.random.seed(0)
        outputs.append([dataset[i % 3] for i in range(6)])  # 3 repeats
    for a, b in zip(*outputs):
        assert a['inputs'].equal(b['inputs'])
        assert a['data_samples'].gt_sem_seg.data.equal(
            b['data_samples'].gt_sem_seg.data)
