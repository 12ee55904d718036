"""BaseSegDataset: pairing images and masks by name, and its errors."""
import gc
import pickle
import random
from pathlib import Path

import pytest
from mmengine.dataset import BaseDataset

from segkit.datasets import BaseSegDataset
from segkit.registry import DATASETS
from segkit.utils import MAX_LISTED


def make_folder(root: Path, names, sub: str) -> Path:
    folder = root / sub
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(name.encode())
    return folder


def build(root: Path, **kwargs) -> BaseSegDataset:
    args = dict(data_root=root, img_suffix='.jpg', seg_map_suffix='_mask.png',
                data_prefix=dict(img_path='images', seg_map_path='masks'))
    return BaseSegDataset(**{**args, **kwargs})


STEMS = ['b 2', 'a.1', '10', '9', 'Z_x', 'a', 'a0']


def test_pairs_by_stem_not_by_position(tmp_path):
    # 'a.jpg' sorts before 'a0.jpg' but 'a_mask.png' after 'a0_mask.png':
    # pairing two sorted listings by position would swap these masks.
    shuffled = random.Random(0).sample(STEMS, len(STEMS))
    make_folder(tmp_path, [s + '.jpg' for s in shuffled] + ['notes.txt'],
                'images')
    make_folder(tmp_path, [s + '_mask.png' for s in reversed(shuffled)]
                + ['thumbs.db'], 'masks')
    (tmp_path / 'images' / 'folder.jpg').mkdir()  # not a file: skipped
    ds = build(tmp_path)
    stems = [Path(ds.get_data_info(i)['img_path']).name[:-4]
             for i in range(len(ds))]
    assert stems == sorted(STEMS)
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        img, seg = Path(info['img_path']), Path(info['seg_map_path'])
        assert seg.name == img.name[:-4] + '_mask.png'
        assert seg.read_bytes() == (img.name[:-4] + '_mask.png').encode()
        assert info['seg_fields'] == [] and info['ignore_index'] == 255


def test_image_without_mask_names_both(tmp_path):
    make_folder(tmp_path, ['a.jpg', 'b.jpg'], 'images')
    make_folder(tmp_path, ['a_mask.png'], 'masks')
    with pytest.raises(FileNotFoundError) as err:
        build(tmp_path)
    message = str(err.value)
    assert '1 image(s) have no mask' in message
    assert str(tmp_path / 'images' / 'b.jpg') in message
    assert str(tmp_path / 'masks' / 'b_mask.png') in message


def test_mask_without_image_names_both(tmp_path):
    make_folder(tmp_path, ['a.jpg'], 'images')
    make_folder(tmp_path, ['a_mask.png', 'c_mask.png'], 'masks')
    with pytest.raises(FileNotFoundError) as err:
        build(tmp_path)
    message = str(err.value)
    assert '1 mask(s) have no image' in message
    assert str(tmp_path / 'masks' / 'c_mask.png') in message
    assert str(tmp_path / 'images' / 'c.jpg') in message


def test_many_missing_masks_are_summarised(tmp_path):
    make_folder(tmp_path, [f'{i:02d}.jpg' for i in range(MAX_LISTED + 3)],
                'images')
    make_folder(tmp_path, [], 'masks')
    with pytest.raises(FileNotFoundError,
                       match=rf'(?s){MAX_LISTED + 3} image\(s\).*and 3 more'
                       ) as err:
        build(tmp_path)
    assert str(err.value).count('\n') == MAX_LISTED + 1


def test_folder_without_images(tmp_path):
    make_folder(tmp_path, ['a.png'], 'images')  # wrong suffix
    make_folder(tmp_path, ['a_mask.png'], 'masks')
    with pytest.raises(FileNotFoundError, match="no images ending in '.jpg'"
                       ) as err:
        build(tmp_path)
    assert str(tmp_path / 'images') in str(err.value)


def test_missing_data_root(tmp_path):
    missing = tmp_path / 'nowhere'
    with pytest.raises(FileNotFoundError, match='data_root') as err:
        build(missing)
    assert str(missing) in str(err.value)


def test_missing_prefix_folder(tmp_path):
    make_folder(tmp_path, ['a.jpg'], 'images')
    with pytest.raises(FileNotFoundError,
                       match=r"data_prefix\['seg_map_path'\]") as err:
        build(tmp_path)
    assert str(tmp_path / 'masks') in str(err.value)


def test_unknown_prefix_key(tmp_path):
    with pytest.raises(ValueError, match="'img'"):
        build(tmp_path, data_prefix=dict(img='images', seg_map_path='m'))


def test_shared_folder_splits_by_longer_suffix(tmp_path):
    # a.png is an image and a_L.png its mask, though both end in '.png'.
    make_folder(tmp_path, ['a.png', 'a_L.png', 'b.png', 'b_L.png'], 'all')
    ds = BaseSegDataset(tmp_path, data_prefix=dict(img_path='all',
                                                   seg_map_path='all'),
                        img_suffix='.png', seg_map_suffix='_L.png')
    assert [Path(ds.get_data_info(i)['seg_map_path']).name
            for i in range(len(ds))] == ['a_L.png', 'b_L.png']
    assert [Path(ds.get_data_info(i)['img_path']).name
            for i in range(len(ds))] == ['a.png', 'b.png']
    with pytest.raises(ValueError, match='different suffixes'):
        BaseSegDataset(tmp_path, data_prefix=dict(img_path='all',
                                                  seg_map_path='all'))


@pytest.mark.parametrize('serialize_data', [True, False])
def test_lazy_and_serialized_give_the_same_infos(tmp_path, serialize_data):
    make_folder(tmp_path, [s + '.jpg' for s in STEMS], 'images')
    make_folder(tmp_path, [s + '_mask.png' for s in STEMS], 'masks')
    eager = build(tmp_path)
    lazy = build(tmp_path, lazy_init=True, serialize_data=serialize_data)
    assert not lazy._fully_initialized
    lazy = pickle.loads(pickle.dumps(lazy))  # as sent to a worker
    assert len(lazy) == len(STEMS)
    assert [lazy.get_data_info(i) for i in range(len(lazy))] == \
        [eager.get_data_info(i) for i in range(len(eager))]
    # A pipeline that mutates its input must not change the dataset.
    lazy.get_data_info(0)['seg_fields'].append('gt_seg_map')
    assert lazy.get_data_info(0)['seg_fields'] == []


def test_serialises_as_mmengine_without_a_full_collection(tmp_path,
                                                         monkeypatch):
    make_folder(tmp_path, [s + '.jpg' for s in STEMS], 'images')
    make_folder(tmp_path, [s + '_mask.png' for s in STEMS], 'masks')
    infos = build(tmp_path, serialize_data=False).data_list
    collections = []
    monkeypatch.setattr(gc, 'collect', lambda *a: collections.append(a))
    dataset = build(tmp_path)
    assert dataset.serialize_data and not dataset.data_list
    assert not collections  # 0.2 s per dataset with torch loaded
    dataset.data_list = list(infos)
    expected = BaseDataset._serialize_data(dataset)
    assert collections  # MMEngine's own collects: the patch works
    assert dataset.data_bytes.tobytes() == expected[0].tobytes()
    assert dataset.data_address.dtype == expected[1].dtype
    assert (dataset.data_address == expected[1]).all()


def test_registered_and_builds_from_config(tmp_path):
    make_folder(tmp_path, ['a.jpg'], 'images')
    make_folder(tmp_path, ['a_mask.png'], 'masks')
    ds = DATASETS.build(dict(
        type='BaseSegDataset', data_root=str(tmp_path), img_suffix='.jpg',
        seg_map_suffix='_mask.png', ignore_index=0,
        data_prefix=dict(img_path='images', seg_map_path='masks'),
        pipeline=[dict(type='LoadSegMap')]))
    assert isinstance(ds, BaseSegDataset)
    assert ds.get_data_info(0)['ignore_index'] == 0
    assert type(ds.pipeline.transforms[0]).__name__ == 'LoadSegMap'
