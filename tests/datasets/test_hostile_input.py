"""Broken and hostile data under both bad-sample policies.

Each case breaks one sample of a healthy copy of real CamVid frames in
tmp_path. ``on_bad_sample='raise'`` must name the file, in the main process
and through a DataLoader worker; ``'skip'`` must warn naming it, replace the
sample, and carry the skip to the training loop in the replacement's
metainfo.
"""
import os
import shutil
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple

import cv2
import numpy as np
import pytest
from mmengine.runner import Runner
from PIL import Image
from torch.utils.data import DataLoader

from segkit.datasets import CamVidDataset, FolderSegDataset
from segkit.structures import SKIPPED_SAMPLES_KEY
from segkit.engine.hooks import BadSampleHook
from segkit.datasets.transforms import LoadSegMap
from segkit.utils import DataError

PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadSegMap'),
            dict(type='PackSegInputs')]
STEMS = 3  # frames per healthy copy
BAD = 1    # index of the sample each case breaks
NON_UTF8 = os.fsdecode(b'caf\xff')  # how os.listdir returns b'caf\xff'


def printable_form(path: str) -> str:
    """How errors must show ``path``: non-UTF-8 bytes as ``\\xNN``."""
    return os.fsencode(path).decode('utf-8', 'backslashreplace')


# --- healthy copies --------------------------------------------------------


@pytest.fixture(scope='module')
def frames(camvid_sample_root) -> List[tuple]:
    """``(stem, BGR image, colour mask bytes, class-id mask)`` of a few real
    frames."""
    out = []
    for img in sorted((camvid_sample_root / 'val').glob('*.png'))[:STEMS]:
        mask = camvid_sample_root / 'val_labels' / f'{img.stem}_L.png'
        classes = LoadSegMap()(dict(
            seg_map_path=str(mask),
            palette=CamVidDataset(camvid_sample_root,
                                  lazy_init=True).metainfo['palette'])
        )['gt_seg_map']
        out.append((img.stem, cv2.imread(str(img)), mask.read_bytes(),
                    classes))
    return out


def camvid_copy(root: Path, frames, camvid_sample_root) -> Callable:
    """CamVid layout: PNG frames, colour PNG masks, class_dict.csv."""
    (root / 'val').mkdir()
    (root / 'val_labels').mkdir()
    shutil.copy(camvid_sample_root / 'class_dict.csv', root)
    for stem, image, colour, _ in frames:
        cv2.imwrite(str(root / 'val' / f'{stem}.png'), image)
        (root / 'val_labels' / f'{stem}_L.png').write_bytes(colour)
    return lambda **kw: CamVidDataset(
        root, data_prefix=dict(img_path='val', seg_map_path='val_labels'),
        pipeline=PIPELINE, **kw)


def folder_copy(root: Path, frames, mask_format: str) -> Callable:
    """Carvana-like layout: JPEG frames, index masks (PNG or GIF)."""
    (root / 'images').mkdir()
    (root / 'masks').mkdir()
    for stem, image, _, classes in frames:
        cv2.imwrite(str(root / 'images' / f'{stem}.jpg'), image)
        Image.fromarray(classes, mode='L' if mask_format == 'png' else 'P'
                        ).save(root / 'masks' / f'{stem}.{mask_format}')
    return lambda **kw: FolderSegDataset(
        root, data_prefix=dict(img_path='images', seg_map_path='masks'),
        img_suffix='.jpg', seg_map_suffix='.' + mask_format,
        metainfo=dict(classes=tuple(f'c{i}' for i in range(11))),
        pipeline=PIPELINE, **kw)


# --- the cases: each breaks sample BAD and says what the error must say ----


def truncate(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


def empty(path: Path) -> Path:
    path.write_bytes(b'')
    return path


def half_size_mask(path: Path) -> Path:
    colour = cv2.imread(str(path))
    cv2.imwrite(str(path), colour[::2, ::2])
    return path


def grey_mask(path: Path) -> Path:
    cv2.imwrite(str(path), cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
    return path


def colour_mask(path: Path) -> Path:
    index = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    cv2.imwrite(str(path), np.dstack([index, index * 2, index * 3]))
    return path


def link_loop(path: Path) -> Path:
    path.unlink()
    partner = path.with_name('partner.lnk')
    os.symlink(path.name, partner)
    os.symlink(partner.name, path)
    return path


def dangling_link(path: Path) -> Path:
    path.unlink()
    os.symlink('nowhere.png', path)
    return path


def non_utf8_truncated(path: Path) -> Path:
    """Renames the pair to a non-UTF-8 stem, then truncates the image."""
    stem = path.name[:-len('.png')]
    mask = path.parent.parent / 'val_labels' / f'{stem}_L.png'
    mask.rename(mask.with_name(NON_UTF8 + '_L.png'))
    return truncate(path.rename(path.with_name(NON_UTF8 + '.png')))


class Case(NamedTuple):
    layout: str   # 'camvid', 'folder-png' or 'folder-gif'
    target: str   # 'img' or 'mask' of sample BAD
    breaks: Callable[[Path], Path]
    error: type
    message: str  # regex the error must match, besides naming the file


CASES: Dict[str, Case] = {
    'truncated PNG image': Case('camvid', 'img', truncate, DataError,
                                'cannot decode image .*truncated'),
    'truncated PNG mask': Case('camvid', 'mask', truncate, DataError,
                               'cannot decode segmentation map'),
    'truncated JPEG image': Case('folder-png', 'img', truncate, DataError,
                                 'cannot decode image'),
    'truncated GIF mask': Case('folder-gif', 'mask', truncate, DataError,
                               'cannot decode segmentation map'),
    'zero-byte image': Case('camvid', 'img', empty, DataError,
                            r'is empty \(0 bytes\)'),
    'zero-byte mask': Case('camvid', 'mask', empty, DataError,
                           r'is empty \(0 bytes\)'),
    'mask of another size': Case('camvid', 'mask', half_size_mask,
                                 DataError, r'is 180x240 \(HxW\) but image '
                                 r'.* is 360x480: expected the same size'),
    'grey mask, palette expected': Case(
        'camvid', 'mask', grey_mask, DataError,
        r'single-channel \(grey\).*expected a colour mask'),
    'RGB mask, index expected': Case(
        'folder-png', 'mask', colour_mask, DataError,
        r'has shape \(360, 480, 3\) \(a colour image\): expected one '
        'channel of class indices'),
    'non-UTF-8 name, truncated': Case('camvid', 'img', non_utf8_truncated,
                                      DataError, 'cannot decode image'),
    'symlink loop': Case('camvid', 'img', link_loop, OSError,
                         'Too many levels of symbolic links.*is a symbolic '
                         "link to 'partner.lnk'"),
    'dangling symlink mask': Case('camvid', 'mask', dangling_link,
                                  FileNotFoundError, "symbolic link to "
                                  "'nowhere.png', which leads to no file"),
}


@pytest.fixture
def broken(request, tmp_path, frames, camvid_sample_root):
    """``(build(**kwargs) -> dataset, the broken file, its case)``."""
    case = CASES[request.param]
    if case.layout == 'camvid':
        build = camvid_copy(tmp_path, frames, camvid_sample_root)
        folders = dict(img=('val', '.png'), mask=('val_labels', '_L.png'))
    else:
        fmt = case.layout.split('-')[1]
        build = folder_copy(tmp_path, frames, fmt)
        folders = dict(img=('images', '.jpg'), mask=('masks', '.' + fmt))
    folder, suffix = folders[case.target]
    path = case.breaks(tmp_path / folder / f'{frames[BAD][0]}{suffix}')
    return build, str(path), case


def index_of(dataset, path: str) -> int:
    """The index of the sample whose image or mask is ``path``."""
    return next(i for i in range(len(dataset)) if path in (
        dataset.get_data_info(i)['img_path'],
        dataset.get_data_info(i)['seg_map_path']))


def assert_names(message: str, path: str) -> None:
    assert printable_form(path) in message
    message.encode('utf-8')  # prints on any console: no lone surrogates


@pytest.mark.parametrize('broken', list(CASES), indirect=True)
def test_raise_names_the_file(broken):
    build, path, case = broken
    dataset = build()
    index = index_of(dataset, path)
    with pytest.raises(case.error, match=case.message) as err:
        dataset[index]
    assert_names(str(err.value), path)
    others = [i for i in range(len(dataset)) if i != index]
    assert all(dataset[i]['inputs'].shape == (3, 360, 480) for i in others)


@pytest.mark.parametrize('broken', list(CASES), indirect=True)
def test_raise_in_a_worker_still_names_the_file(broken):
    build, path, case = broken
    dataset = build()
    index = index_of(dataset, path)
    batches = iter(DataLoader(dataset, sampler=[index, (index + 1) % STEMS],
                              num_workers=1, collate_fn=lambda batch: batch))
    with pytest.raises(case.error, match='DataLoader worker') as err:
        next(batches)
    assert_names(str(err.value), path)
    # Drained, the worker exits at once; an abandoned one takes 5 s.
    assert [len(batch) for batch in batches] == [1]


@pytest.mark.parametrize('broken', list(CASES), indirect=True)
def test_skip_warns_and_replaces(broken, warnings_logged):
    build, path, case = broken
    dataset = build(on_bad_sample='skip')
    index = index_of(dataset, path)
    np.random.seed(0)  # _rand_another's choice
    with warnings_logged() as warnings:
        data = dataset[index]
        dataset[index]  # the second time is not logged again
    sample = data['data_samples']
    assert sample.img_path != dataset.get_data_info(index)['img_path']
    assert data['inputs'].shape == (3, 360, 480)
    skipped = sample.metainfo[SKIPPED_SAMPLES_KEY]
    bad_img = printable_form(dataset.get_data_info(index)['img_path'])
    assert skipped and {name for name, _ in skipped} == {bad_img}
    assert all(case.error.__name__ in reason for _, reason in skipped)
    [warning] = warnings
    assert "on_bad_sample='skip'" in warning
    assert_names(warning, path)
    assert_names(skipped[0][1], path)


def test_skip_is_refused_for_a_test_set(tmp_path, frames, camvid_sample_root):
    build = camvid_copy(tmp_path, frames, camvid_sample_root)
    with pytest.raises(ValueError, match='must score every sample'):
        build(on_bad_sample='skip', test_mode=True)
    with pytest.raises(ValueError, match="expected one of \\('raise', "):
        build(on_bad_sample='ignore')


def test_skip_gives_up_naming_the_files_when_all_are_bad(
        tmp_path, frames, camvid_sample_root):
    build = camvid_copy(tmp_path, frames, camvid_sample_root)
    for image in (tmp_path / 'val').iterdir():
        empty(image)
    dataset = build(on_bad_sample='skip', max_refetch=4)
    with pytest.raises(RuntimeError, match=r'(?s)5 samples in a row could '
                       'not be loaded.*max_refetch=4.*is empty'):
        dataset[0]


def test_errors_that_are_bugs_are_not_skipped(tmp_path, frames,
                                              camvid_sample_root):
    def buggy(results: dict) -> dict:
        raise TypeError('a bug in a transform')

    camvid_copy(tmp_path, frames, camvid_sample_root)
    dataset = CamVidDataset(tmp_path, data_prefix=dict(
        img_path='val', seg_map_path='val_labels'), pipeline=[buggy],
        on_bad_sample='skip')
    with pytest.raises(TypeError, match='a bug'):
        dataset[0]


def test_non_utf8_names_pair_and_load(tmp_path, frames, camvid_sample_root):
    build = camvid_copy(tmp_path, frames, camvid_sample_root)
    stem = frames[BAD][0]
    (tmp_path / 'val' / f'{stem}.png').rename(
        tmp_path / 'val' / f'{NON_UTF8}.png')
    (tmp_path / 'val_labels' / f'{stem}_L.png').rename(
        tmp_path / 'val_labels' / f'{NON_UTF8}_L.png')
    dataset = build()
    sample = dataset[index_of(dataset, str(
        tmp_path / 'val' / f'{NON_UTF8}.png'))]['data_samples']
    assert os.fsencode(sample.img_path).endswith(b'caf\xff.png')
    np.testing.assert_array_equal(sample.gt_sem_seg.data[0].numpy(),
                                  frames[BAD][3])
    # An unpaired one is reported in a message any console can print.
    (tmp_path / 'val_labels' / f'{NON_UTF8}_L.png').unlink()
    with pytest.raises(FileNotFoundError, match='1 image') as err:
        build()
    assert_names(str(err.value), str(tmp_path / 'val' / f'{NON_UTF8}.png'))


def test_link_to_a_folder_and_folder_loops_are_not_samples(
        tmp_path, frames, camvid_sample_root):
    build = camvid_copy(tmp_path, frames, camvid_sample_root)
    os.symlink('.', tmp_path / 'val' / 'loop.png')   # a folder named .png
    os.symlink('..', tmp_path / 'val' / 'up')
    dataset = build()
    assert len(dataset) == STEMS
    assert all(Path(dataset.get_data_info(i)['img_path']).name != 'loop.png'
               for i in range(STEMS))


def test_duplicate_colours_in_class_dict_fail_at_construction(
        tmp_path, frames, camvid_sample_root):
    build = camvid_copy(tmp_path, frames, camvid_sample_root)
    csv = tmp_path / 'class_dict.csv'
    csv.write_text(csv.read_text() + 'Copy,128,128,128\n')  # Sky's colour
    for policy in ('raise', 'skip'):
        with pytest.raises(ValueError, match=r"colour \(128, 128, 128\) of "
                           "'Copy' is already used by 'Sky'"):
            build(on_bad_sample=policy)


# --- the count reaches the training log, from a worker process -------------


def test_skip_count_reaches_the_training_log(tmp_path, frames,
                                             camvid_sample_root):
    camvid_copy(tmp_path, frames, camvid_sample_root)
    bad = tmp_path / 'val' / f'{frames[BAD][0]}.png'
    truncate(bad)
    runner = Runner(
        model=dict(type='EncoderDecoder',
                   backbone=dict(type='UNetEncoder', base_channels=4, depth=2),
                   decode_head=dict(type='UNetHead', num_classes=11),
                   data_preprocessor=dict(type='SegDataPreProcessor',
                                          size_divisor=4)),
        work_dir=str(tmp_path / 'work'),
        experiment_name=f'hostile-{os.getpid()}-{id(tmp_path)}',
        train_dataloader=dict(
            batch_size=1, num_workers=1,
            sampler=dict(type='DefaultSampler', shuffle=False),
            dataset=dict(
                type='CamVidDataset', data_root=str(tmp_path),
                data_prefix=dict(img_path='val', seg_map_path='val_labels'),
                on_bad_sample='skip',
                pipeline=[dict(type='LoadImageFromFile'),
                          dict(type='LoadSegMap'),
                          dict(type='RandomCrop', crop_size=(32, 32)),
                          dict(type='PackSegInputs')])),
        train_cfg=dict(by_epoch=False, max_iters=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                           checkpoint=None),
        custom_hooks=[dict(type='BadSampleHook')],
        default_scope='segkit')
    assert any(isinstance(h, BadSampleHook) for h in runner.hooks)
    runner.train()
    # Unshuffled, the 2nd batch is sample BAD, skipped in the worker (one
    # epoch: MMEngine sleeps 2 s between epochs).
    count = runner.message_hub.get_scalar('train/skipped_samples').current()
    assert count >= 1
    log = Path(runner.log_dir, f'{runner.timestamp}.log').read_text()
    assert f'skipped_samples: {int(count)}' in log
    assert (f'{int(count)} bad training sample(s) were replaced by others '
            "(on_bad_sample='skip'), from 1 file(s)") in log
    assert str(bad) in log
    assert '"skipped_samples": ' in Path(runner.log_dir, 'vis_data',
                                         'scalars.json').read_text()
