"""SegLocalVisualizer on a real CamVid frame with synthetic masks: layout,
exact palette colours, the binary palette, ignore pixels, the legend, and
what reaches the local and TensorBoard backends."""
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from tensorboard.backend.event_processing.event_accumulator import \
    EventAccumulator

from segkit.datasets import CamVidDataset
from segkit.structures import SegDataSample
from segkit.visualization import (BINARY_PALETTE, IGNORE_COLOUR,
                                  SegLocalVisualizer, read_rgb)
from segkit.visualization import seg_local_visualizer as module

ROAD, SKY, CAR = 3, 0, 8


def visualizer(meta: dict, **kwargs) -> SegLocalVisualizer:
    vis = SegLocalVisualizer(name=f'test-{uuid.uuid4().hex}', **kwargs)
    vis.dataset_meta = meta
    return vis


def sample(gt: np.ndarray, pred: np.ndarray = None) -> SegDataSample:
    data_sample = SegDataSample(metainfo=dict(img_path='frame.png'))
    data_sample.gt_sem_seg = PixelData(data=torch.from_numpy(gt)[None])
    if pred is not None:
        data_sample.pred_sem_seg = PixelData(data=torch.from_numpy(pred)[None])
    return data_sample


@pytest.fixture(scope='module')
def camvid(camvid_root):
    """A real frame, CamVid's metainfo, and masks: GT Sky with a Road block
    and an ignore stripe; prediction Sky with a Car block."""
    meta = CamVidDataset(camvid_root, lazy_init=True).metainfo
    frame = sorted((Path(camvid_root) / 'val').glob('*.png'))[0]
    image = read_rgb(str(frame))
    h, w = image.shape[:2]
    gt = np.full((h, w), SKY, np.int64)
    gt[100:200, 50:150] = ROAD
    gt[:10] = 255
    pred = np.full((h, w), SKY, np.int64)
    pred[200:300, 300:400] = CAR
    return meta, image, gt, pred


def test_panel_is_four_tiles_with_the_dataset_palette(camvid):
    meta, image, gt, pred = camvid
    h, w = image.shape[:2]
    panel = visualizer(meta).draw_panel(image, sample(gt, pred), alpha=0.25)
    assert panel.dtype == np.uint8 and panel.shape[1] == 4 * w
    assert panel.shape[0] > h  # the caption and legend band
    tiles = [panel[:h, i * w:(i + 1) * w] for i in range(4)]
    np.testing.assert_array_equal(tiles[0], image)
    palette = np.array(meta['palette'], np.uint8)
    assert tuple(tiles[1][150, 100]) == tuple(palette[ROAD]) == (128, 64, 128)
    assert tuple(tiles[1][5, 5]) == IGNORE_COLOUR
    np.testing.assert_array_equal(tiles[2], palette[pred])
    blend = np.round(image * 0.75 + palette[pred] * 0.25)
    assert np.abs(tiles[3].astype(int) - blend).max() <= 1
    assert tuple(tiles[3][250, 350]) != tuple(image[250, 350])


def test_tiles_without_a_mask_are_left_out(camvid):
    meta, image, gt, pred = camvid
    vis = visualizer(meta)
    assert vis.draw_panel(image, sample(gt)).shape[1] == 2 * image.shape[1]
    assert vis.draw_panel(image, sample(gt, pred),
                          draw_gt=False).shape[1] == 3 * image.shape[1]


def test_legend_lists_only_the_ids_present(camvid, monkeypatch):
    meta, image, gt, pred = camvid
    seen = []
    real = module.draw_band
    monkeypatch.setattr(module, 'draw_band', lambda width, captions, entries:
                        seen.append(entries) or real(width, captions,
                                                     entries))
    visualizer(meta).draw_panel(image, sample(gt, pred))
    palette = [tuple(c) for c in meta['palette']]
    assert seen == [[('Sky', palette[SKY]), ('Road', palette[ROAD]),
                     ('Car', palette[CAR]), ('ignore', IGNORE_COLOUR)]]


def test_binary_dataset_uses_black_and_the_fixed_foreground():
    # ISBI-style palette (white background): replaced for visibility.
    meta = dict(classes=('cell', 'membrane'),
                palette=[[255, 255, 255], [0, 0, 0]])
    image = np.full((4, 6, 3), 90, np.uint8)
    gt = np.array([[0, 1, 255, 0, 1, 1]] * 4)
    panel = visualizer(meta).draw_panel(image, sample(gt))
    gt_tile = panel[:4, 6:12]
    assert [tuple(gt_tile[0, x]) for x in range(3)] == [
        BINARY_PALETTE[0], BINARY_PALETTE[1], IGNORE_COLOUR]
    assert BINARY_PALETTE[0] == (0, 0, 0)


def test_ids_that_are_no_class_and_misfit_masks_are_refused(camvid):
    meta, image, gt, _ = camvid
    vis = visualizer(meta)
    bad = gt.copy()
    bad[0, 0] = 20
    with pytest.raises(ValueError, match=r'gt_sem_seg has ids \[20\] but '
                       r'the dataset has 11 classes'):
        vis.draw_panel(image, sample(bad))
    with pytest.raises(ValueError, match=r'gt_sem_seg of frame.png is '
                       r'\(10, 10\)'):
        vis.draw_panel(image, sample(np.zeros((10, 10), np.int64)))
    with pytest.raises(KeyError, match="dataset_meta has no 'classes'"):
        visualizer({}).draw_panel(image, sample(gt))


def test_backends_get_the_panel_and_out_file_replaces_the_local_copy(
        camvid, tmp_path):
    meta, image, gt, pred = camvid
    vis = visualizer(meta, save_dir=str(tmp_path), vis_backends=[
        dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')])
    # LocalVisBackend writes vis_image/<name>_<step>.png, and nothing
    # (silently) for a name with a '/': SegVisHook gives it out_file.
    panel = vis.add_datasample('frame', image, sample(gt, pred), step=3)
    local = tmp_path / 'vis_data' / 'vis_image' / 'frame_3.png'
    np.testing.assert_array_equal(
        cv2.cvtColor(cv2.imread(str(local)), cv2.COLOR_BGR2RGB), panel)

    out_file = tmp_path / 'panels' / 'frame.png'
    vis.add_datasample('test/frame', image, sample(gt), step=0,
                       out_file=str(out_file))
    vis.close()
    assert out_file.is_file()
    assert [p.name for p in (tmp_path / 'vis_data' / 'vis_image').iterdir()
            ] == ['frame_3.png']

    events = EventAccumulator(str(tmp_path / 'vis_data'),
                              size_guidance={'images': 0})
    events.Reload()
    assert set(events.Tags()['images']) == {'frame', 'test/frame'}
    [event] = events.Images('frame')
    assert event.step == 3
    decoded = cv2.imdecode(np.frombuffer(event.encoded_image_string,
                                         np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB),
                                  panel)
