"""Dataset analysis counts what the files hold: hand-made masks with known
counts, the real CamVid and Carvana-layout sets against the loader, class
weights, and tools/analyze_dataset.py as a user runs it."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segkit.datasets import (BaseSegDataset, CamVidDataset, CarvanaDataset,
                             FolderSegDataset)
from segkit.datasets.analysis import (analyze_split, format_analysis,
                                      split_warnings)
from segkit.datasets.class_weights import (compute_class_weights,
                                           dump_class_weights,
                                           load_class_weights)
from segkit.datasets.transforms import LoadSegMap
from segkit.models.losses import CrossEntropyLoss
from tool_process import run_python


def _folder(root: Path, masks: dict) -> Path:
    """``images/<name>.png`` (black, the mask's size) and
    ``labels/<name>.png`` = the given uint8 mask."""
    for name, mask in masks.items():
        for sub, array in (('images', np.zeros(mask.shape + (3, ),
                                               np.uint8)),
                           ('labels', mask)):
            (root / sub).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / sub / f'{name}.png'), array)
    return root


def _folder_dataset(root: Path, classes, **kwargs) -> FolderSegDataset:
    return FolderSegDataset(
        data_root=str(root), metainfo=dict(classes=classes),
        data_prefix=dict(img_path='images', seg_map_path='labels'),
        **kwargs)


def test_index_masks_counts_void_and_unmapped_values(tmp_path):
    a = np.zeros((4, 5), np.uint8)  # 20 pixels: 12 x 0, 5 x 1, 2 x 255, 1 x 7
    a[0, :5], a[1, :2], a[2, :1] = 1, 255, 7
    b = np.full((2, 3), 2, np.uint8)  # 6 pixels, all class 2
    b[0, 0] = 7
    root = _folder(tmp_path, dict(a=a, b=b))
    stats = analyze_split(_folder_dataset(root, ('x', 'y', 'z')))
    report = stats.to_dict()
    assert report['num_images'] == 2 and report['total_pixels'] == 26
    assert {(s['height'], s['width']) for s in report['image_sizes']} == {
        (4, 5), (2, 3)}
    assert [report['classes'][c]['pixels'] for c in 'xyz'] == [12, 5, 5]
    assert [report['classes'][c]['images'] for c in 'xyz'] == [1, 1, 1]
    assert report['classes']['z']['pixel_share'] == pytest.approx(5 / 26)
    assert report['classes']['y']['mean_area_share'] == pytest.approx(5 / 20)
    assert report['void']['pixels'] == 2
    assert report['void']['values'] == [
        dict(value=255, pixels=2, files=['a.png'])]
    assert report['unmapped']['pixels'] == 2
    assert report['unmapped']['values'] == [
        dict(value=7, pixels=2, files=['a.png', 'b.png'])]
    shares = [c['pixel_share'] for c in report['classes'].values()]
    assert sum(shares) + report['void']['pixel_share'] + report[
        'unmapped']['pixel_share'] == pytest.approx(1)
    text = format_analysis(stats, 'title')
    assert '7 unmapped: 2 pixels' in text and 'a.png, b.png' in text


def test_binary_0_255_masks_are_caught_and_fixed_by_a_label_map(tmp_path):
    mask = np.zeros((6, 6), np.uint8)
    mask[:2] = 255
    root = _folder(tmp_path, dict(m0=mask, m1=mask))
    wrong = analyze_split(BaseSegDataset(
        data_root=str(root), metainfo=dict(classes=('bg', 'fg')),
        data_prefix=dict(img_path='images', seg_map_path='labels')))
    warnings = split_warnings(wrong)
    assert "class 'fg' appears in no image of this split" in warnings
    assert any('label_map={0: 0, 255: 1}' in w for w in warnings)
    assert wrong.raw_values[255].files == ['m0.png', 'm1.png']
    right = analyze_split(_folder_dataset(root, ('bg', 'fg'),
                                          label_map={0: 0, 255: 1}))
    assert right.class_pixels.tolist() == [48, 24]
    assert not right.raw_values and not split_warnings(right)
    # FolderSegDataset reads 2-class masks so without a label_map
    by_default = analyze_split(_folder_dataset(root, ('bg', 'fg')))
    assert by_default.class_pixels.tolist() == [48, 24]


def test_colours_missing_from_class_dict_are_listed_apart_from_void(
        tmp_path):
    (tmp_path / 'class_dict.csv').write_text(
        'name,r,g,b\nroad,128,64,128\ncar,64,0,128\nUnlabelled,0,0,0\n')
    rgb = np.zeros((3, 4, 3), np.uint8)  # 12 pixels
    rgb[0] = (128, 64, 128)  # 4 road
    rgb[1, :3] = (64, 0, 128)  # 3 car
    rgb[2, :2] = (1, 2, 3)  # 2 of a colour the csv lacks; 3 void (0,0,0)
    for sub in ('train', 'train_labels'):
        (tmp_path / sub).mkdir()
    cv2.imwrite(str(tmp_path / 'train' / 'f.png'), rgb)
    cv2.imwrite(str(tmp_path / 'train_labels' / 'f_L.png'), rgb[..., ::-1])
    stats = analyze_split(CamVidDataset(data_root=str(tmp_path)))
    assert stats.class_pixels.tolist() == [4, 3]
    assert stats.raw_values[0].kind == 'void'
    assert stats.raw_values[0].pixels == 3
    (missing, ) = [r for r in stats.raw_values.values()
                   if r.kind == 'unmapped']
    assert (missing.value, missing.pixels, missing.files) == (
        (1, 2, 3), 2, ['f_L.png'])
    assert any('missing from the class list' in w
               for w in split_warnings(stats))


def test_real_camvid_counts_equal_what_the_loader_loads(camvid_root):
    dataset = CamVidDataset(data_root=str(camvid_root),
                            data_prefix=dict(img_path='val',
                                             seg_map_path='val_labels'),
                            indices=4)
    stats = analyze_split(dataset)
    loaded = sum(
        np.bincount(LoadSegMap()(dict(dataset.get_data_info(i)))[
            'gt_seg_map'].ravel(), minlength=256) for i in range(4))
    assert stats.class_pixels.tolist() == loaded[:11].tolist()
    assert stats.pixels_of('void') + stats.pixels_of('unmapped') == \
        loaded[255]
    assert stats.total_pixels == 4 * 360 * 480
    assert not stats.pixels_of('unmapped')  # the real csv has every colour


def test_carvana_gif_and_rle_masks_count_alike(carvana_root):
    split = dict(data_root=str(carvana_root), split='val')
    gif = analyze_split(CarvanaDataset(**split, indices=6))
    rle = analyze_split(CarvanaDataset(**split, mask_source='rle',
                                       indices=6))
    assert gif.class_pixels.tolist() == rle.class_pixels.tolist()
    assert gif.class_pixels.sum() == gif.total_pixels
    assert gif.class_pixels[1] > 0 and not gif.raw_values


def test_class_weight_methods_on_known_counts():
    pixels, image_pixels = [600, 300, 100, 0], [1000, 1000, 500, 0]
    inverse = compute_class_weights(pixels, image_pixels, 'inverse')
    assert inverse[:3] == pytest.approx([1000 / 1800, 1000 / 900,
                                         1000 / 300])
    median = compute_class_weights(pixels, image_pixels, 'median_frequency')
    # frequencies 0.6, 0.3, 0.2: median 0.3
    assert median[:3] == pytest.approx([0.5, 1.0, 1.5])
    enet = compute_class_weights(pixels, image_pixels, 'enet_log')
    assert enet[:3] == pytest.approx([1 / np.log(1.02 + p)
                                      for p in (0.6, 0.3, 0.1)])
    for weights in (inverse, median, enet):  # absent: the rarest's weight
        assert weights[3] == max(weights[:3])
    with pytest.raises(ValueError, match='expected one of'):
        compute_class_weights(pixels, image_pixels, 'sqrt')


def test_cross_entropy_takes_the_weights_file(tmp_path):
    path = tmp_path / 'class_weights.json'
    dump_class_weights(path, [0.5, 2.0, 4.0], ('a', 'b', 'c'), 'inverse',
                       dict(split='train'))
    assert load_class_weights(path) == [0.5, 2.0, 4.0]
    torch.manual_seed(0)
    logits, target = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    from_file = CrossEntropyLoss(class_weight=str(path))(logits, target)
    from_list = CrossEntropyLoss(class_weight=[0.5, 2.0, 4.0])(logits,
                                                                target)
    assert torch.equal(from_file, from_list)
    assert not torch.equal(from_file, CrossEntropyLoss()(logits, target))
    with pytest.raises(FileNotFoundError, match='analyze_dataset'):
        CrossEntropyLoss(class_weight=str(tmp_path / 'nope.json'))
    (tmp_path / 'bad.json').write_text('{"class_weight": [1, -2]}')
    with pytest.raises(ValueError, match='bad.json.*positive numbers'):
        CrossEntropyLoss(class_weight=str(tmp_path / 'bad.json'))


@pytest.mark.slow
def test_tool_writes_stats_weights_and_chart(tmp_path, camvid_sample_root):
    out = tmp_path / 'analysis'
    proc = run_python(
        ['tools/analyze_dataset.py',
         'configs/unet_camvid_quick.py', '--split', 'val', '--out', str(out),
         '--weights', 'enet_log', '--cfg-options',
         f'data_root={camvid_sample_root}'], timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert '4 images, sizes (HxW): 360x480 (4)' in proc.stdout
    stats = json.loads((out / 'stats.json').read_text())
    weights = json.loads((out / 'class_weights.json').read_text())
    assert weights['method'] == 'enet_log'
    assert weights['classes'] == list(stats['classes'])
    assert len(weights['class_weight']) == 11
    for entry in stats['classes'].values():
        assert {'pixels', 'pixel_share', 'images'} <= set(entry)
    assert stats['void']['pixels'] > 0 and stats['unmapped']['pixels'] == 0
    for name in stats['absent_classes']:
        assert f"warning: class {name!r} appears in no image" in proc.stdout
    assert (out / 'class_frequencies.png').read_bytes()[:4] == b'\x89PNG'
    bad = run_python(
        ['tools/analyze_dataset.py',
         'configs/unet_camvid_quick.py', '--cfg-options',
         f'data_root={tmp_path / "missing"}'], timeout=120)
    assert bad.returncode == 1 and 'Traceback' not in bad.stderr
    assert bad.stderr.startswith('error: --cfg-options data_root=')


@pytest.mark.slow  # the real tool in a subprocess
def test_tool_refuses_an_out_folder_it_cannot_write_in_one_line(tmp_path):
    (tmp_path / 'a_file').write_text('')
    proc = run_python(
        ['tools/analyze_dataset.py',
         'configs/unet_camvid_quick.py', '--out',
         str(tmp_path / 'a_file' / 'analysis')], timeout=120)
    assert proc.returncode == 1
    assert proc.stderr == (
        f'error: cannot write the --out folder {tmp_path}/a_file/analysis: '
        'Not a directory; choose another with --out\n')
