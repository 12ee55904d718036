"""segkit.apis inference: init_model, inference and the mask-writing helpers,
on a tiny U-Net checkpoint in MMEngine's format and real CamVid frames."""
import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.runner import save_checkpoint

from segkit.apis import (find_images, inference, init_model, model_palette,
                         output_paths, render_mask, save_prediction)
from segkit.registry import DATASETS
from segkit.utils import MissingPathError

CONFIGS = Path(__file__).parents[2] / 'configs'
QUICK = str(CONFIGS / 'unet_camvid_quick.py')
TINY = {'model.backbone.base_channels': 4, 'model.backbone.depth': 3,
        'model.data_preprocessor.size_divisor': 8}
META = dict(classes=tuple(f'c{i}' for i in range(11)),
            palette=[[20 * i, 255 - 20 * i, 7 * i] for i in range(11)])


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> str:
    torch.manual_seed(0)
    model = init_model(QUICK, cfg_options=TINY)
    path = str(tmp_path_factory.mktemp('ckpt') / 'tiny.pth')
    save_checkpoint({'state_dict': model.state_dict(),
                     'meta': {'dataset_meta': META}}, path)
    return path


@pytest.fixture(scope='module')
def model(checkpoint, camvid_root):
    return init_model(QUICK, checkpoint,
                      cfg_options={**TINY, 'data_root': str(camvid_root)})


@pytest.fixture(scope='module')
def frames(camvid_root) -> list:
    return sorted((camvid_root / 'val').glob('*.png'))[:2]


def test_init_model_loads_weights_meta_and_config(checkpoint, model):
    saved = torch.load(checkpoint, weights_only=True)['state_dict']
    assert all(torch.equal(value, saved[key])
               for key, value in model.state_dict().items())
    assert model.dataset_meta == META
    assert model.cfg.model.backbone.base_channels == 4
    assert not model.training


def test_init_model_names_a_missing_checkpoint_in_one_line(tmp_path):
    missing = tmp_path / 'best_mIoU_iter_800.pth'
    with pytest.raises(MissingPathError) as error:
        init_model(QUICK, str(missing), cfg_options=TINY)
    message = str(error.value)
    assert message.startswith(f'checkpoint not found: {missing}: expected a '
                              '.pth file that tools/train.py wrote')
    assert '\n' not in message


def test_init_model_refuses_weights_of_another_architecture(checkpoint):
    with pytest.raises(RuntimeError, match='size mismatch'):
        init_model(QUICK, checkpoint,
                   cfg_options={**TINY, 'model.backbone.base_channels': 8})


@pytest.mark.parametrize('config, options, classes', [
    ('unet_isbi.py', {}, ('cell', 'membrane')),
    ('unet_carvana_quick.py', {}, ('background', 'car')),
    ('unet_camvid_quick.py', {}, None),
])
def test_without_checkpoint_meta_classes_come_from_the_config(
        config, options, classes):
    model = init_model(str(CONFIGS / config), cfg_options={**TINY, **options})
    meta = model.dataset_meta
    assert (meta and meta['classes']) == classes


def test_path_and_array_give_the_same_prediction_at_original_size(
        model, frames):
    image = cv2.imread(str(frames[0]))
    odd = np.ascontiguousarray(image[50:151, 200:275])  # 101×75
    from_path, from_array, from_odd = inference(model,
                                                [frames[0], image, odd])
    assert from_path.pred_sem_seg.shape == image.shape[:2]
    assert from_odd.pred_sem_seg.shape == (101, 75)
    assert from_path.metainfo['img_path'] == str(frames[0])
    assert torch.equal(from_path.pred_sem_seg.data,
                       from_array.pred_sem_seg.data)
    assert from_path.seg_logits.shape == image.shape[:2]
    assert len(from_path.pred_sem_seg.data.unique()) > 1


def test_inference_predicts_as_the_test_dataloader_does(model, frames):
    # tools/test.py: the dataset's test pipeline (with the masks) then
    # test_step. inference() must give the same prediction.
    dataset = DATASETS.build(model.cfg.test_dataloader.dataset)
    index = [Path(info['img_path']) for info in
             (dataset.get_data_info(i) for i in range(len(dataset)))
             ].index(frames[0])
    with torch.inference_mode():
        scored = model.test_step(pseudo_collate([dataset[index]]))[0]
    assert torch.equal(scored.pred_sem_seg.data,
                       inference(model, frames[0])[0].pred_sem_seg.data)


def test_batches_predict_as_single_images(model, frames):
    single = inference(model, frames)
    batched = inference(model, frames, batch_size=2)
    for one, two in zip(single, batched):
        torch.testing.assert_close(one.seg_logits.data, two.seg_logits.data,
                                   atol=1e-4, rtol=1e-4)


def test_flip_option_reaches_predict(model, frames):
    plain = inference(model, frames[0])[0]
    model.set_test_options(flip=True)
    try:
        tta = inference(model, frames[0])[0]
    finally:
        model.test_cfg = dataclasses.replace(model.test_cfg, flip=False)
    assert tta.pred_sem_seg.shape == plain.pred_sem_seg.shape
    assert not torch.allclose(tta.seg_logits.data.softmax(0),
                              plain.seg_logits.data.softmax(0))


def test_threshold_option_is_for_binary_models_only(model):
    with pytest.raises(ValueError, match='num_classes=11'):
        model.set_test_options(threshold=0.3)
    binary = init_model(str(CONFIGS / 'unet_carvana_quick.py'),
                        cfg_options=TINY)
    binary.set_test_options(threshold=0.3)
    assert binary.threshold == 0.3
    with pytest.raises(ValueError, match=r'threshold=1.5.*\[0, 1\]'):
        binary.set_test_options(threshold=1.5)


def test_bad_inputs_name_the_problem(model):
    with pytest.raises(ValueError, match=r'image array 1: .*float64'):
        inference(model, [np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8))])
    bare = init_model(QUICK, cfg_options=TINY)
    del bare.cfg
    with pytest.raises(AttributeError, match='init_model'):
        inference(bare, np.zeros((8, 8, 3), np.uint8))


def test_find_images_expands_folders_and_globs(tmp_path):
    for name in ('b.png', 'a.jpg'):
        cv2.imwrite(str(tmp_path / name), np.zeros((4, 4, 3), np.uint8))
    (tmp_path / 'notes.txt').write_text('not an image')
    (tmp_path / 'sub').mkdir()
    found = find_images([str(tmp_path), str(tmp_path / '*.png'),
                         str(tmp_path / 'b.png')])
    assert found == [tmp_path / 'a.jpg', tmp_path / 'b.png']


def test_find_images_lists_every_bad_input(tmp_path):
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(ValueError) as error:
        find_images([str(tmp_path / 'broken.png'), str(tmp_path / 'empty'),
                     str(tmp_path / 'missing*.jpg')])
    message = str(error.value)
    assert 'broken.png: unreadable' in message
    assert 'empty: a folder that matches no image' in message
    assert 'missing*.jpg: not a file or folder' in message


def test_output_names_keep_stems_and_disambiguate(tmp_path):
    images = [tmp_path / 'a' / 'x.png', tmp_path / 'b' / 'x.jpg',
              tmp_path / 'b' / 'x.png', tmp_path / 'a' / 'y.png']
    names = [p.name for p in output_paths(images, tmp_path / 'out')]
    assert names == ['a__x.png', 'b__x.jpg.png', 'b__x.png.png', 'y.png']


def test_output_may_not_overwrite_an_input(tmp_path):
    with pytest.raises(ValueError, match='overwrite an input'):
        output_paths([tmp_path / 'x.png'], tmp_path)


def test_render_formats():
    pred = np.array([[0, 1], [2, 1]])
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255]], np.uint8)
    index = render_mask(pred, 'index', colours)
    assert index.dtype == np.uint8 and index.tolist() == pred.tolist()
    assert render_mask(pred, 'color', colours)[1, 0].tolist() == [0, 0, 255]
    image = np.full((2, 2, 3), 100, np.uint8)
    overlay = render_mask(pred, 'overlay', colours, image)
    assert overlay[0, 0].tolist() == [178, 50, 50]
    with pytest.raises(ValueError, match='overlay needs the RGB image'):
        render_mask(pred, 'overlay', colours, image[:1])


def test_palette_is_the_datasets_or_the_visualisers_default(model):
    assert model_palette(model).tolist() == META['palette']
    binary = init_model(str(CONFIGS / 'unet_carvana_quick.py'),
                        cfg_options=TINY)
    binary.dataset_meta = None
    assert model_palette(binary).tolist() == [[0, 0, 0], [0, 255, 0]]
    camvid_colours = model_palette(init_model(QUICK, cfg_options=TINY))
    assert len({tuple(c) for c in camvid_colours}) == 11


def test_save_prediction_writes_the_mask_atomically(model, frames, tmp_path):
    sample = inference(model, frames[0])[0]
    out = tmp_path / 'deep' / 'mask.png'
    save_prediction(sample, out, 'index', model_palette(model))
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(written, sample.pred_sem_seg.data[0].numpy())
    assert [p.name for p in out.parent.iterdir()] == ['mask.png']
