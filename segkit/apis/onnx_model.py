"""An exported ONNX file as a segkit model: what ``--backend onnxruntime``
gives tools/infer.py, tools/test.py and :func:`segkit.apis.inference`."""
import os
from typing import Any, Dict, Optional, Union

from mmengine.config import Config

from segkit.models.segmentors.ort_segmentor import ONNXRuntimeSegmentor
from segkit.utils import ConfigValueError
from .export import read_sidecar
from .inference import init_model

BACKENDS = ('auto', 'pytorch', 'onnxruntime')


def resolve_backend(backend: str, model_file: str) -> str:
    """``'pytorch'`` or ``'onnxruntime'``: ``'auto'`` goes by the model
    file's suffix (``.onnx``); a mismatch is a clear error."""
    if backend not in BACKENDS:
        raise ConfigValueError(f'backend {backend!r}: expected one of '
                               f'{BACKENDS}')
    is_onnx = os.fspath(model_file).lower().endswith('.onnx')
    if backend == 'auto':
        return 'onnxruntime' if is_onnx else 'pytorch'
    if (backend == 'onnxruntime') != is_onnx:
        raise ConfigValueError(
            f'--backend {backend} with {model_file}: expected '
            + ('an .onnx file from tools/export.py' if not is_onnx else
               'a checkpoint (.pth); .onnx files run with onnxruntime'))
    return backend


def onnx_model_config(cfg: Config, onnx_file: str) -> Dict[str, Any]:
    """``cfg.model`` replaced by the ONNX file, for a Runner (tools/test.py
    scores the exported model through the same evaluation)."""
    return dict(type='ONNXRuntimeSegmentor', onnx_file=os.fspath(onnx_file),
                model=cfg.model)


def init_onnx_model(config: Union[str, os.PathLike, Config],
                    onnx_file: str,
                    cfg_options: Optional[Dict[str, Any]] = None,
                    threads: Optional[int] = None) -> ONNXRuntimeSegmentor:
    """:func:`~segkit.apis.init_model` for an exported file: ready for
    :func:`~segkit.apis.inference`, with the config's test pipeline,
    preprocessor and ``test_cfg`` around onnxruntime (CPU).

    Args:
        config: The config the model was exported from.
        onnx_file: ``tools/export.py``'s output (logits, no preprocessing).
        cfg_options: Overrides, as ``--cfg-options`` (e.g. slide mode).
        threads: onnxruntime intra-op threads; its default if None.

    Returns:
        The model, with ``cfg`` and ``dataset_meta`` (the sidecar's classes
        and palette, else the config's).
    """
    reference = init_model(config, None, 'cpu', cfg_options)
    model = ONNXRuntimeSegmentor(onnx_file, reference, threads)
    model.cfg = reference.cfg
    exported = read_sidecar(onnx_file) or {}
    model.dataset_meta = (dict(classes=tuple(exported['classes']),
                               palette=exported.get('palette') or None)
                          if exported.get('classes') else
                          reference.dataset_meta)
    return model.eval()


def load_model(config: Union[str, os.PathLike, Config], model_file: str,
               device: str = 'cpu',
               cfg_options: Optional[Dict[str, Any]] = None, *args: Any,
               **kwargs: Any):
    """:func:`init_onnx_model` for an ``.onnx`` file, else
    :func:`~segkit.apis.init_model` with the remaining arguments: what a
    tool calls to take either. onnxruntime runs on the CPU only."""
    if resolve_backend('auto', model_file) == 'pytorch':
        return init_model(config, model_file, device, cfg_options, *args,
                          **kwargs)
    if device != 'cpu':
        raise ConfigValueError(f'--device {device} with {model_file}: the '
                               'onnxruntime backend runs on the CPU here')
    return init_onnx_model(config, model_file, cfg_options)
