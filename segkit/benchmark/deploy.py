"""The deployment comparison: the same inference() stream with the PyTorch
model in fp32 and with its ONNX export in onnxruntime (fp32)."""
import dataclasses
import tempfile
from pathlib import Path
from typing import Any, Dict

from mmengine.config import Config

from segkit.apis.export import ExportOptions, export_onnx
from segkit.models import BaseSegmentor
from segkit.models.segmentors.ort_segmentor import ONNXRuntimeSegmentor
from .parts import stream_rates, test_image_paths
from .timing import Settings, Sync, summary

BACKEND_ROWS = ('pytorch_fp32', 'onnxruntime')


def bench_onnxruntime(cfg: Config, model: BaseSegmentor,
                      settings: Settings, sync: Sync) -> Dict[str, Any]:
    """Images/s of :func:`segkit.apis.iter_inference` on the test set's
    files, batch 1 and ``settings.infer_batch``, with ``model`` in fp32 and
    with its dynamic-shape ONNX export run by onnxruntime: the same test
    pipeline, preprocessing and ``test_cfg`` around either network.

    Returns:
        ``{backend: {'batch_1': ..., 'batch_n': ...}}`` for the backends of
        :data:`BACKEND_ROWS`, and ``speedup`` (onnxruntime / PyTorch fp32
        per batch size).
    """
    model.eval()
    paths = test_image_paths(cfg)
    saved = model.test_cfg
    model.test_cfg = dataclasses.replace(saved, precision='fp32')
    result: Dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix='segkit_onnx_') as tmp:
            onnx_file = str(Path(tmp) / 'model.onnx')
            export_onnx(model, onnx_file, ExportOptions(dynamic=True))
            onnx_model = ONNXRuntimeSegmentor(onnx_file, model)
            onnx_model.cfg = model.cfg
            for name, runner in zip(BACKEND_ROWS, (model, onnx_model)):
                result[name] = {
                    key: summary(stream_rates(runner, paths, batch,
                                              settings, sync),
                                 batch_size=batch)
                    for key, batch in (('batch_1', 1),
                                       ('batch_n', settings.infer_batch))}
    finally:
        model.test_cfg = saved
    result['speedup'] = {
        key: result['onnxruntime'][key]['images_per_s'] /
        result['pytorch_fp32'][key]['images_per_s']
        for key in ('batch_1', 'batch_n')}
    return result
