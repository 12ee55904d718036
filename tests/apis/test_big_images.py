"""Inference on images of extreme sizes: 1x1 px, and images too large for
whole-image float logits (sliding windows, one row of windows at a time)."""
import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segkit.apis import inference, init_model
from tool_process import run_python

ISBI = str(Path(__file__).parents[2] / 'configs' / 'unet_isbi.py')


def tiny_unet(num_classes: int = 11, size_divisor: int = 4, **test_cfg):
    """A depth-2 U-Net on the ISBI config, whose test pipeline does not
    resize: the model sees the image at its own size."""
    torch.manual_seed(0)
    return init_model(ISBI, cfg_options={
        'model.backbone.base_channels': 4, 'model.backbone.depth': 2,
        'model.decode_head.num_classes': num_classes,
        'model.data_preprocessor.size_divisor': size_divisor,
        'model.test_cfg': test_cfg or None})


@pytest.fixture(scope='module')
def frame(camvid_sample_root) -> np.ndarray:
    return cv2.imread(str(sorted((camvid_sample_root / 'val').glob('*.png'))
                          [0]))


@pytest.mark.parametrize('test_cfg', [
    {}, dict(mode='slide', crop_size=512, stride=512)])
@pytest.mark.parametrize('seg_logits', [True, False])
def test_one_pixel_image(frame, tmp_path, test_cfg, seg_logits):
    # The preprocessor pads 1x1 to its size_divisor; predict crops back.
    model = tiny_unet(**test_cfg)
    pixel = np.ascontiguousarray(frame[:1, :1])
    path = tmp_path / 'pixel.png'
    cv2.imwrite(str(path), pixel)
    for sample in inference(model, [pixel, path], seg_logits=seg_logits):
        assert sample.pred_sem_seg.shape == (1, 1)
        assert sample.metainfo['ori_shape'] == (1, 1)
        assert ('seg_logits' in sample) == seg_logits
    whole = inference(tiny_unet(), [pixel])[0]
    assert torch.equal(sample.pred_sem_seg.data, whole.pred_sem_seg.data)


def test_net_too_deep_for_the_padding_says_so(frame):
    with pytest.raises(ValueError, match=r'size_divisor=1, but UNetEncoder '
                       r'has stride 4: expected a multiple of 4; set '
                       r'model.data_preprocessor.size_divisor=4'):
        tiny_unet(size_divisor=1)
    with pytest.raises(ValueError, match=r'UNetEncoder needs inputs of at '
                       r'least 4×4 \(its largest stride\), got \(1, 1\): '
                       r'pad to a multiple of 4'):
        tiny_unet()(torch.zeros(1, 3, 1, 1))


@pytest.mark.parametrize('num_classes, crop, stride, size', [
    (11, 128, 96, (301, 479)),  # overlaps in both axes, odd sizes
    (11, 100, 30, (257, 260)),  # each row in up to 4 bands
    (1, 64, 64, (130, 70)),     # binary: thresholded, not argmax
    (5, 512, 512, (40, 300)),   # one band, clipped to the image
])
def test_bands_give_the_slide_prediction(frame, num_classes, crop, stride,
                                         size):
    model = tiny_unet(num_classes, mode='slide', crop_size=crop,
                      stride=stride)
    image = cv2.resize(frame, size[::-1])
    if num_classes == 1:  # a threshold random weights do not all fall below
        logits = inference(model, [image])[0].seg_logits.data
        model.threshold = logits.sigmoid().median().item()
    full, banded = (inference(model, [image], seg_logits=keep)[0]
                    for keep in (True, False))
    assert torch.equal(banded.pred_sem_seg.data, full.pred_sem_seg.data)
    assert len(full.pred_sem_seg.data.unique()) > 1  # not a trivial map
    assert 'seg_logits' not in banded
    assert banded.metainfo == full.metainfo


def test_bands_clear_a_foreground_below_min_area(frame):
    image = np.ascontiguousarray(frame[:130, :70])
    model = tiny_unet(1, mode='slide', crop_size=64, stride=48)
    logits = inference(model, [image])[0].seg_logits.data
    model.threshold = logits.sigmoid().median().item()
    area = int(inference(model, [image], seg_logits=False)[0]
               .pred_sem_seg.data.sum())
    for min_area, kept in ((area, area), (area + 1, 0)):
        model.test_cfg = dataclasses.replace(model.test_cfg,
                                             min_area=min_area)
        full, banded = (inference(model, [image], seg_logits=keep)[0]
                        for keep in (True, False))
        assert 'seg_logits' not in banded
        assert int(banded.pred_sem_seg.data.sum()) == kept
        assert torch.equal(banded.pred_sem_seg.data, full.pred_sem_seg.data)


def test_flip_falls_back_to_predict_without_logits(frame):
    model = tiny_unet(mode='slide', crop_size=64, stride=48, flip=True)
    image = np.ascontiguousarray(frame[:100, :150])
    full, lean = (inference(model, [image], seg_logits=keep)[0]
                  for keep in (True, False))
    assert torch.equal(lean.pred_sem_seg.data, full.pred_sem_seg.data)
    assert 'seg_logits' not in lean and 'seg_logits' in full


# Peak RSS in its own process, from the kernel's high-water mark, reset
# (Linux's clear_refs 5) just before the measured calls: a peak reached
# earlier, at import or model build, would hide theirs. The model is
# tiny_unet's, with argv's classes and test_cfg (JSON), warmed up on a crop.
PEAK_RSS = '''
import json, re, sys
import numpy as np
from segkit.apis import inference, init_model
height, width, classes = map(int, sys.argv[1:4])
model = init_model(sys.argv[4], cfg_options={
    'model.backbone.base_channels': 4, 'model.backbone.depth': 2, 'model.decode_head.num_classes': classes,
    'model.data_preprocessor.size_divisor': 4,
    'model.test_cfg': json.loads(sys.argv[5])})
image = np.random.default_rng(0).integers(0, 256, (height, width, 3),
                                          np.uint8)
inference(model, [image[:64, :64]], seg_logits=False)  # allocators warm
def peak():
    status = open('/proc/self/status').read()
    return int(re.search(r'VmHWM:\\s*(\\d+) kB', status).group(1)) * 1024
def reset_peak():
    with open('/proc/self/clear_refs', 'w') as refs:
        refs.write('5')
'''
BANDS_RSS = PEAK_RSS + '''
reset_peak()
before = peak()
[sample] = inference(model, [image], seg_logits=False)
print(json.dumps(dict(extra_bytes=peak() - before,
                      shape=list(sample.pred_sem_seg.shape))))
'''
# The same image with the second scales after the first (argv[6], JSON).
SCALES_RSS = PEAK_RSS + '''
reset_peak()
before = peak()
inference(model, [image])
first = peak()
model.set_test_options(scales=json.loads(sys.argv[6]))
inference(model, [image])
print(json.dumps(dict(first=first - before, growth=peak() - first)))
'''


def peak_rss(script: str, height: int, width: int, classes: int,
             test_cfg: dict, *extra: str) -> dict:
    """The JSON line ``script`` prints, run in its own process."""
    run = run_python(['-c', script, str(height), str(width), str(classes),
                      ISBI, json.dumps(test_cfg), *extra], timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.slow  # a subprocess measuring its peak memory
def test_large_image_memory_does_not_grow_with_classes_times_pixels():
    # Few pixels, many classes, to be fast: 4096x256 px, 128 classes,
    # 256 px windows. Whole-image logits are 512 MiB, and slide mode's
    # predict holds two copies while averaging (measured: 1.16 GiB extra).
    # In bands the extra memory is the class map (8 B/px, 8 MiB) and a few
    # band-sized logits (32 MiB each): measured 0.15 GiB. (10k x 10k px,
    # 11 classes, 512 px windows: 10.4 GiB whole, 1.9 GiB in bands.)
    height, width, classes, crop = 4096, 256, 128, 256
    result = peak_rss(BANDS_RSS, height, width, classes,
                      dict(mode='slide', crop_size=crop, stride=crop))
    assert result['shape'] == [height, width]
    whole_logits = classes * height * width * 4
    assert result['extra_bytes'] < whole_logits / 2, result


@pytest.mark.slow  # a subprocess measuring its peak memory
def test_multi_scale_memory_does_not_grow_with_the_number_of_scales():
    # Scales add their probabilities into one running sum: 6 views (0.5
    # and 1, three times) peak where 2 did, at the sum, the scale-1 logits
    # and probabilities and the kept seg_logits (64 MiB each here; measured
    # 5 of them). Keeping each view's probabilities would add 4 views,
    # 256 MiB, beyond the first run's peak. Where the allocator lands that
    # peak varies by up to half a view between runs (measured 0.03-0.57
    # views of growth), so the bound is one and a half views.
    height, width, classes = 1024, 256, 64
    logits = classes * height * width * 4
    result = peak_rss(SCALES_RSS, height, width, classes,
                      dict(scales=[0.5, 1.0]), json.dumps([0.5, 1.0] * 3))
    assert result['first'] > 2 * logits, result  # the sum and a view seen
    assert result['growth'] < 1.5 * logits, result
