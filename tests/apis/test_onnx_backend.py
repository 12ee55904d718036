"""``load_model(..., backend='auto')``: where onnxruntime is the faster
backend, a checkpoint is exported once, kept beside it, made again when the
checkpoint changes, and PyTorch runs it when the export fails."""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import save_checkpoint

from segkit.apis import inference, init_model, onnx_model
from segkit.apis.onnx_model import cached_export_path, load_model
from segkit.models.segmentors.ort_segmentor import ONNXRuntimeSegmentor

pytest.importorskip('onnxruntime', reason='the deploy extra')
pytestmark = pytest.mark.slow  # exports and onnxruntime sessions
REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs' / 'unet_camvid_quick.py')
TINY = {'model.backbone.base_channels': 4, 'model.backbone.depth': 3,
        'model.data_preprocessor.size_divisor': 8}


@pytest.fixture
def frame(camvid_sample_root) -> np.ndarray:
    """A real CamVid frame, cropped to an odd size."""
    return cv2.imread(str(sorted((camvid_sample_root / 'val').glob('*.png'))
                          [0]))[:101, :133]


@pytest.fixture
def checkpoint(tmp_path) -> str:
    torch.manual_seed(0)
    path = str(tmp_path / 'tiny.pth')
    save_checkpoint({'state_dict': init_model(CONFIG, cfg_options=TINY)
                     .state_dict()}, path)
    return path


@pytest.fixture
def faster(monkeypatch):
    """Whether onnxruntime is the faster backend, as the test says."""

    def set_faster(value: bool) -> None:
        monkeypatch.setattr(onnx_model, 'onnxruntime_is_faster',
                            lambda device: value)

    return set_faster


def test_exported_once_kept_beside_and_made_again_for_a_new_checkpoint(
        checkpoint, faster, frame):
    faster(True)
    model = load_model(CONFIG, checkpoint, cfg_options=TINY)
    assert isinstance(model, ONNXRuntimeSegmentor)
    cached = Path(cached_export_path(checkpoint))
    assert cached.is_file() and cached.with_suffix('.json').is_file()
    made = cached.stat().st_mtime_ns
    load_model(CONFIG, checkpoint, cfg_options=TINY)
    assert cached.stat().st_mtime_ns == made  # reused

    reference = init_model(CONFIG, checkpoint, cfg_options=TINY)
    expected, = inference(reference, [frame])
    got, = inference(model, [frame])
    assert (got.pred_sem_seg.data == expected.pred_sem_seg.data
            ).float().mean() >= 0.999

    torch.manual_seed(1)  # other weights in the same file
    save_checkpoint({'state_dict': init_model(CONFIG, cfg_options=TINY)
                     .state_dict()}, checkpoint)
    load_model(CONFIG, checkpoint, cfg_options=TINY)
    assert cached.stat().st_mtime_ns != made


def test_pytorch_where_onnxruntime_is_not_faster_or_asked_for(
        checkpoint, faster):
    faster(False)
    assert not isinstance(load_model(CONFIG, checkpoint, cfg_options=TINY),
                          ONNXRuntimeSegmentor)
    faster(True)
    assert not isinstance(
        load_model(CONFIG, checkpoint, cfg_options=TINY, backend='pytorch'),
        ONNXRuntimeSegmentor)
    assert not Path(cached_export_path(checkpoint)).exists()


def test_a_failed_export_runs_pytorch_after_one_warning(
        checkpoint, faster, monkeypatch):

    def failing_export(*args, **kwargs):
        raise RuntimeError('unsupported operator aten::thing')

    logged = []
    faster(True)
    monkeypatch.setattr(onnx_model, 'export_onnx', failing_export)
    monkeypatch.setattr(onnx_model, 'print_log',
                        lambda message, **kwargs: logged.append(message))
    model = load_model(CONFIG, checkpoint, cfg_options=TINY)
    assert not isinstance(model, ONNXRuntimeSegmentor)
    assert not Path(cached_export_path(checkpoint)).exists()
    warned = [line for line in logged if 'Running PyTorch' in line]
    assert len(warned) == 1
    assert 'RuntimeError: unsupported operator aten::thing' in warned[0]
