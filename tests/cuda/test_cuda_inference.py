"""Inference on a real GPU: autocast in each test_cfg precision, and slide
inference of images far larger than their float logits could be, in GPU
memory that does not grow with the image."""
from pathlib import Path

import numpy as np
import pytest
import torch

from segkit.apis import inference, init_model
from segkit.benchmark.machine import conv_dtypes

pytestmark = pytest.mark.cuda
REPO = Path(__file__).resolve().parents[2]


def _unet(config: str, **options):
    torch.manual_seed(0)  # the same initial weights for every precision
    return init_model(str(REPO / config), device='cuda', cfg_options=options)


@pytest.mark.parametrize('precision, dtype, tolerance', [
    ('fp16', torch.float16, 5e-3),
    ('bf16', torch.bfloat16, 3e-2),
    ('auto', torch.float16, 5e-3),
])
def test_inference_autocasts_and_returns_float32_logits(
        camvid_sample_root, precision, dtype, tolerance):
    frame = str(next((camvid_sample_root / 'val').glob('*.png')))
    exact = inference(_unet('configs/unet_camvid.py', **{
        'model.test_cfg.precision': 'fp32'}), [frame])[0]
    model = _unet('configs/unet_camvid.py',
                  **{'model.test_cfg.precision': precision})
    with conv_dtypes(model) as seen:
        sample = inference(model, [frame])[0]
    assert seen[0] == dtype
    logits, reference = sample.seg_logits.data, exact.seg_logits.data
    assert logits.dtype == torch.float32 and logits.is_cuda
    assert logits.shape == reference.shape == (11, 360, 480)
    error = (logits - reference).norm() / reference.norm()
    assert error < tolerance, f'relative error {error:.2e}'


def _peak_bytes(model, image: np.ndarray) -> int:
    """GPU memory the class map of ``image`` needed beyond what was held."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    held = torch.cuda.memory_allocated()
    [sample] = inference(model, [image], seg_logits=False)
    assert sample.pred_sem_seg.shape == image.shape[:2]
    return torch.cuda.max_memory_allocated() - held


def test_slide_inference_memory_does_not_grow_with_the_image():
    """The paper U-Net, 11 classes, 512 px windows, on 8192 x 4096 and
    16384 x 4096 px images: apart from the class map itself (int64, 8 B a
    pixel), the peak is the same for both, and below the 2.75 GiB of
    float32 logits alone that whole-image inference of the larger would
    hold (its 64-channel activations at full size: 8 GiB each)."""
    model = _unet('configs/unet_isbi.py', **{
        'model.decode_head.num_classes': 11,
        'model.test_cfg': dict(mode='slide', crop_size=512, stride=512,
                               precision='auto')})
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (16384, 4096, 3), np.uint8)
    inference(model, [image[:1024, :1024]], seg_logits=False)  # warm-up
    peaks = {}
    for height in (8192, 16384):
        part = np.ascontiguousarray(image[:height])
        peaks[height] = _peak_bytes(model, part) - 8 * part.shape[0] * 4096
    whole_logits = 11 * 16384 * 4096 * 4
    print(f'GPU peak beyond the class map: {peaks} bytes')
    assert peaks[16384] < 1.1 * peaks[8192]
    assert peaks[16384] < whole_logits
