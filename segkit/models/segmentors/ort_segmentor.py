"""An exported ONNX model behind the segmentor interface, run by
onnxruntime: the test pipeline, data preprocessor, sliding windows, flip
and multi-scale TTA, threshold and resizing back are segkit's, only the
network is not."""
import dataclasses
import os
from typing import List, Optional, Union

import numpy as np
import torch
from torch import Tensor

from segkit.registry import MODELS
from segkit.utils import ConfigValueError, MissingPathError
from segkit.utils.extras import import_extra
from ..backbones.named_weights import normalization_for_weights
from .base import BaseSegmentor

# metadata_props the exporter writes: what the graph takes and returns.
INPUT_KEY, OUTPUT_KEY = 'segkit_input', 'segkit_output'
# The only graph predict can run: normalised, padded NCHW in, logits out.
TENSOR_IO = ('normalized', 'logits')


def ort_session(onnx_file: str, threads: Optional[int] = None):
    """An onnxruntime CPU session of ``onnx_file`` with every graph
    optimisation on; ``threads`` intra-op threads (default: onnxruntime's,
    one per core)."""
    ort = import_extra('onnxruntime', 'running an ONNX model')
    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    if threads:
        options.intra_op_num_threads = threads
    return ort.InferenceSession(onnx_file, options,
                                providers=['CPUExecutionProvider'])


@MODELS.register_module()
class ONNXRuntimeSegmentor(BaseSegmentor):
    """``predict`` and ``tensor`` modes of a PyTorch segmentor, with its
    network replaced by the ONNX file ``tools/export.py`` wrote from it.

    The PyTorch model's config (``model``) is built once, to take what
    surrounds the network from it: data preprocessor, ``test_cfg`` (so
    slide, flip and scales run through the same code as PyTorch's
    predict; scales other than 1 need a ``--dynamic`` export),
    ``threshold`` and ``align_corners``. Its weights are not used. The
    network takes and returns float32 (``test_cfg.precision`` is set to
    ``'fp32'``) and computes in the file's precision.

    Args:
        onnx_file: An export without ``--with-preprocess`` or
            ``--with-argmax`` (input: the normalised, padded batch), or
            its int8 quantisation (``--int8``), which takes the same.
        model: The model that was exported, or its config (built here;
            its weights are never used).
        threads: onnxruntime intra-op threads; its default if None.
        data_preprocessor: Overrides the model's (a Runner passes the
            config's top-level one).
    """

    def __init__(self, onnx_file: str, model: Union[dict, BaseSegmentor],
                 threads: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None) -> None:
        onnx_file = os.fspath(onnx_file)
        if not os.path.isfile(onnx_file):
            raise MissingPathError(f'ONNX model {onnx_file!r} does not '
                                   'exist: expected a tools/export.py output')
        reference = (model if isinstance(model, BaseSegmentor) else
                     MODELS.build(model))
        session = ort_session(onnx_file, threads)
        meta = session.get_modelmeta().custom_metadata_map
        io = (meta.get(INPUT_KEY), meta.get(OUTPUT_KEY))
        if io != TENSOR_IO:
            raise ConfigValueError(
                f'{onnx_file} takes {io[0]} input and returns {io[1]}: '
                'expected an export of the network alone (normalised input, '
                'logits out) to run through the test pipeline; export again '
                'without --with-preprocess and --with-argmax')
        channels = session.get_outputs()[0].shape[1]
        if channels != reference.num_classes:
            raise ConfigValueError(
                f"{onnx_file} returns {channels} channels but the config's "
                f'model has num_classes={reference.num_classes}: expected '
                'the config the model was exported from')
        if data_preprocessor is not None and isinstance(model, dict):
            # As EncoderDecoder does: weights loaded by name normalise
            # their own way, which the config's preprocessor leaves out.
            data_preprocessor = normalization_for_weights(
                data_preprocessor, model.get('backbone') or {})
        super().__init__(
            num_classes=reference.num_classes,
            threshold=reference.threshold,
            align_corners=reference.align_corners,
            data_preprocessor=data_preprocessor or
            reference.data_preprocessor,
            test_cfg=dataclasses.replace(reference.test_cfg,
                                         precision='fp32'))
        self.onnx_file, self.threads = onnx_file, threads
        self.input_name = session.get_inputs()[0].name
        # ints where the export fixed a size, names where it is dynamic
        self.input_shape = session.get_inputs()[0].shape
        # The session that runs the model starts on first use: a DataLoader
        # worker forked from a process holding one (its thread pool) can
        # deadlock when it frees its copy.
        self._session = None

    @property
    def session(self):
        """The onnxruntime session, started on first use."""
        if self._session is None:
            self._session = ort_session(self.onnx_file, self.threads)
        return self._session

    def __getstate__(self) -> dict:
        """Pickling and deepcopy leave the session out (onnxruntime's cannot
        be pickled); the copy starts its own on first use."""
        return dict(self.__dict__, _session=None)

    def _fixed(self, axis: int) -> Optional[int]:
        size = self.input_shape[axis]
        return size if isinstance(size, int) else None

    def network_feeds(self, inputs: Tensor) -> List[np.ndarray]:
        """What onnxruntime runs for the float32 ``(N, 3, H, W)`` batch:
        the batch as one array, or image by image for a model exported for
        batches of 1; one clear error where the export's fixed sizes cannot
        take it."""
        height, width = self._fixed(2), self._fixed(3)
        fixed_size = (height, width) != (None, None)
        scales = self.test_cfg.scales
        if fixed_size and any(scale != 1 for scale in scales):
            raise ConfigValueError(
                f'{self.onnx_file} was exported for {height}x{width} inputs, '
                f'but test_cfg.scales={list(scales)} runs the network on '
                'resized images: export with --dynamic for multi-scale TTA')
        if fixed_size and (
                (height or inputs.shape[2]), (width or inputs.shape[3])
        ) != tuple(inputs.shape[2:]):
            raise ConfigValueError(
                f'{self.onnx_file} was exported for {height}x{width} inputs, '
                f'got {tuple(inputs.shape[2:])}: export with --dynamic, or '
                'with --shape of the padded test image')
        array = inputs.detach().float().cpu().contiguous().numpy()
        fixed_batch = self._fixed(0)
        if fixed_batch not in (None, 1, len(array)):
            raise ConfigValueError(
                f'{self.onnx_file} was exported for batches of {fixed_batch}'
                f', got {len(array)}: export with --dynamic or --batch 1')
        if fixed_batch in (None, len(array)):
            return [array]
        return [array[i:i + 1] for i in range(len(array))]

    def forward_logits(self, inputs: Tensor) -> Tensor:
        """Logits of the float32 ``(N, 3, H, W)`` batch from onnxruntime,
        run as :meth:`network_feeds` splits it."""
        outputs = [self.session.run(None, {self.input_name: feed})[0]
                   for feed in self.network_feeds(inputs)]
        return torch.from_numpy(np.concatenate(outputs)).to(inputs.device)
