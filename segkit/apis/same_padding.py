"""TensorFlow "same" padding made static for an export whose input sides
are multiples of the size divisor."""
import sys
from contextlib import contextmanager
from typing import Dict, Iterator, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _same_padding_convs(model: nn.Module) -> List[nn.Conv2d]:
    """timm's convolutions that compute "same" padding from their input's
    size at every call (``Conv2dSame``: strided ones of the ``tf_``
    models, e.g. EfficientNet-Lite)."""
    if 'timm' not in sys.modules:  # no timm model was built
        return []
    from timm.layers.conv2d_same import Conv2dSame
    return [m for m in model.modules() if isinstance(m, Conv2dSame)]


def _static_pads(conv: nn.Conv2d) -> Tuple[int, int, int, int]:
    """``F.pad``'s (left, right, top, bottom) of ``conv``'s "same" padding
    for an input whose sides its stride divides: then
    ``(ceil(x / s) - 1) * s + (k - 1) * d + 1 - x`` is ``(k - 1) * d + 1 -
    s`` whatever ``x``."""
    (top, bottom), (left, right) = [
        (total // 2, total - total // 2) for total in (
            max((k - 1) * d + 1 - s, 0) for k, s, d in zip(
                conv.weight.shape[-2:], conv.stride, conv.dilation))
    ]
    return left, right, top, bottom


def _divisible_inputs(segmentor: nn.Module, convs: List[nn.Conv2d],
                      channels: int, divisor: int) -> List[nn.Conv2d]:
    """Those of ``convs`` whose input sides their stride divides for an
    input of ``divisor`` x ``divisor``, hence for every multiple of it:
    found by one forward pass."""
    seen: Dict[nn.Module, bool] = {}

    def record(conv: nn.Module, args: Tuple[Tensor, ...]) -> None:
        height, width = args[0].shape[-2:]
        seen[conv] = (height % conv.stride[0] == 0
                      and width % conv.stride[1] == 0)

    handles = [conv.register_forward_pre_hook(record) for conv in convs]
    try:
        with torch.no_grad():
            segmentor(torch.zeros(1, channels, divisor, divisor),
                      mode='tensor')
    except ValueError:  # a divisor below the network's stride: no probe
        return []
    finally:
        for handle in handles:
            handle.remove()
    return [conv for conv in convs if seen.get(conv)]


@contextmanager
def static_same_padding(segmentor: nn.Module, channels: int,
                        divisor: int) -> Iterator[None]:
    """Within the block, each of timm's "same"-padding convolutions in
    ``segmentor`` pads by constants wherever that gives the same result for
    every input whose sides are multiples of ``divisor`` (what the export
    takes): the exporter then traces a constant pad instead of reasoning
    symbolically about ``ceil(x / stride)`` at each strided layer, which
    took minutes for EfficientNet-Lite0 and seconds this way.

    Args:
        segmentor: the network exported; called once in ``'tensor'`` mode
            on a ``1 x channels x divisor x divisor`` probe.
        channels: the network's input channels.
        divisor: what the exported input's height and width are
            multiples of.
    """
    convs = _same_padding_convs(segmentor)
    static = (_divisible_inputs(segmentor, convs, channels, divisor)
              if convs else [])

    def padded_forward(conv: nn.Conv2d):
        pads = _static_pads(conv)

        def forward(x: Tensor) -> Tensor:
            return F.conv2d(F.pad(x, pads), conv.weight, conv.bias,
                            conv.stride, 0, conv.dilation, conv.groups)

        return forward

    for conv in static:
        conv.forward = padded_forward(conv)
    try:
        yield
    finally:
        for conv in static:
            del conv.forward
