"""An exported ONNX file as a segkit model: what ``--backend onnxruntime``
gives tools/infer.py, tools/test.py and :func:`segkit.apis.inference`, and
what ``--backend auto`` of tools/infer.py makes of a checkpoint where
onnxruntime is the faster backend."""
import hashlib
import logging
import os
from importlib.util import find_spec
from typing import Any, Dict, Optional, Union

from mmengine.config import Config
from mmengine.logging import print_log

from segkit.engine.optim import cpu_supports_bf16
from segkit.models.segmentors.ort_segmentor import ONNXRuntimeSegmentor
from segkit.utils import ConfigValueError, dump_json_atomic, root_cause
from .export import (ExportOptions, export_onnx, read_sidecar, sidecar,
                     sidecar_path)
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


def onnxruntime_is_faster(device: str) -> bool:
    """Whether a checkpoint runs faster through onnxruntime than through
    PyTorch here: on a CPU without native bf16, where PyTorch would infer
    in fp32 (onnxruntime ran the quick U-Net 3.3x faster there), with the
    ``deploy`` extra installed."""
    return (device == 'cpu' and not cpu_supports_bf16()
            and all(find_spec(name) for name in ('onnx', 'onnxruntime')))


def cached_export_path(checkpoint: str) -> str:
    """Where ``--backend auto`` keeps a checkpoint's export: beside it,
    ``<checkpoint>.onnx`` (with its sidecar ``<checkpoint>.json``)."""
    return f'{checkpoint}.onnx'


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def cached_onnx_model(config: Union[str, os.PathLike, Config],
                      checkpoint: str,
                      cfg_options: Optional[Dict[str, Any]] = None,
                      *args: Any, **kwargs: Any
                      ) -> Optional[ONNXRuntimeSegmentor]:
    """The checkpoint through onnxruntime, from an export with dynamic
    shapes kept beside it (:func:`cached_export_path`) and made again
    only when the checkpoint's SHA-256 changes. ``None`` where the export
    cannot be made or written, with one warning line: the caller then
    runs PyTorch. ``args`` and ``kwargs`` go to ``init_model``."""
    onnx_file = cached_export_path(checkpoint)
    digest = _sha256(checkpoint)
    exported = read_sidecar(onnx_file) or {}
    if exported.get('checkpoint_sha256') != digest or not os.path.isfile(
            onnx_file):
        model = init_model(config, checkpoint, 'cpu', cfg_options, *args,
                           **kwargs)
        options = ExportOptions(dynamic=True)
        print_log(f'Exporting {checkpoint} to {onnx_file} once: onnxruntime '
                  'is the faster backend on this CPU (--backend pytorch '
                  'runs the checkpoint itself)', logger='current',
                  level=logging.WARNING)
        try:
            io = export_onnx(model, onnx_file, options)
            dump_json_atomic(
                dict(sidecar(model, options, io, str(config), checkpoint),
                     checkpoint_sha256=digest), sidecar_path(onnx_file))
        except Exception as error:  # noqa: B902 -- PyTorch still runs it
            print_log(f'Running PyTorch: the ONNX export to {onnx_file} '
                      f'failed ({root_cause(error)})',
                      logger='current', level=logging.WARNING)
            return None
    return init_onnx_model(config, onnx_file, cfg_options)


def load_model(config: Union[str, os.PathLike, Config], model_file: str,
               device: str = 'cpu',
               cfg_options: Optional[Dict[str, Any]] = None, *args: Any,
               backend: str = 'auto', **kwargs: Any):
    """What a tool calls to run a model file of either kind.

    An ``.onnx`` file runs through :func:`init_onnx_model` (onnxruntime
    runs on the CPU only). A checkpoint runs through
    :func:`~segkit.apis.init_model` with the remaining arguments, or, with
    ``backend='auto'`` where :func:`onnxruntime_is_faster`, through
    :func:`cached_onnx_model` (PyTorch if that cannot be made). With
    ``backend='pytorch'`` or ``'onnxruntime'`` the file must be of that
    kind (:func:`resolve_backend`)."""
    if resolve_backend(backend, model_file) == 'pytorch':
        if backend == 'auto' and onnxruntime_is_faster(device):
            model = cached_onnx_model(config, model_file, cfg_options, *args,
                                      **kwargs)
            if model is not None:
                return model
        return init_model(config, model_file, device, cfg_options, *args,
                          **kwargs)
    if device != 'cpu':
        raise ConfigValueError(f'--device {device} with {model_file}: the '
                               'onnxruntime backend runs on the CPU here')
    return init_onnx_model(config, model_file, cfg_options)
