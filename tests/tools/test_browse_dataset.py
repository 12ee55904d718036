"""browse_dataset: panels of image | ground truth after the (augmenting)
training pipeline, painted with the dataset's palette; and the thin tool."""
import runpy
import sys
from pathlib import Path

import cv2
import numpy as np

from segkit.apis import load_config
from segkit.datasets import CamVidDataset
from segkit.visualization import (IGNORE_COLOUR, SegLocalVisualizer,
                                  browse_dataset, palette_lut)

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
