"""browse_dataset: panels of image | ground truth after the (augmenting)
training pipeline, painted with the dataset's palette; and the thin tool."""
import runpy
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from segkit.apis import load_config
from segkit.datasets import CamVidDataset
from segkit.visualization import (IGNORE_COLOUR, SegLocalVisualizer,
                                  browse_dataset, palette_lut)
from segkit.visualization.browse import sample_indices

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs' / 'unet_camvid_quick.py')


def test_train_split_panels_show_augmented_samples_in_palette_colours(
        tmp_path, camvid_sample_root, monkeypatch):
    drawn = []
    real = SegLocalVisualizer.draw_panel

    def spy(self, image, data_sample, *args, **kwargs):
        panel = real(self, image, data_sample, *args, **kwargs)
        drawn.append((image, data_sample.gt_sem_seg.data[0].numpy(), panel))
        return panel

    monkeypatch.setattr(SegLocalVisualizer, 'draw_panel', spy)
    cfg = load_config(CONFIG, {'data_root': str(camvid_sample_root)})
    paths = browse_dataset(cfg, 'train', 3, str(tmp_path))

    assert len(paths) == len(drawn) == 3
    assert sorted(Path(p).name for p in paths) == sorted(
        p.name for p in tmp_path.iterdir())
    palette = np.array(CamVidDataset(camvid_sample_root, lazy_init=True)
                       .metainfo['palette'], np.uint8)
    allowed = {tuple(c) for c in palette} | {IGNORE_COLOUR}
    for path, (image, gt, panel) in zip(paths, drawn):
        h, w = gt.shape
        # The 480x360 frames come out of RandomResize + RandomCrop(176, 240).
        assert h <= 176 and w <= 240 and image.shape[:2] == (h, w)
        saved = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
        np.testing.assert_array_equal(saved, panel)
        assert saved.shape[1] == 2 * w  # image | ground truth
        np.testing.assert_array_equal(saved[:h, :w], image)
        gt_tile = saved[:h, w:]
        np.testing.assert_array_equal(gt_tile, palette_lut(palette)[gt])
        assert {tuple(c) for c in gt_tile.reshape(-1, 3)} <= allowed


def test_tool_draws_val_images_at_the_native_mask_size(
        tmp_path, camvid_sample_root, monkeypatch, capsys):
    # The val pipeline resizes frames to 240x180; masks stay 480x360.
    monkeypatch.setattr(sys, 'argv', [
        'browse_dataset.py', CONFIG, '--split', 'val', '--n', '2',
        '--out-dir', str(tmp_path), '--cfg-options',
        f'data_root={camvid_sample_root}'])
    runpy.run_path(str(REPO / 'tools' / 'browse_dataset.py'),
                   run_name='__main__')
    panels = sorted(tmp_path.glob('*.png'))
    assert len(panels) == 2
    assert cv2.imread(str(panels[0])).shape[1] == 2 * 480
    assert f'2 panel(s) in {tmp_path}' in capsys.readouterr().out


@pytest.mark.parametrize('args, message', [
    (['--n', '0'], 'browse_dataset.py: error: --n 0: expected a count >= 1'),
    (['--out-dir', 'FILE/panels'], 'error: cannot write the panels folder '
     'FILE/panels: Not a directory; choose another with --out-dir'),
])
def test_tool_bad_values_are_one_line(tmp_path, camvid_sample_root,
                                      monkeypatch, capsys, args, message):
    (tmp_path / 'FILE').write_text('')
    args = [arg.replace('FILE', str(tmp_path / 'FILE')) for arg in args]
    monkeypatch.setattr(sys, 'argv', [
        'browse_dataset.py', CONFIG, *args, '--cfg-options',
        f'data_root={camvid_sample_root}'])
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(REPO / 'tools' / 'browse_dataset.py'),
                       run_name='__main__')
    assert info.value.code in (1, 2)
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == message.replace(
        'FILE', str(tmp_path / 'FILE'))
    assert 'Traceback' not in err


def test_sample_indices_first_n_or_a_seeded_draw():
    assert sample_indices(10, 3, None) == [0, 1, 2]
    assert sample_indices(2, 5, None) == [0, 1]
    drawn = sample_indices(10, 3, seed=3)
    assert drawn == sample_indices(10, 3, seed=3) != [0, 1, 2]
    assert len(set(drawn)) == 3 and set(drawn) <= set(range(10))
    assert sample_indices(10, 5, seed=3)[:3] == drawn  # n extends the draw
    assert sorted(sample_indices(4, 9, seed=1)) == [0, 1, 2, 3]


def test_shuffle_draws_the_same_augmented_samples_for_the_same_seed(
        tmp_path, camvid_sample_root, monkeypatch):
    def browse(out: str, *extra: str) -> dict:
        monkeypatch.setattr(sys, 'argv', [
            'browse_dataset.py', CONFIG, '--n', '3', '--out-dir',
            str(tmp_path / out), *extra, '--cfg-options',
            f'data_root={camvid_sample_root}'])
        runpy.run_path(str(REPO / 'tools' / 'browse_dataset.py'),
                       run_name='__main__')
        return {p.name: p.read_bytes()
                for p in sorted((tmp_path / out).glob('*.png'))}

    first = browse('first')
    again = browse('again', '--shuffle', '--seed', '3')
    assert browse('same', '--shuffle', '--seed', '3') == again
    dataset = CamVidDataset(camvid_sample_root, lazy_init=True)
    dataset.full_init()
    stems = [Path(dataset.get_data_info(i)['img_path']).stem + '.png'
             for i in range(len(dataset))]
    assert sorted(first) == sorted(stems[:3])
    assert sorted(again) == sorted(stems[i]
                                   for i in sample_indices(len(stems), 3, 3))
