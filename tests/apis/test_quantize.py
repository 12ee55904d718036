"""int8 on the CPU: a tiny U-Net quantised by onnxruntime, calibrated on
training images as inference feeds the network, against its float32
export; and calibrations that must fail the same check."""
import copy
import dataclasses
import importlib.util
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import torch

from segkit.apis import inference, init_model
from segkit.apis.export import ExportOptions, export_onnx
from segkit.apis.onnx_model import init_onnx_model
from segkit.apis.quantize import (calibration_feeds, calibration_images,
                                  check_calibration, export_int8, int8_path,
                                  quantize_onnx)
from segkit.utils import ConfigValueError
from segkit.utils.extras import MissingExtraError
from tiny_models import calibrate_norms, tiny_options

pytestmark = pytest.mark.slow  # exports and quantises
REPO = Path(__file__).resolve().parents[2]
CONFIG = 'unet_camvid_quick.py'
# Pixels of the val images whose class the int8 model predicts as the
# float32 one. An untrained net's two best logits are close, so int8
# rounding alone flips about 5 % of its pixels (measured 94.6 %); ranges
# calibrated on unnormalised pixels (22 %) or on blank images (53 %) flip
# far more.
MIN_AGREEMENT = 0.85


@pytest.fixture(scope='module')
def exported(tmp_path_factory, camvid_sample_root):
    """``(model, cfg options, float32 file, int8 record)``: the seeded tiny
    model with batch-norm statistics of a real frame, exported with dynamic
    shapes and quantised on 4 training images."""
    options = dict(tiny_options(CONFIG), data_root=str(camvid_sample_root))
    torch.manual_seed(0)
    model = init_model(str(REPO / 'configs' / CONFIG), cfg_options=options)
    frame = sorted((camvid_sample_root / 'val').glob('*.png'))[0]
    calibrate_norms(model, cv2.imread(str(frame)))
    path = str(tmp_path_factory.mktemp('int8') / 'model.onnx')
    export_onnx(model, path, ExportOptions(dynamic=True))
    return model, options, path, export_int8(model, path, int8_path(path), 4)


def agreement(options: dict, fp32_file: str, int8_file: str,
              images: list) -> float:
    """Share of the pixels of ``images`` whose classes the two files
    predict alike through the test pipeline."""
    same = total = 0
    reference, quantised = (init_onnx_model(
        str(REPO / 'configs' / CONFIG), path, options)
        for path in (fp32_file, int8_file))
    for ours, theirs in zip(inference(reference, images),
                            inference(quantised, images)):
        same += int((ours.pred_sem_seg.data ==
                     theirs.pred_sem_seg.data).sum())
        total += ours.pred_sem_seg.data.numel()
    return same / total


def val_images(root: Path) -> list:
    return sorted((root / 'val').glob('*.png'))[:3]


def test_the_int8_file_is_quantised_and_says_how(exported):
    _, _, path, record = exported
    model = onnx.load(int8_path(path))
    ops = Counter(node.op_type for node in model.graph.node)
    assert ops['QuantizeLinear'] and ops['DequantizeLinear']
    assert {p.key: p.value for p in model.metadata_props}['segkit_input'] \
        == 'normalized'  # still runs behind ONNXRuntimeSegmentor
    assert record['calibration'] == dict(
        images=4, inputs=4, method='MinMax',
        data='training images through the test pipeline')
    assert record['format'] == 'QDQ' and record['per_channel'] is True
    # Every convolution runs in int8; onnxruntime's CPU provider has no
    # int8 transposed convolution, so the decoder's upsampling (and the
    # padding after it) stays float between a Dequantize and a Quantize.
    assert record['ops']['int8'] == dict(MaxPool=4, QLinearConcat=4,
                                         QLinearConv=19)
    assert record['ops']['float'] == dict(ConvTranspose=4, Pad=4)


def test_int8_predicts_as_float32_on_most_pixels(exported,
                                                 camvid_sample_root):
    _, options, path, _ = exported
    assert agreement(options, path, int8_path(path),
                     val_images(camvid_sample_root)) >= MIN_AGREEMENT


@pytest.mark.parametrize('broken', ['unnormalised', 'blank'])
def test_a_broken_calibration_fails_the_agreement(exported, tmp_path,
                                                  camvid_sample_root, broken):
    model, options, path, _ = exported
    feeds = list(calibration_feeds(model, path,
                                   calibration_images(model.cfg, 4)))
    pre = model.data_preprocessor
    if broken == 'unnormalised':  # the pixels, as if never normalised
        feeds = [f * pre.std.numpy() + pre.mean.numpy() for f in feeds]
    else:  # all zeros: every image the mean colour
        feeds = [np.zeros_like(f) for f in feeds]
    bad = str(tmp_path / 'bad.onnx')
    quantize_onnx(path, bad, feeds)
    assert agreement(options, path, bad,
                     val_images(camvid_sample_root)) < MIN_AGREEMENT


def test_calibration_feeds_are_what_inference_gives_the_network(exported):
    """Slide windows and flips included: 192x240 (the test pipeline's
    180x240 frame padded to 16) in 128x160 windows is 2x2 windows, 8 with
    the mirror, run 3 at a time (window_batch) by the dynamic graph."""
    model, _, path, _ = exported
    slide = copy.deepcopy(model)
    slide.test_cfg = dataclasses.replace(
        slide.test_cfg, mode='slide', crop_size=(128, 160),
        stride=(128, 160), flip=True, window_batch=3)
    feeds = list(calibration_feeds(slide, path,
                                   calibration_images(model.cfg, 1)))
    assert [len(f) for f in feeds] == [3, 1] * 2
    assert {f.shape[1:] for f in feeds} == {(3, 128, 160)}


def test_calibration_images_spread_over_the_training_set(exported):
    model, _, _, _ = exported
    every = calibration_images(model.cfg, 12)
    assert len(set(every)) == 12
    assert calibration_images(model.cfg, 4) == every[::3]
    with pytest.raises(ConfigValueError, match=r'^--calib 13: the training '
                       r'set of .*unet_camvid_quick.py has 12 images; '
                       'calibrate on at most that many$'):
        calibration_images(model.cfg, 13)


@pytest.mark.parametrize('int8, images, io, message', [
    (True, None, None, '--int8 with no --calib: expected --calib N'),
    (True, 0, None, '--int8 with --calib 0: expected --calib N'),
    (False, 8, None, '--calib 8 without --int8'),
    (True, 8, ('raw_bgr', 'logits'), '--int8 with --with-preprocess or '
     '--with-argmax: int8 quantises the network alone'),
])
def test_calibration_arguments_are_checked(int8, images, io, message):
    with pytest.raises(ConfigValueError, match=f'^{message}') as error:
        check_calibration(int8, images, *[io] if io else [])
    assert '\n' not in str(error.value)
    check_calibration(True, 1)
    check_calibration(False, None)


def test_no_onnxruntime_is_one_line_with_the_pip_command(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *args: (
        None if name == 'onnxruntime' else find_spec(name, *args)))
    with pytest.raises(MissingExtraError, match=r"^int8 quantisation needs "
                       r"the optional package 'onnxruntime', which is not "
                       r"installed: pip install -e '\.\[deploy\]'$"):
        check_calibration(True, 64)
