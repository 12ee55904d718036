"""int8 on the CPU: onnxruntime's static quantisation of an exported model,
calibrated on training images fed to the network as inference feeds it.

``tools/export.py --int8 --calib N`` writes ``<name>_int8.onnx`` beside the
float32 file; ``tools/test.py CONFIG <name>_int8.onnx`` scores it.
"""
import os
import platform
import tempfile
from collections import Counter, deque
from typing import Any, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from torch import Tensor

from segkit.models import BaseSegmentor
from segkit.models.segmentors.ort_segmentor import (TENSOR_IO,
                                                    ONNXRuntimeSegmentor)
from segkit.utils import ConfigValueError, atomic_write
from segkit.utils.extras import check_extra, import_extra
from .inference import dataset_image_paths, iter_inference

# onnxruntime's calibration: each tensor's range is the min and max seen.
# Its histogram methods (Entropy, Percentile) keep every activation of
# every calibration input in memory, gigabytes at segmentation sizes.
CALIBRATION_METHOD = 'MinMax'
# onnxruntime's fused integer kernels; some take a scale first
# (QLinearConcat, QLinearWhere).
_QLINEAR = 'QLinear'
# What an op's outputs hold where it is not its first input's kind.
_OUTPUT_KIND = {'QuantizeLinear': 'int8', 'DequantizeLinear': 'float',
                'QGemm': 'int8', 'MatMulIntegerToFloat': 'float',
                'Shape': None}
# Conversions and shape arithmetic: not ops that compute on the image.
_NOT_COUNTED = ('QuantizeLinear', 'DequantizeLinear', 'Shape')
# Left in float: a BatchNormalization that onnxruntime could not fold into
# its convolution (whose output also feeds the Shape of a 'same' padding)
# has no int8 kernel, and its scale would be quantised per tensor.
_KEEP_FLOAT = ('BatchNormalization', )


def int8_path(onnx_file: str) -> str:
    """``<name>_int8.onnx`` beside ``<name>.onnx``."""
    stem, suffix = os.path.splitext(os.fspath(onnx_file))
    return f'{stem}_int8{suffix}'


def check_calibration(int8: bool, images: Optional[int],
                      io: Tuple[str, str] = TENSOR_IO) -> None:
    """One clear error, before anything is exported, for ``--int8``
    without ``--calib N``, a bad ``N``, ``--calib`` without ``--int8``, a
    graph other than the network alone, or no onnxruntime.

    Args:
        int8: ``--int8`` was given.
        images: ``--calib``, or None.
        io: The export's ``(input kind, output kind)``
            (:attr:`~segkit.apis.export.ExportOptions.io`).
    """
    if not int8:
        if images is not None:
            raise ConfigValueError(f'--calib {images} without --int8: the '
                                   'calibration images are for --int8')
        return
    if images is None or images < 1:
        given = 'no --calib' if images is None else f'--calib {images}'
        raise ConfigValueError(
            f'--int8 with {given}: expected --calib N, the number of '
            'training images (>= 1, e.g. 64) that set the int8 ranges')
    if io != TENSOR_IO:
        raise ConfigValueError(
            '--int8 with --with-preprocess or --with-argmax: int8 '
            'quantises the network alone (normalised input, logits out); '
            'export without them')
    check_extra('onnxruntime', 'int8 quantisation')


def calibration_images(cfg: Config, count: int) -> List[str]:
    """``count`` image files of ``cfg``'s training set, spread evenly over
    it in dataset order."""
    paths = dataset_image_paths(cfg.train_dataloader.dataset)
    if count > len(paths):
        raise ConfigValueError(
            f'--calib {count}: the training set of {cfg.filename} has '
            f'{len(paths)} images; calibrate on at most that many')
    return [paths[i * len(paths) // count] for i in range(count)]


class _CalibrationFeeds(ONNXRuntimeSegmentor):
    """The float32 export behind the segmentor interface, recording the
    arrays its network would run on instead of running them: what the test
    pipeline, preprocessor and ``test_cfg`` (windows, flips, scales) make
    of each image, split as the export's fixed sizes need. Its logits are
    zeros: no view of an image depends on the logits of another."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.feeds: deque = deque()

    def forward_logits(self, inputs: Tensor) -> Tensor:
        self.feeds.extend(self.network_feeds(inputs))
        return inputs.new_zeros((len(inputs), self.num_classes,
                                 *inputs.shape[2:]))


def calibration_feeds(model: BaseSegmentor, onnx_file: str,
                      paths: Iterable[str]) -> Iterator[np.ndarray]:
    """The network inputs of ``onnx_file`` (exported from ``model``) while
    :func:`~segkit.apis.iter_inference` runs on ``paths``, one image at a
    time."""
    recorder = _CalibrationFeeds(onnx_file, model)
    recorder.cfg = model.cfg
    for _ in iter_inference(recorder, paths, seg_logits=False):
        while recorder.feeds:
            yield recorder.feeds.popleft()


class _Reader:
    """onnxruntime's ``CalibrationDataReader`` protocol over arrays for
    the graph input ``name``; ``count`` is how many it gave."""

    def __init__(self, name: str, arrays: Iterable[np.ndarray]) -> None:
        self.name, self.arrays, self.count = name, iter(arrays), 0

    def get_next(self) -> Optional[Dict[str, np.ndarray]]:
        array = next(self.arrays, None)
        if array is None:
            return None
        self.count += 1
        return {self.name: array}


def quantize_onnx(fp32_file: str, int8_file: str,
                  feeds: Iterable[np.ndarray]) -> Dict[str, Any]:
    """Quantise ``fp32_file`` into ``int8_file`` (written atomically) with
    onnxruntime, calibrated on ``feeds``, arrays for its input.

    As onnxruntime recommends for the CPU: ``quant_pre_process`` first,
    then ``quantize_static`` in QDQ format, uint8 activations and int8
    weights per output channel (depthwise convolutions lose too much with
    one scale per tensor), 7-bit weights where the CPU has no VNNI, whose
    8-bit dot products can saturate. Ops of :data:`_KEEP_FLOAT` stay
    float.

    Returns:
        The settings, and ``inputs``: how many arrays calibrated it.
    """
    onnx = import_extra('onnx', 'int8 quantisation')
    quantization = import_extra('onnxruntime.quantization',
                                'int8 quantisation')
    from onnxruntime.quantization.shape_inference import quant_pre_process
    reduce_range = (platform.machine().lower() in ('x86_64', 'amd64')
                    and not torch.cpu._is_vnni_supported())
    reader = _Reader(onnx.load(fp32_file).graph.input[0].name, feeds)
    with tempfile.TemporaryDirectory(prefix='segkit_int8_') as tmp:
        prepared = os.path.join(tmp, 'prepared.onnx')
        # The exporter already wrote every tensor's shape; onnxruntime's
        # symbolic shape inference gives up on its dynamic sizes.
        quant_pre_process(fp32_file, prepared, skip_symbolic_shape=True)
        keep_float = [node.name for node in onnx.load(prepared).graph.node
                      if node.op_type in _KEEP_FLOAT]
        quantized = os.path.join(tmp, 'int8.onnx')
        quantization.quantize_static(
            prepared, quantized, reader,
            quant_format=quantization.QuantFormat.QDQ,
            activation_type=quantization.QuantType.QUInt8,
            weight_type=quantization.QuantType.QInt8, per_channel=True,
            reduce_range=reduce_range, nodes_to_exclude=keep_float,
            calibrate_method=getattr(quantization.CalibrationMethod,
                                     CALIBRATION_METHOD))
        with open(quantized, 'rb') as f:
            atomic_write(int8_file, f.read())
    return dict(format='QDQ', activations='uint8', weights='int8',
                per_channel=True, reduce_range=reduce_range,
                method=CALIBRATION_METHOD, inputs=reader.count)


def op_precisions(onnx_file: str) -> Dict[str, Dict[str, int]]:
    """The ops of ``onnx_file`` as onnxruntime's CPU provider runs them,
    after it fuses each QuantizeLinear / op / DequantizeLinear group it has
    an integer kernel for (``QLinearConv``, ...), counted by type.

    An op whose first input is float computes in float: one the quantiser
    left out, or one without an integer kernel, between a
    DequantizeLinear and a QuantizeLinear. Conversions and integer shape
    arithmetic are not counted.

    Returns:
        ``{'int8': {op type: count}, 'float': {op type: count}}``.
    """
    onnx = import_extra('onnx', 'reading an int8 model')
    ort = import_extra('onnxruntime', 'reading an int8 model')
    with tempfile.TemporaryDirectory(prefix='segkit_int8_') as tmp:
        options = ort.SessionOptions()
        # QDQ fusions, without the CPU layout rewrites of ORT_ENABLE_ALL
        options.graph_optimization_level = (
            ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
        options.optimized_model_filepath = os.path.join(tmp, 'run.onnx')
        ort.InferenceSession(onnx_file, options,
                             providers=['CPUExecutionProvider'])
        graph = onnx.load(options.optimized_model_filepath).graph
    kinds = {onnx.TensorProto.FLOAT: 'float', onnx.TensorProto.UINT8: 'int8',
             onnx.TensorProto.INT8: 'int8'}
    kind = {value.name: kinds.get(value.type.tensor_type.elem_type)
            for value in graph.input}
    kind.update((tensor.name, kinds.get(tensor.data_type))
                for tensor in graph.initializer)
    counts: Dict[str, Counter] = dict(int8=Counter(), float=Counter())
    for node in graph.node:  # in topological order
        first = kind.get(node.input[0]) if node.input else None
        op = node.op_type
        computes = 'int8' if op.startswith(_QLINEAR) else first
        if computes and op not in _NOT_COUNTED:
            counts[computes][op] += 1
        kind.update((name, _OUTPUT_KIND.get(op, computes))
                    for name in node.output)
    return {key: dict(sorted(value.items())) for key, value in counts.items()}


def export_int8(model: BaseSegmentor, fp32_file: str, int8_file: str,
                images: int) -> Dict[str, Any]:
    """Quantise ``fp32_file``, the network-only export of ``model``, into
    ``int8_file``, calibrated on ``images`` training images of
    ``model.cfg`` through its test pipeline, preprocessor and ``test_cfg``.

    Returns:
        The ``int8`` entry of the file's ``model.json``: settings,
        calibration, and the ops that compute in int8 and in float.
    """
    check_calibration(True, images)
    feeds = calibration_feeds(model, fp32_file,
                              calibration_images(model.cfg, images))
    settings = quantize_onnx(fp32_file, int8_file, feeds)
    calibration = dict(images=images, inputs=settings.pop('inputs'),
                       method=settings.pop('method'),
                       data='training images through the test pipeline')
    ort = import_extra('onnxruntime', 'int8 quantisation')
    return dict(settings, calibration=calibration,
                onnxruntime=ort.__version__,
                ops=op_precisions(int8_file))


def format_ops(ops: Dict[str, Dict[str, int]]) -> str:
    """One line of :func:`op_precisions`: int8 ops, then float ops."""
    def listed(counts: Dict[str, int]) -> str:
        return ', '.join(f'{op} x{n}' for op, n in counts.items()) or 'none'

    return (f'int8 ops: {listed(ops["int8"])}; float ops (not quantised, '
            f'or no int8 kernel in onnxruntime\'s CPU provider): '
            f'{listed(ops["float"])}')


def int8_summary(int8_file: str, record: Dict[str, Any],
                 agreement: float) -> str:
    """What ``tools/export.py --int8`` prints: the file, how it was
    quantised and calibrated, its lowest argmax ``agreement`` with PyTorch
    float32 on the check images, and :func:`format_ops`."""
    calibration = record['calibration']
    bits = '7-bit' if record['reduce_range'] else '8-bit'
    return (f'{int8_file}: {os.path.getsize(int8_file) / 2**20:.1f} MiB, '
            f'{record["format"]} {record["activations"]} activations, '
            f'{bits} {record["weights"]} weights per channel, calibrated '
            f'({calibration["method"]}) on {calibration["images"]} training '
            f'images ({calibration["inputs"]} network inputs); argmax '
            f'agreement with PyTorch fp32 on the check images: '
            f'{100 * agreement:.2f}% (no target: score it with '
            'tools/test.py)\n' + format_ops(record['ops']))
