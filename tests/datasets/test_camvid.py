"""CamVidDataset on the real data: classes from class_dict.csv, colour masks
decoded to the exact class map, and the csv's errors."""
import csv
import pickle
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segkit.datasets import CamVidDataset
from segkit.datasets.transforms import LoadSegMap
from segkit.registry import DATASETS
from segkit.utils import ConfigValueError

CLASSES = ('Sky', 'Building', 'Pole', 'Road', 'Pavement', 'Tree',
           'SignSymbol', 'Fence', 'Car', 'Pedestrian', 'Bicyclist')


def csv_rows(root: Path):
    with open(root / 'class_dict.csv', newline='') as f:
        return [(r['name'], [int(r['r']), int(r['g']), int(r['b'])])
                for r in csv.DictReader(f)]


def reference_classes(mask_path, rows) -> np.ndarray:
    """The obvious per-colour loop, to check the look-up table against."""
    rgb = cv2.cvtColor(cv2.imread(str(mask_path)), cv2.COLOR_BGR2RGB)
    out = np.full(rgb.shape[:2], 255, np.uint8)
    kept = [colour for name, colour in rows if name != 'Unlabelled']
    for index, colour in enumerate(kept):
        out[(rgb == colour).all(-1)] = index
    return out


def test_metainfo_from_class_dict(camvid_root):
    ds = CamVidDataset(camvid_root, lazy_init=True)
    assert ds.metainfo['classes'] == CLASSES
    rows = dict(csv_rows(camvid_root))
    assert ds.metainfo['palette'] == [rows[name] for name in CLASSES]
    assert rows['Unlabelled'] == [0, 0, 0]


@pytest.mark.parametrize('split,count', [('train', 12), ('val', 4)])
def test_bundled_sample(camvid_sample_root, split, count):
    ds = CamVidDataset(camvid_sample_root, data_prefix=dict(
        img_path=split, seg_map_path=split + '_labels'))
    assert len(ds) == count
    stems = [Path(ds.get_data_info(i)['img_path']).stem
             for i in range(count)]
    assert stems == sorted(stems)
    if split == 'train':
        assert {s.split('_')[0] for s in stems} == {
            '0001TP', '0006R0', '0016E5'}
    info = ds.get_data_info(0)
    assert info['seg_map_path'].endswith(f'{split}_labels/{stems[0]}_L.png')
    assert info['palette'] == ds.metainfo['palette']
    assert info['ignore_index'] == 255 and info['seg_fields'] == []


def test_palette_lookup_matches_reference_on_real_frames(camvid_root):
    ds = CamVidDataset(camvid_root, data_prefix=dict(
        img_path='val', seg_map_path='val_labels'))
    rows = csv_rows(camvid_root)
    load = LoadSegMap()
    for index in (0, len(ds) - 1):
        info = ds.get_data_info(index)
        seg = load(info)['gt_seg_map']
        expected = reference_classes(info['seg_map_path'], rows)
        assert seg.shape == (360, 480) and seg.dtype == np.uint8
        np.testing.assert_array_equal(seg, expected)
        assert len(np.unique(seg)) >= 5  # a real street scene, not void
        assert set(np.unique(seg)) <= set(range(11)) | {255}


def test_void_and_unknown_colours_are_ignored(camvid_sample_root, tmp_path):
    ds = CamVidDataset(camvid_sample_root, lazy_init=True)
    rgb = np.array([[[128, 64, 128],   # Road
                     [0, 0, 0],        # Unlabelled (void)
                     [1, 2, 3],        # in no row of the csv
                     [0, 128, 192]]], np.uint8)  # Bicyclist, the last class
    path = tmp_path / 'mask_L.png'
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    seg = LoadSegMap()(dict(seg_map_path=str(path), seg_fields=[],
                            palette=ds.metainfo['palette'],
                            ignore_index=255))['gt_seg_map']
    assert seg.tolist() == [[3, 255, 255, 10]]


def test_void_classes_can_be_kept(camvid_sample_root):
    ds = CamVidDataset(camvid_sample_root, void_classes=(), lazy_init=True)
    assert ds.metainfo['classes'] == CLASSES + ('Unlabelled',)
    assert ds.metainfo['palette'][-1] == [0, 0, 0]


@pytest.mark.parametrize('serialize_data', [True, False])
def test_serialize_and_lazy_init(camvid_sample_root, serialize_data):
    eager = CamVidDataset(camvid_sample_root, serialize_data=serialize_data,
                          pipeline=[dict(type='LoadImageFromFile'),
                                    dict(type='LoadSegMap'),
                                    dict(type='PackSegInputs')])
    lazy = CamVidDataset(camvid_sample_root, lazy_init=True,
                         serialize_data=serialize_data,
                         pipeline=eager.pipeline.transforms)
    lazy = pickle.loads(pickle.dumps(lazy))  # as a dataloader worker gets it
    assert len(lazy) == len(eager) == 12
    a, b = eager[5], lazy[5]
    assert torch.equal(a['inputs'], b['inputs'])
    assert torch.equal(a['data_samples'].gt_sem_seg.data,
                       b['data_samples'].gt_sem_seg.data)
    assert a['inputs'].shape == (3, 360, 480)
    assert a['data_samples'].gt_sem_seg.data.dtype == torch.int64


def test_build_from_registry(camvid_sample_root):
    ds = DATASETS.build(dict(type='CamVidDataset',
                             data_root=str(camvid_sample_root),
                             data_prefix=dict(img_path='val',
                                              seg_map_path='val_labels')))
    assert isinstance(ds, CamVidDataset) and len(ds) == 4


def sample_sequences(ds: CamVidDataset):
    return [Path(ds.get_data_info(i)['img_path']).name.split('_')[0]
            for i in range(len(ds))]


@pytest.mark.parametrize('sequences, kept', [
    (['0006R0', '0016E5'], {'0006R0', '0016E5'}),
    ('0001TP', {'0001TP'}),  # one name may be given bare
    (('0016E5', ), {'0016E5'}),
])
def test_sequences_keep_only_their_frames(camvid_sample_root, sequences,
                                          kept):
    every = sample_sequences(CamVidDataset(camvid_sample_root))
    ds = CamVidDataset(camvid_sample_root, sequences=sequences)
    assert set(sample_sequences(ds)) == kept
    assert len(ds) == sum(name in kept for name in every) < len(every)
    stems = [Path(ds.get_data_info(i)['img_path']).stem
             for i in range(len(ds))]
    assert stems == sorted(stems)


def test_sequences_and_indices_compose(camvid_sample_root):
    ds = CamVidDataset(camvid_sample_root, sequences=['0016E5'], indices=2)
    assert sample_sequences(ds) == ['0016E5'] * 2


def test_a_split_file_selects_frames_by_name(camvid_sample_root, tmp_path):
    """Every segkit dataset takes split_file (make_config's colour-mask
    configs split so), after its own selection."""
    names = ['0006R0_f01920', '0001TP_007290']
    (tmp_path / 'val.txt').write_text('\n'.join(names) + '\n')
    ds = CamVidDataset(camvid_sample_root, split_file=str(tmp_path /
                                                          'val.txt'))
    assert [Path(ds.get_data_info(i)['img_path']).stem
            for i in range(len(ds))] == sorted(names)
    with pytest.raises(ValueError, match=r"1 name\(s\) in .*val.txt have "
                       r"no image <name>.png in '.*train'"):
        CamVidDataset(camvid_sample_root, sequences='0001TP',
                      split_file=str(tmp_path / 'val.txt'))


def test_sequence_without_frames_names_the_folder_and_what_is_there(
        camvid_sample_root):
    with pytest.raises(ConfigValueError) as error:
        CamVidDataset(camvid_sample_root, sequences=['0001TP', 'Seq05VD'])
    message = str(error.value)
    assert "['Seq05VD'] have no frames in" in message
    assert str(camvid_sample_root / 'train') in message
    assert "['0001TP', '0006R0', '0016E5']" in message


@pytest.mark.parametrize('sequences', [[], ['0016E5', 1600000.0], 7])
def test_sequences_must_be_names(camvid_sample_root, sequences):
    with pytest.raises(ConfigValueError,
                       match=r'expected one or more sequence names'):
        CamVidDataset(camvid_sample_root, sequences=sequences)


def test_held_out_sequence_of_the_real_train_split(camvid_root):
    train = CamVidDataset(camvid_root, sequences=['0006R0', '0016E5'])
    held_out = CamVidDataset(camvid_root, sequences='0001TP')
    everything = CamVidDataset(camvid_root)
    assert len(train) + len(held_out) == len(everything)
    assert not ({train.get_data_info(i)['img_path'] for i in range(len(train))}
                & {held_out.get_data_info(i)['img_path']
                   for i in range(len(held_out))})


# --- class_dict.csv errors: each names the file and, for a row, its line.

GOOD = ['name,r,g,b', 'Sky,128,128,128', 'Road,128,64,128',
        'Unlabelled,0,0,0']


@pytest.fixture
def camvid_copy(camvid_sample_root, tmp_path) -> Path:
    """The sample's val split with a class_dict.csv to break."""
    for sub in ('val', 'val_labels'):
        shutil.copytree(camvid_sample_root / sub, tmp_path / sub)
    return tmp_path


def write_csv(root: Path, lines) -> Path:
    path = root / 'class_dict.csv'
    path.write_text('\n'.join(lines) + '\n')
    return path


def build_val(root: Path, **kwargs) -> CamVidDataset:
    return CamVidDataset(root, data_prefix=dict(
        img_path='val', seg_map_path='val_labels'), **kwargs)


def test_small_class_dict_turns_other_colours_void(camvid_copy):
    write_csv(camvid_copy, GOOD)
    ds = build_val(camvid_copy)
    assert ds.metainfo['classes'] == ('Sky', 'Road')
    seg = LoadSegMap()(ds.get_data_info(0))['gt_seg_map']
    assert set(np.unique(seg)) == {0, 1, 255}


def test_missing_class_dict(camvid_copy):
    with pytest.raises(FileNotFoundError, match='class_dict') as err:
        build_val(camvid_copy)
    assert str(camvid_copy / 'class_dict.csv') in str(err.value)


@pytest.mark.parametrize('lines,message', [
    (['name,red,green,blue'] + GOOD[1:], r'line 1: expected the header'),
    ([], r'line 1: expected the header'),
    (GOOD[:2] + ['Road,128,64'], r'line 3: expected 4 fields'),
    (GOOD[:2] + ['Road,128,64,grey'], r'line 3: expected integer r,g,b'),
    (GOOD[:2] + ['Road,128,64,256'], r'line 3: r,g,b must be in 0..255'),
    (GOOD[:2] + ['Road,-1,64,128'], r'line 3: r,g,b must be in 0..255'),
    (GOOD + ['Grass,128,64,128'],
     r"line 5: colour \(128, 64, 128\) of 'Grass' is already used by "
     r"'Road' on line 3"),
    (GOOD + ['Road,1,2,3'], r"line 5: class 'Road' already defined"),
    (GOOD[:1], r'no classes'),
])
def test_bad_class_dict(camvid_copy, lines, message):
    path = write_csv(camvid_copy, lines)
    with pytest.raises(ValueError, match=message) as err:
        build_val(camvid_copy)
    assert str(path) in str(err.value)


def test_void_class_not_in_csv(camvid_copy):
    write_csv(camvid_copy, GOOD)
    with pytest.raises(ValueError, match=r"\['Void'\] are not in"):
        build_val(camvid_copy, void_classes=('Void',))


def test_metainfo_classes_conflict_with_csv(camvid_copy):
    write_csv(camvid_copy, GOOD)
    with pytest.raises(ValueError, match='reads classes and palette'):
        build_val(camvid_copy, metainfo=dict(classes=('a', 'b')))
