"""The masks check before training: real ISBI 0/255 masks and CamVid colour
masks read as a user's first configs would read them, each mistake one
line naming the values, a file and the fix."""
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from segkit.datasets import BaseSegDataset, CamVidDataset, FolderSegDataset
from segkit.datasets.data_check import MAX_MASKS, MIN_MASKS, check_masks
from segkit.utils import DataError

FOLDER = dict(data_prefix=dict(img_path='images', seg_map_path='labels'))


def isbi_copy(root: Path, isbi_root: Path, count: int = 4) -> Path:
    """The first ``count`` ISBI slices: grey images, 0/255 masks."""
    for sub in ('images', 'labels'):
        (root / sub).mkdir(parents=True)
        for path in sorted((isbi_root / sub).glob('*.png'))[:count]:
            shutil.copy(path, root / sub / path.name)
    return root


def refusal(dataset, split: str) -> str:
    """The message check_masks refuses ``dataset`` with: one line."""
    with pytest.raises(DataError) as error:
        check_masks(dataset, split)
    message = str(error.value)
    assert '\n' not in message
    return message


def test_0_255_masks_of_two_classes_read_255_as_foreground_and_say_so(
        tmp_path, isbi_root):
    root = isbi_copy(tmp_path, isbi_root)
    found = check_masks(FolderSegDataset(
        root, metainfo=dict(classes=('background', 'cell')), **FOLDER),
        'train')
    assert found.notes == [
        'train masks hold 0 and 255: FolderSegDataset reads 255 as class 1 '
        "('cell'), its default for 2 classes without a label_map"]
    assert not found.warnings and found.masks_read == 4


def test_0_255_masks_of_more_classes_are_refused_with_the_label_map(
        tmp_path, isbi_root):
    root = isbi_copy(tmp_path, isbi_root)
    message = refusal(FolderSegDataset(
        root, metainfo=dict(classes=('a', 'b', 'c')), **FOLDER), 'train')
    assert message.startswith('train masks hold only 0 and 255 (all 4 read, '
                              'e.g. 0')
    assert message.endswith('.png), and 255 is ignore_index: every pixel '
                            'that is not 0 would be ignored, never learnt or '
                            'scored. For 0/255 binary masks, set label_map='
                            '{0: 0, 255: 1} with 2 classes')
    # A dataset without a label_map is told which one has it.
    with pytest.raises(DataError, match=r"2 classes \(a label_map needs "
                       r"type='FolderSegDataset', not BaseSegDataset\)$"):
        check_masks(BaseSegDataset(
            root, metainfo=dict(classes=('a', 'b')), **FOLDER), 'val')


def test_255_declared_void_by_a_label_map_is_not_refused(tmp_path,
                                                          isbi_root):
    root = isbi_copy(tmp_path, isbi_root)
    found = check_masks(FolderSegDataset(
        root, metainfo=dict(classes=('membrane', 'other')),
        label_map={0: 0, 255: 255}, **FOLDER), 'train')
    assert found.warnings == [
        "class 'other' has no pixels in the 4 train masks read: never "
        'learnt']


def test_values_no_class_stands_for_are_refused_with_the_fix(tmp_path):
    for sub in ('images', 'labels'):
        (tmp_path / sub).mkdir()
    levels = np.array([[0, 128], [255, 0]], np.uint8)
    for name in ('a', 'b'):
        cv2.imwrite(str(tmp_path / 'images' / f'{name}.png'), levels)
        cv2.imwrite(str(tmp_path / 'labels' / f'{name}.png'), levels)
    classes = dict(metainfo=dict(classes=('x', 'y', 'z')), **FOLDER)
    assert refusal(FolderSegDataset(tmp_path, **classes), 'train') == (
        'train masks hold value 128 (e.g. in a.png) that are no class id of '
        "the 3 classes ('x', 'y', 'z'): they would load as ignore_index, "
        'never learnt or scored; expected ids 0..2 or 255 (ignore_index): '
        'set label_map={0: 0, 128: 1, 255: 2}')
    assert refusal(FolderSegDataset(tmp_path, label_map={0: 0, 255: 1},
                                    **classes), 'val') == (
        'val masks hold value 128 (e.g. in a.png) that label_map {0: 0, '
        '255: 1} does not map: they would load as ignore_index, never '
        'learnt or scored; map each to a class id, or to 255 to ignore it '
        'on purpose: label_map={0: 0, 255: 1, 128: 255}')
    assert not check_masks(FolderSegDataset(
        tmp_path, label_map={0: 0, 128: 1, 255: 2}, **classes),
        'train').warnings
    binary = dict(classes, metainfo=dict(classes=('bg', 'fg')))
    assert refusal(FolderSegDataset(tmp_path, **binary), 'train') == (
        'train masks hold value 128 (e.g. in a.png) that label_map {0: 0, '
        "1: 1, 255: 1} (FolderSegDataset's default for 2 classes) does not "
        'map: they would load as ignore_index, never learnt or scored; map '
        'each to a class id, or to 255 to ignore it on purpose: '
        'label_map={0: 0, 1: 1, 255: 1, 128: 255}')


def test_0_1_255_masks_read_by_the_binary_default_are_warned(tmp_path):
    for sub in ('images', 'labels'):
        (tmp_path / sub).mkdir()
    mask = np.array([[0, 1], [255, 0]], np.uint8)
    cv2.imwrite(str(tmp_path / 'images' / 'a.png'), mask)
    cv2.imwrite(str(tmp_path / 'labels' / 'a.png'), mask)
    found = check_masks(FolderSegDataset(
        tmp_path, metainfo=dict(classes=('bg', 'fg')), **FOLDER), 'train')
    assert found.warnings == [
        'train masks hold 0, 1 and 255: FolderSegDataset reads both 1 and '
        "255 as class 1 ('fg'), its default for 2 classes; if 255 marks "
        'void pixels, set label_map={0: 0, 1: 1}']


def camvid_copy(root: Path, camvid_sample_root: Path, csv: str) -> Path:
    """The CamVid sample's val frames with another class_dict.csv."""
    for sub in ('val', 'val_labels'):
        shutil.copytree(camvid_sample_root / sub, root / sub)
    (root / 'class_dict.csv').write_text(csv)
    return root


def test_colours_missing_from_class_dict_are_refused_naming_them(
        tmp_path, camvid_sample_root):
    rows = (camvid_sample_root / 'class_dict.csv').read_text().splitlines()
    without_road = '\n'.join(r for r in rows if not r.startswith('Road'))
    root = camvid_copy(tmp_path, camvid_sample_root, without_road)
    message = refusal(CamVidDataset(root, data_prefix=dict(
        img_path='val', seg_map_path='val_labels')), 'val')
    assert message.startswith('val masks hold colour (128, 64, 128) (e.g. '
                              'in 0016E5_0')
    assert message.endswith(
        f"_L.png) that no row of {root / 'class_dict.csv'} names: they would "
        'load as ignore_index, never learnt or scored; add a row for each '
        "('<name>,128,64,128') with a new class name, or the name of a "
        'void class to ignore it')


def test_a_class_no_mask_holds_is_named(tmp_path, camvid_sample_root):
    csv = (camvid_sample_root / 'class_dict.csv').read_text()
    root = camvid_copy(tmp_path, camvid_sample_root,
                       csv.replace('Unlabelled', 'Animal,1,2,3\nUnlabelled'))
    found = check_masks(CamVidDataset(root, data_prefix=dict(
        img_path='val', seg_map_path='val_labels')), 'val')
    assert found.warnings == [
        "class 'Animal' has no pixels in the 4 val masks read: left out of "
        'the mean scores, or scored 0 where the model predicts it']


def test_camvid_reads_few_masks_and_finds_nothing(camvid_root):
    for split in ('train', 'val'):
        dataset = CamVidDataset(camvid_root, data_prefix=dict(
            img_path=split, seg_map_path=f'{split}_labels'))
        found = check_masks(dataset, split)
        assert not found.notes and not found.warnings
        assert found.masks_read == min(MIN_MASKS, len(dataset))


def test_an_absent_class_reads_at_most_max_masks(tmp_path, isbi_root):
    root = isbi_copy(tmp_path, isbi_root, count=2)
    for sub in ('images', 'labels'):  # many copies of the two slices
        for path in sorted((root / sub).glob('*.png')):
            for copy in range(MAX_MASKS):
                shutil.copy(path, root / sub / f'{path.stem}_{copy}.png')
    found = check_masks(FolderSegDataset(
        root, metainfo=dict(classes=('membrane', 'cell', 'nucleus')),
        label_map={0: 0, 255: 1}, **FOLDER), 'train')
    assert found.masks_read == MAX_MASKS
    assert found.warnings == [
        f"class 'nucleus' has no pixels in the {MAX_MASKS} train masks read "
        f'(of {2 * MAX_MASKS + 2}): never learnt']
