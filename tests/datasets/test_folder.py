"""FolderSegDataset on ISBI 2012, label_map's look-up table, split files and
.mat masks."""
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from segkit.datasets import FolderSegDataset
from segkit.datasets.transforms import LoadSegMap, apply_label_map
from segkit.registry import DATASETS

ISBI = dict(data_prefix=dict(img_path='images', seg_map_path='labels'),
            label_map={255: 0, 0: 1},
            metainfo=dict(classes=('cell', 'membrane')))
PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadSegMap'),
            dict(type='PackSegInputs')]


def test_isbi_membrane_is_class_1(isbi_root):
    ds = FolderSegDataset(isbi_root, pipeline=PIPELINE, **ISBI)
    assert len(ds) == len(list((isbi_root / 'images').glob('*.png')))
    assert ds.metainfo['classes'] == ('cell', 'membrane')
    for index in (0, len(ds) - 1):
        info = ds.get_data_info(index)
        raw = cv2.imread(info['seg_map_path'], cv2.IMREAD_UNCHANGED)
        sample = ds[index]
        seg = sample['data_samples'].gt_sem_seg.data[0].numpy()
        np.testing.assert_array_equal(seg, raw == 0)
        assert 0.1 < seg.mean() < 0.5  # membrane: thin, but not absent
        # Grey PNGs load as 3 equal channels: a 3-channel model fits as is.
        img = sample['inputs']
        assert img.shape == (3, 512, 512)
        assert (img[0] == img[1]).all() and (img[1] == img[2]).all()


def test_isbi_as_one_channel(isbi_root):
    ds = FolderSegDataset(isbi_root, pipeline=[
        dict(type='LoadImageFromFile', color_type='grayscale'),
        dict(type='LoadSegMap'), dict(type='PackSegInputs')], **ISBI)
    assert ds[0]['inputs'].shape == (1, 512, 512)


def make_folder(root: Path, stems, values=(0, 255)) -> Path:
    for sub in ('images', 'labels'):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for stem in stems:
        cv2.imwrite(str(root / 'images' / f'{stem}.png'),
                    np.zeros((2, 2), np.uint8))
        cv2.imwrite(str(root / 'labels' / f'{stem}.png'),
                    np.array([values[:2], values[-2:]], np.uint8))
    return root


def stems(ds: FolderSegDataset):
    return [Path(ds.get_data_info(i)['img_path']).stem
            for i in range(len(ds))]


def test_split_file(tmp_path):
    root = make_folder(tmp_path, ['01', '02', '03', '10'])
    (root / 'val.txt').write_text('10\n\n 02 \n')
    ds = FolderSegDataset(root, split_file='val.txt', **ISBI)
    assert stems(ds) == ['02', '10']
    absolute = FolderSegDataset(root, split_file=str(root / 'val.txt'),
                                **ISBI)
    assert stems(absolute) == ['02', '10']
    assert stems(FolderSegDataset(root, **ISBI)) == ['01', '02', '03', '10']


@pytest.mark.parametrize('text,error,message', [
    ('01\n04\n05\n', ValueError,
     r"2 name\(s\) in .*val.txt have no image <name>.png in "
     r"'.*images':\n  04\n  05"),
    ('01\n\n01\n', ValueError, r"val.txt, line 3: '01' is already listed "
     r'on line 1'),
    ('\n', ValueError, r'val.txt lists no samples'),
    (None, FileNotFoundError, r"split_file '.*val.txt' does not exist"),
])
def test_bad_split_file(tmp_path, text, error, message):
    root = make_folder(tmp_path, ['01', '02'])
    if text is not None:
        (root / 'val.txt').write_text(text)
    with pytest.raises(error, match=message):
        FolderSegDataset(root, split_file='val.txt', **ISBI)


def test_label_map_lut_matches_a_dict_lookup():
    label_map = {0: 1, 7: 3, 255: 0, 300: 2}
    every_byte = np.arange(256, dtype=np.uint8).reshape(16, 16)
    expected = [[label_map.get(v, 255) for v in row]
                for row in every_byte.tolist()]
    mapped = apply_label_map(every_byte, label_map)
    assert mapped.dtype == np.uint8 and mapped.tolist() == expected
    wide = np.array([[0, 300], [301, 65535]])
    for dtype in (np.uint16, np.int32, np.int64):
        assert apply_label_map(wide.astype(dtype), label_map,
                               ignore_index=9).tolist() == [[1, 2], [9, 9]]


@pytest.mark.parametrize('label_map,message', [
    ({}, 'expected a non-empty dict'),
    ({-1: 0}, r'raw value -1 is not an integer in 0..65535'),
    ({65536: 0}, r'raw value 65536'),
    ({'0': 1}, r"raw value '0'"),
    ({0: 256}, r'class id 256 is not an integer in 0..255'),
    ({0: 1.0}, r'class id 1.0'),
    ({True: 1}, r'raw value True'),
])
def test_bad_label_map(label_map, message):
    with pytest.raises(ValueError, match=message):
        apply_label_map(np.zeros((2, 2), np.uint8), label_map)


def test_label_map_on_out_of_range_values():
    with pytest.raises(ValueError, match=r'values -1..70000: expected '
                       r'0..65535'):
        apply_label_map(np.array([[-1, 70000]]), {0: 1})


def test_label_map_checked_against_classes(tmp_path):
    root = make_folder(tmp_path, ['01'])
    with pytest.raises(ValueError, match=r'maps to class ids \[2\], but '
                       r"there are 2 classes \('cell', 'membrane'\)"):
        FolderSegDataset(root, **{**ISBI, 'label_map': {0: 2, 255: 255}})
    with pytest.raises(ValueError, match=r'needs metainfo=dict\(classes='):
        FolderSegDataset(root, data_prefix=ISBI['data_prefix'])


def test_without_label_map_values_are_classes(tmp_path):
    root = make_folder(tmp_path, ['01'], values=(0, 1, 2, 1))
    ds = FolderSegDataset(root, **{**ISBI, 'label_map': None,
                                   'metainfo': dict(classes=('a', 'b', 'c'))})
    assert 'label_map' not in ds.get_data_info(0)
    assert not ds.default_label_map
    assert LoadSegMap()(ds.get_data_info(0))['gt_seg_map'].tolist() == \
        [[0, 1], [2, 1]]


@pytest.mark.parametrize('values,classes', [
    ((0, 255, 255, 0), [[0, 1], [1, 0]]),  # 0/255: 255 is the foreground
    ((0, 1, 1, 0), [[0, 1], [1, 0]]),  # 0/1 as they are
    ((0, 1, 7, 255), [[0, 1], [255, 1]]),  # 7: no class, ignore_index
])
def test_two_classes_without_label_map_read_binary_masks(
        tmp_path, values, classes):
    root = make_folder(tmp_path, ['01'], values=values)
    ds = FolderSegDataset(root, **{**ISBI, 'label_map': None})
    assert ds.default_label_map
    assert LoadSegMap()(ds.get_data_info(0))['gt_seg_map'].tolist() == \
        classes


def test_binary_default_only_without_label_map_and_with_255_void(tmp_path):
    root = make_folder(tmp_path, ['01'], values=(0, 255, 1, 0))
    kept = FolderSegDataset(root, **{**ISBI, 'label_map': {0: 0, 1: 1}})
    assert not kept.default_label_map
    assert LoadSegMap()(kept.get_data_info(0))['gt_seg_map'].tolist() == \
        [[0, 255], [1, 0]]
    other_void = FolderSegDataset(root, **{**ISBI, 'label_map': None,
                                           'ignore_index': 100})
    assert not other_void.default_label_map
    assert 'label_map' not in other_void.get_data_info(0)


def test_16_bit_mask_with_label_map(tmp_path):
    root = make_folder(tmp_path, ['01'])
    cv2.imwrite(str(root / 'labels' / '01.png'),
                np.array([[0, 1000], [1000, 5]], np.uint16))
    ds = FolderSegDataset(root, **{**ISBI, 'label_map': {0: 0, 1000: 1}})
    seg = LoadSegMap()(ds.get_data_info(0))['gt_seg_map']
    assert seg.dtype == np.uint8 and seg.tolist() == [[0, 1], [1, 255]]


def write_mat_header(path: Path) -> Path:
    """A MAT v5 file's 128-byte header: enough to be recognised as one."""
    text = b'MATLAB 5.0 MAT-file, Platform: GLNXA64'
    path.write_bytes(text.ljust(116) + b'\0' * 8 + b'\x00\x01IM')
    return path


def mat_dataset(root: Path, mat_key) -> FolderSegDataset:
    make_folder(root, ['01'])
    (root / 'labels' / '01.png').unlink()
    write_mat_header(root / 'labels' / '01.mat')
    return FolderSegDataset(root, **{**ISBI, 'seg_map_suffix': '.mat',
                                     'mat_key': mat_key})


def test_mat_without_scipy_names_file_and_fix(tmp_path, monkeypatch):
    # scipy is not a dependency (nor installed in segkit's venv): make it
    # absent whether or not it is.
    monkeypatch.setitem(sys.modules, 'scipy', None)
    monkeypatch.setitem(sys.modules, 'scipy.io', None)
    ds = mat_dataset(tmp_path, 'inst_map')
    info = ds.get_data_info(0)
    assert info['mat_key'] == 'inst_map'
    with pytest.raises(ImportError, match='pip install scipy') as err:
        LoadSegMap()(info)
    assert str(tmp_path / 'labels' / '01.mat') in str(err.value)


def test_mat_needs_mat_key(tmp_path):
    ds = mat_dataset(tmp_path, None)
    with pytest.raises(ValueError, match='expected mat_key') as err:
        LoadSegMap()(ds.get_data_info(0))
    assert '01.mat' in str(err.value)


def test_build_from_registry(isbi_root):
    ds = DATASETS.build(dict(type='FolderSegDataset',
                             data_root=str(isbi_root), **ISBI))
    assert isinstance(ds, FolderSegDataset)
    assert ds.get_data_info(0)['label_map'] == {255: 0, 0: 1}
