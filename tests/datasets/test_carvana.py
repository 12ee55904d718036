"""CarvanaDataset on the real data: the split by car, 0/1 and 0/255 GIF
masks, RLE masks from the csv, and the errors."""
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from segkit.datasets import CarvanaDataset, split_car_ids
from segkit.datasets.transforms import LoadImageFromFile, LoadSegMap
from segkit.registry import DATASETS

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadSegMap'),
            dict(type='PackSegInputs')]


def names(ds: CarvanaDataset):
    return [Path(ds.get_data_info(i)['img_path']).name
            for i in range(len(ds))]


def cars(ds: CarvanaDataset):
    return {name[:12] for name in names(ds)}


def all_cars(root: Path):
    return {p.name[:12] for p in (root / 'train').glob('*.jpg')}


def load(info: dict) -> np.ndarray:
    return LoadSegMap()(LoadImageFromFile()(info))['gt_seg_map']


def gif(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.array(im)


def test_split_is_by_car_and_covers_everything(carvana_root):
    train = CarvanaDataset(carvana_root)
    val = CarvanaDataset(carvana_root, split='val')
    every = CarvanaDataset(carvana_root, split='all')
    assert cars(train) and cars(val)
    assert not cars(train) & cars(val)
    assert cars(train) | cars(val) == all_cars(carvana_root)
    assert sorted(names(train) + names(val)) == names(every)
    assert len(names(every)) == len(list((carvana_root / 'train').glob(
        '*.jpg')))
    n = len(all_cars(carvana_root))
    assert len(cars(val)) == max(1, round(0.2 * n))


def test_split_is_deterministic_and_seeded(carvana_root):
    first = names(CarvanaDataset(carvana_root, split='val'))
    again = names(CarvanaDataset(carvana_root, split='val'))
    assert first == again
    by_seed = {frozenset(cars(CarvanaDataset(carvana_root, split='val',
                                             seed=seed)))
               for seed in range(6)}
    assert len(by_seed) > 1


def test_split_depends_only_on_ids_and_seed():
    # Pinned: the same ids give the same split in any process, Python
    # version or listing order (sha256 ranks, not hash() or random).
    ids = [f'{i:012x}' for i in range(10)]
    train, val = split_car_ids(list(reversed(ids)), val_ratio=0.3, seed=0)
    assert (train, val) == split_car_ids(ids, 0.3, 0)
    assert val == ['000000000002', '000000000005', '000000000009']
    assert sorted(train + val) == ids
    assert split_car_ids(ids, 0.3, 1)[1] != val
    # A car's side does not depend on the other cars present.
    assert set(split_car_ids(ids + ['00000000000a'], 0.3, 0)[1]) >= {
        '000000000002', '000000000005'}
    with pytest.raises(ValueError, match='at least 2'):
        split_car_ids(['a'])


def test_explicit_ids(carvana_root):
    ids = sorted(all_cars(carvana_root))
    val = CarvanaDataset(carvana_root, split='val', val_ids=ids[:1])
    train = CarvanaDataset(carvana_root, val_ids=ids[:1])
    assert cars(val) == {ids[0]} and cars(train) == set(ids[1:])
    # Both lists: a car in neither is in neither split.
    both = dict(train_ids=ids[1:2], val_ids=ids[:1])
    assert cars(CarvanaDataset(carvana_root, **both)) == {ids[1]}
    assert cars(CarvanaDataset(carvana_root, split='val', **both)) == {ids[0]}
    only_train = CarvanaDataset(carvana_root, split='val', train_ids=ids[1:])
    assert cars(only_train) == {ids[0]}


@pytest.mark.parametrize('kwargs,error,message', [
    (dict(val_ids=['deadbeef0000', 'cafe00000000']), ValueError,
     r"2 car id\(s\) in train_ids/val_ids have no image.*\n  cafe00000000"
     r"\n  deadbeef0000"),
    (dict(split='val', val_ids=[]), ValueError, r"split 'val' has no cars"),
])
def test_bad_explicit_ids_on_load(carvana_sample_root, kwargs, error,
                                  message):
    with pytest.raises(error, match=message):
        CarvanaDataset(carvana_sample_root, **kwargs)


@pytest.mark.parametrize('kwargs,error,message', [
    (dict(train_ids=['a', 'b'], val_ids=['b']), ValueError,
     r"\['b'\] are in both"),
    (dict(val_ids='7a948f998779'), TypeError, 'expected a list of car ids'),
    (dict(split='test'), ValueError, r"split 'test'"),
    (dict(mask_source='png'), ValueError, r"mask_source 'png'"),
    (dict(val_ratio=1.0), ValueError, r'val_ratio 1.0'),
])
def test_bad_arguments(carvana_sample_root, kwargs, error, message):
    with pytest.raises(error, match=message):
        CarvanaDataset(carvana_sample_root, lazy_init=True, **kwargs)


def test_gif_masks_load_as_0_1(carvana_sample_root):
    ds = CarvanaDataset(carvana_sample_root, split='all', pipeline=PIPELINE)
    assert ds.metainfo['classes'] == ('background', 'car')
    assert ds.metainfo['palette'][0] == [0, 0, 0]
    info = ds.get_data_info(0)
    assert info['label_map'] == {0: 0, 1: 1, 255: 1}
    assert 'seg_map_rle' not in info
    sample = ds[0]
    seg = sample['data_samples'].gt_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(seg, gif(info['seg_map_path']))
    assert set(np.unique(seg)) == {0, 1}
    assert sample['inputs'].shape == (3, 360, 480)


def make_carvana(root: Path, mask: np.ndarray, palette) -> Path:
    """A one-image Carvana layout whose GIF holds ``mask``'s indices."""
    (root / 'train').mkdir(parents=True)
    (root / 'train_masks').mkdir()
    cv2.imwrite(str(root / 'train' / 'abc_01.jpg'),
                np.zeros(mask.shape + (3,), np.uint8))
    image = Image.fromarray(mask, mode='P')
    image.putpalette(palette)
    image.save(root / 'train_masks' / 'abc_01_mask.gif', optimize=False)
    return root


def test_0_255_gif_loads_as_0_1(tmp_path):
    mask = np.array([[0, 255, 255], [255, 0, 128]], np.uint8)
    root = make_carvana(tmp_path, mask, [0, 0, 0] * 255 + [255, 255, 255])
    info = CarvanaDataset(root, split='all').get_data_info(0)
    assert gif(info['seg_map_path']).tolist() == mask.tolist()  # as written
    # 128 is neither background nor car: void, not a guess.
    assert load(info).tolist() == [[0, 1, 1], [1, 0, 255]]


def test_rle_masks_equal_gif_masks(carvana_sample_root):
    from_gif = CarvanaDataset(carvana_sample_root, split='all')
    from_rle = CarvanaDataset(carvana_sample_root, split='all',
                              mask_source='rle')
    assert names(from_gif) == names(from_rle)
    csv = str(carvana_sample_root / 'train_masks.csv')
    empty = 0
    for i in range(len(from_rle)):
        info = from_rle.get_data_info(i)
        assert info['seg_map_path'] == csv and 'label_map' not in info
        empty += info['seg_map_rle'] == ''
        seg = load(info)
        assert seg.dtype == np.uint8
        np.testing.assert_array_equal(seg, load(from_gif.get_data_info(i)))
    assert empty == 6


def test_rle_source_needs_no_mask_folder(carvana_sample_root, tmp_path):
    shutil.copytree(carvana_sample_root / 'train', tmp_path / 'train')
    shutil.copy(carvana_sample_root / 'train_masks.csv', tmp_path)
    ds = CarvanaDataset(tmp_path, split='val', mask_source='rle')
    assert len(ds) > 0 and load(ds.get_data_info(0)).shape == (360, 480)


def write_csv(root: Path, rows) -> Path:
    path = root / 'train_masks.csv'
    path.write_text('img,rle_mask\n' + ''.join(f'{n},{r}\n' for n, r in rows))
    return path


def test_missing_csv_row_names_image_and_csv(tmp_path):
    root = make_carvana(tmp_path, np.zeros((2, 3), np.uint8), [0, 0, 0])
    csv = write_csv(root, [('other_01.jpg', '1 2')])
    with pytest.raises(ValueError, match=r'1 image\(s\) have no row') as err:
        CarvanaDataset(root, split='all', mask_source='rle')
    assert str(csv) in str(err.value) and 'abc_01.jpg' in str(err.value)


def test_bad_rle_names_image_and_csv(tmp_path):
    root = make_carvana(tmp_path, np.zeros((2, 3), np.uint8), [0, 0, 0])
    csv = write_csv(root, [('abc_01.jpg', '5 3')])
    ds = CarvanaDataset(root, split='all', mask_source='rle')
    with pytest.raises(ValueError, match='run past the last pixel') as err:
        load(ds.get_data_info(0))
    assert str(csv) in str(err.value)
    assert str(root / 'train' / 'abc_01.jpg') in str(err.value)
    with pytest.raises(ValueError, match='expected LoadImageFromFile before'):
        LoadSegMap()(ds.get_data_info(0))


def test_image_name_without_view(tmp_path):
    (tmp_path / 'train').mkdir()
    (tmp_path / 'train' / 'abc.jpg').write_bytes(b'')
    write_csv(tmp_path, [('abc.jpg', '')])
    with pytest.raises(ValueError, match=r'expected a name <car>_<view>.jpg'):
        CarvanaDataset(tmp_path, split='all', mask_source='rle')


def test_build_from_registry(carvana_sample_root):
    ds = DATASETS.build(dict(type='CarvanaDataset',
                             data_root=str(carvana_sample_root),
                             split='val', mask_source='rle',
                             pipeline=PIPELINE))
    assert isinstance(ds, CarvanaDataset)
    assert ds[0]['data_samples'].gt_sem_seg.data.shape == (1, 360, 480)
