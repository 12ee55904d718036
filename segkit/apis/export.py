"""ONNX export of a segmentor: the network's ``tensor`` forward, optionally
with the data preprocessor in front and the class decision behind, plus a
``model.json`` sidecar that lets anyone with onnxruntime alone use it.

``tools/export.py`` is the command line; :mod:`segkit.apis.export_check`
compares the file with PyTorch.
"""
import json
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from segkit.models import BaseSegmentor
from segkit.models.segmentors.ort_segmentor import INPUT_KEY, OUTPUT_KEY
from segkit.utils import ConfigValueError, atomic_write
from segkit.utils.extras import import_extra
from .same_padding import static_same_padding

# Default opset: the newest the torch exporter writes natively.
DEFAULT_OPSET = 18
# Example size (in multiples of the size divisor) of a dynamic export.
EXAMPLE_STEPS = (6, 8)


@dataclass(frozen=True)
class ExportOptions:
    """What goes into the graph and which sizes it takes.

    Attributes:
        opset: ONNX opset version.
        dynamic: Any batch size and image size (a multiple of the size
            divisor without preprocessing, any size with it).
        batch: Batch size of a static export, and of the example input.
        shape: ``(H, W)`` of a static export; ``None``: the example size.
        with_preprocess: The graph takes a raw uint8 ``(N, H, W, 3)`` BGR
            image (as cv2 reads one), normalises and pads it itself, and
            returns outputs at ``H x W``.
        with_argmax: The graph returns uint8 classes ``(N, H, W)`` (argmax,
            or the threshold of a binary model) instead of logits.
    """
    opset: int = DEFAULT_OPSET
    dynamic: bool = False
    batch: int = 1
    shape: Optional[Tuple[int, int]] = None
    with_preprocess: bool = False
    with_argmax: bool = False

    @property
    def io(self) -> Tuple[str, str]:
        """``(input kind, output kind)`` as written in the file."""
        return ('raw_bgr' if self.with_preprocess else 'normalized',
                'classes' if self.with_argmax else 'logits')


class ExportGraph(nn.Module):
    """The module that is traced: ``model(x, mode='tensor')`` with the
    optional preprocessing and class decision of :class:`ExportOptions`.

    Preprocessing is the data preprocessor's arithmetic in the same order
    (float, BGR→RGB, ``(x - mean) / std``, pad right and bottom to the size
    divisor with ``pad_value``), so it matches PyTorch to float rounding.
    """

    def __init__(self, model: BaseSegmentor, options: ExportOptions) -> None:
        super().__init__()
        self.model = model
        self.options = options
        pre = model.data_preprocessor
        self.divisor = pre.pad_size_divisor
        self.pad_value = float(pre.pad_value)
        self.bgr_to_rgb = bool(pre._channel_conversion)
        normalise = pre._enable_normalize
        self.register_buffer('mean', (pre.mean if normalise else
                                      torch.zeros(3, 1, 1))[None].float())
        self.register_buffer('std', (pre.std if normalise else
                                     torch.ones(3, 1, 1))[None].float())

    def forward(self, x: Tensor) -> Tensor:
        if self.options.with_preprocess:
            height, width = x.shape[1], x.shape[2]
            x = x.permute(0, 3, 1, 2).float()
            if self.bgr_to_rgb:
                x = x.flip(1)
            x = (x - self.mean) / self.std
            # ceil(h / d) * d, in a form the exporter sees is a multiple
            pad_h = (height + self.divisor - 1) // self.divisor * \
                self.divisor - height
            pad_w = (width + self.divisor - 1) // self.divisor * \
                self.divisor - width
            x = F.pad(x, (0, pad_w, 0, pad_h), value=self.pad_value)
        logits = self.model(x, mode='tensor').float()
        if self.options.with_preprocess:
            logits = logits[:, :, :height, :width]
        if not self.options.with_argmax:
            return logits
        if logits.shape[1] == 1:
            return (logits[:, 0].sigmoid() > self.model.threshold).to(
                torch.uint8)
        return logits.argmax(1).to(torch.uint8)


def example_input(model: BaseSegmentor, options: ExportOptions) -> Tensor:
    """The tensor the export traces with: ``options.batch`` images of
    ``options.shape`` (or a few size-divisor steps), random values."""
    divisor = model.data_preprocessor.pad_size_divisor
    height, width = options.shape or tuple(divisor * s
                                           for s in EXAMPLE_STEPS)
    if not options.with_preprocess and (height % divisor or width % divisor):
        raise ConfigValueError(
            f'--shape {height} {width}: the network takes the padded batch, '
            f'whose sides are multiples of the size divisor {divisor}; give '
            'such a shape, or --with-preprocess to pad inside the graph')
    # torch.export fixes a dynamic axis whose example size is 1
    batch = max(options.batch, 2) if options.dynamic else options.batch
    generator = torch.Generator().manual_seed(0)
    if options.with_preprocess:
        return torch.randint(0, 256, (batch, height, width, 3),
                             dtype=torch.uint8, generator=generator)
    return torch.randn(batch, 3, height, width, generator=generator)


@contextmanager
def out_of_place_activations(model: nn.Module) -> Iterator[None]:
    """Modules with ``inplace=True`` (timm's and torchvision's ReLU,
    ReLU6, Hardswish) run out of place while ``model`` is traced, and in
    place again after: the graph is the same, and torch.export traces an
    in-place op through a slower decomposition
    (``docs/guides/07-inference-and-deployment.md``)."""
    in_place = [module for module in model.modules()
                if getattr(module, 'inplace', None) is True]
    for module in in_place:
        module.inplace = False
    try:
        yield
    finally:
        for module in in_place:
            module.inplace = True


def _dynamic_shapes(divisor: int, options: ExportOptions) -> Any:
    if not options.dynamic:
        return None
    Dim = torch.export.Dim
    batch = Dim('batch', min=1, max=1024)
    if options.with_preprocess:
        return ({0: batch, 1: Dim('height', min=divisor + 1, max=16384),
                 2: Dim('width', min=divisor + 1, max=16384)}, )
    steps = 16384 // divisor
    return ({0: batch, 2: divisor * Dim('height_steps', min=1, max=steps),
             3: divisor * Dim('width_steps', min=1, max=steps)}, )


def export_onnx(model: BaseSegmentor, out_file: str,
                options: ExportOptions) -> Dict[str, Any]:
    """Export ``model`` (in eval mode, float32) to ``out_file``, written
    atomically, with ``segkit_input`` / ``segkit_output`` in its metadata.

    Returns:
        The input and output description for the sidecar: names, layout,
        dtype and shape (ints, or axis names where dynamic).
    """
    onnx = import_extra('onnx', 'ONNX export')
    import_extra('onnxscript', 'ONNX export')
    graph = ExportGraph(model, options).eval()
    example = example_input(model, options)
    input_name = 'image' if options.with_preprocess else 'input'
    output_name = 'classes' if options.with_argmax else 'logits'
    channels = example.shape[-1 if options.with_preprocess else 1]
    with torch.inference_mode(False), torch.no_grad(), static_same_padding(
            model, channels, graph.divisor), out_of_place_activations(model):
        program = torch.onnx.export(
            graph, (example, ), dynamo=True, opset_version=options.opset,
            input_names=[input_name], output_names=[output_name],
            dynamic_shapes=_dynamic_shapes(graph.divisor, options))
    proto = program.model_proto
    for key, value in zip((INPUT_KEY, OUTPUT_KEY), options.io):
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    atomic_write(out_file, proto.SerializeToString())

    def describe(value_info) -> Dict[str, Any]:
        dims = value_info.type.tensor_type.shape.dim
        return dict(name=value_info.name, shape=[
            d.dim_value if d.HasField('dim_value') else d.dim_param
            for d in dims], dtype=onnx.helper.tensor_dtype_to_np_dtype(
                value_info.type.tensor_type.elem_type).name)

    return dict(input=describe(proto.graph.input[0]),
                output=describe(proto.graph.output[0]))


def sidecar(model: BaseSegmentor, options: ExportOptions,
            io: Dict[str, Any], config: str,
            checkpoint: Optional[str]) -> Dict[str, Any]:
    """``model.json``: everything needed to feed the graph and read its
    output without segkit."""
    pre = model.data_preprocessor
    meta = getattr(model, 'dataset_meta', None) or {}
    normalise = pre._enable_normalize
    stats = {key: [round(v, 6) for v in getattr(pre, key).flatten().tolist()]
             if normalise else None for key in ('mean', 'std')}
    graph_input = dict(io['input'], **(
        dict(layout='NHWC', colour_order='BGR', value_range='0..255',
             note='the graph converts colours, normalises and pads')
        if options.with_preprocess else
        dict(layout='NCHW', colour_order=('RGB' if pre._channel_conversion
                                          else 'as loaded (BGR)'),
             note='(image - mean) / std, padded right and bottom with '
             'pad_value to multiples of size_divisor')))
    graph_output = dict(io['output'], **(
        dict(layout='NHW', note='class id per pixel')
        if options.with_argmax else
        dict(layout='NCHW', note=('one logit per pixel; foreground where '
                                  'sigmoid(logit) > threshold')
             if model.num_classes == 1 else 'class id = argmax over C')))
    return dict(
        format='segkit-onnx', opset=options.opset, dynamic=options.dynamic,
        config=str(config), checkpoint=checkpoint,
        classes=list(meta.get('classes') or []),
        palette=[list(c) for c in meta.get('palette') or []],
        num_classes=model.num_classes, threshold=model.threshold,
        min_area=model.test_cfg.min_area, **stats,
        bgr_to_rgb=bool(pre._channel_conversion),
        size_divisor=pre.pad_size_divisor, pad_value=pre.pad_value,
        input=graph_input, output=graph_output)


def sidecar_path(onnx_file: str) -> Path:
    """``<name>.json`` beside ``<name>.onnx``."""
    return Path(onnx_file).with_suffix('.json')


def read_sidecar(onnx_file: str) -> Optional[Dict[str, Any]]:
    """The sidecar of ``onnx_file``, or None if it has none."""
    path = sidecar_path(onnx_file)
    if not path.is_file():
        return None
    with open(path, encoding='utf-8') as f:
        return json.load(f)
