"""What a run's numbers depend on besides its config: the machine, the
precision it really ran in, library versions, the code's commit, the model's
size and the data it saw. The console prints them as a run starts and
``report.html`` shows them; both take them from :func:`run_facts`, which
collects them once per run and keeps them in the message hub.
"""
import importlib
import os
import os.path as osp
import platform
import subprocess
import time
from typing import Any, Dict, Optional, Tuple

import torch
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import nn

import segkit
from .model_summary import (network_input, summarize_model, summary_facts,
                            summary_line, weights_line)
from .optim import CPUAutocastOptimWrapper, cpu_supports_bf16
from .optim.precision import autocast_dtype

FACTS_KEY = 'run_facts'  # the message hub's runtime info key
_REPO = osp.dirname(osp.dirname(osp.abspath(segkit.__file__)))
_DTYPE_NAMES = {torch.bfloat16: 'bf16', torch.float16: 'fp16',
                torch.float32: 'fp32'}


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo``), else the platform's."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str) -> Dict[str, Any]:
    """CPU name, the CPUs this process may use, torch's threads, bf16
    support, and the GPU's name when ``device`` is ``'cuda'``."""
    info = dict(device=device, cpu=cpu_model(),
                cpus=len(os.sched_getaffinity(0)),
                threads=torch.get_num_threads(), torch=torch.__version__,
                cpu_native_bf16=cpu_supports_bf16())
    if device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name()
        info['gpus'] = torch.cuda.device_count()
    return info


def wrapper_precision(wrapper: OptimWrapper) -> str:
    """The precision an optimiser wrapper trains in."""
    if isinstance(wrapper, CPUAutocastOptimWrapper):
        return 'bf16'
    if isinstance(wrapper, AmpOptimWrapper):
        return 'bf16' if wrapper.cast_dtype == torch.bfloat16 else 'fp16'
    return 'fp32'


def training_precision(wrapper: OptimWrapper) -> str:
    """What a run trains in, in words: the arithmetic, then the weights."""
    precision = wrapper_precision(wrapper)
    if isinstance(wrapper, CPUAutocastOptimWrapper):
        return 'bf16 autocast on the CPU, fp32 weights'
    if precision == 'fp32':
        return 'fp32'
    scaler = getattr(wrapper, 'loss_scaler', None)
    scaled = scaler is not None and scaler.is_enabled()
    return (f'{precision} AMP on CUDA, fp32 weights'
            + (', loss scaling' if scaled else ''))


def inference_precision(model: nn.Module, device_type: str) -> str:
    """What ``test_cfg.precision`` computes in on ``device_type``, in
    words."""
    precision = getattr(getattr(model, 'test_cfg', None), 'precision',
                        'fp32')
    dtype = autocast_dtype(precision, device_type)
    name = _DTYPE_NAMES.get(dtype, 'fp32') if dtype else 'fp32'
    return f'{name} (test_cfg.precision={precision!r} on {device_type})'


def versions() -> Dict[str, str]:
    """segkit's and its main libraries' versions (``mmcv`` is also what
    ``mmcv-lite`` installs)."""
    found = {}
    for package in ('segkit', 'torch', 'mmengine', 'mmcv'):
        try:
            found[package] = importlib.import_module(package).__version__
        except ImportError:
            found[package] = 'not installed'
    return found


def git_commit(repo: str = _REPO) -> Optional[str]:
    """``<hash>`` of the checkout segkit runs from, ``<hash>+dirty`` with
    uncommitted changes to tracked files; ``None`` outside a git checkout
    (an installed wheel) or without git."""
    def git(*args: str) -> Optional[str]:
        try:
            done = subprocess.run(['git', '-C', repo, *args], text=True,
                                  capture_output=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git('rev-parse', '--short=12', 'HEAD')
    if not commit:
        return None
    dirty = git('status', '--porcelain', '--untracked-files=no')
    return commit + ('+dirty' if dirty else '')


def _dataset_facts(loader: Any) -> Optional[Dict[str, Any]]:
    """How many samples a dataloader's dataset has, and where they are."""
    dataset = getattr(loader, 'dataset', None)
    if dataset is None:
        return None
    prefix = getattr(dataset, 'data_prefix', None) or {}
    source = prefix.get('img_path') or getattr(dataset, 'data_root', None)
    return dict(images=len(dataset), type=type(dataset).__name__,
                source=str(source) if source else None,
                classes=len((getattr(dataset, 'metainfo', None) or {})
                            .get('classes') or ()))


def train_crop_size(cfg: Any) -> Optional[Tuple[int, int]]:
    """``(h, w)`` of the last ``RandomCrop`` in the config's training
    pipeline, or ``None`` without one."""
    pipeline = cfg.get('train_dataloader', {}).get('dataset', {}).get(
        'pipeline') or []
    crops = [step['crop_size'] for step in pipeline
             if isinstance(step, dict) and step.get('type') == 'RandomCrop']
    if not crops:
        return None
    crop = crops[-1]
    return (crop, crop) if isinstance(crop, int) else tuple(crop)


def padded_size(size: Tuple[int, int], divisor: int) -> Tuple[int, int]:
    """``size`` padded up to multiples of ``divisor``, as the data
    preprocessor pads a batch."""
    return tuple(-(-side // divisor) * divisor for side in size)


def padding_facts(cfg: Any, model: nn.Module) -> Optional[Dict[str, Any]]:
    """The training crop and the size a batch of it is padded to, where
    they differ: the padded border is computed but never learnt from."""
    crop = train_crop_size(cfg)
    if crop is None:
        return None
    divisor = getattr(getattr(model, 'data_preprocessor', None),
                      'pad_size_divisor', 1)
    padded = padded_size(crop, divisor)
    if padded == crop:
        return None
    return dict(crop=list(crop), padded=list(padded), divisor=divisor,
                share=1 - crop[0] * crop[1] / (padded[0] * padded[1]))


def _model_facts(model: nn.Module, loader: Any) -> Optional[Dict[str, Any]]:
    """Parameters and FLOPs at the size of the loader's first sample."""
    dataset = getattr(loader, 'dataset', None)
    if dataset is None or not len(dataset):
        return None
    sample = dataset[0]['inputs']
    summary = summarize_model(model, network_input(model, sample))
    return dict(summary_facts(summary), line=summary_line(summary))


def run_facts(runner, mode: str) -> Dict[str, Any]:
    """The facts of ``runner``'s run, collected at its first call and kept
    in the message hub (``runtime_info['run_facts']``, not saved into
    checkpoints); later calls, from other hooks, return the same dict.

    Args:
        runner: A Runner whose loops for ``mode`` are built (a hook's
            ``before_train`` or ``before_test``).
        mode: ``'train'`` or ``'test'``.
    """
    hub = runner.message_hub
    facts = hub.get_info(FACTS_KEY)
    if facts is not None and facts.get('mode') == mode:
        return facts
    model = runner.model.module if is_model_wrapper(
        runner.model) else runner.model
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else torch.device(
        'cpu')
    facts = dict(mode=mode, config=runner.cfg.filename,
                 work_dir=runner.work_dir, log_dir=runner.log_dir,
                 started=time.time(), machine=machine_info(device.type),
                 versions=versions(), git=git_commit())
    if mode == 'train':
        loop = runner.train_loop
        facts['weights'] = weights_line(model)
        facts['precision'] = training_precision(runner.optim_wrapper)
        facts['data'] = {'train': _dataset_facts(runner.train_dataloader)}
        facts['padding'] = padding_facts(runner.cfg, model)
        evaluated = runner.val_loop
        facts['schedule'] = dict(
            max_iters=loop.max_iters, start_iter=runner.iter,
            val_interval=getattr(loop, 'val_interval', None),
            minutes=getattr(loop, 'minutes', None))
    else:
        evaluated = runner.test_loop
        facts['precision'] = inference_precision(model, device.type)
    if evaluated is not None:
        facts.setdefault('data', {})['val' if mode == 'train' else 'test'] = \
            _dataset_facts(evaluated.dataloader)
    # FLOPs at the evaluated size; else, at the training crop size. A model
    # without parameters runs no PyTorch network (an ONNX file): nothing
    # to count.
    try:
        if any(True for _ in model.parameters()):
            facts['model'] = _model_facts(model, evaluated.dataloader
                                          if evaluated else
                                          runner.train_dataloader)
    except Exception as err:  # noqa: BLE001 -- a summary never stops a run
        runner.logger.warning(f'no model summary: {type(err).__name__}: '
                              f'{err}')
    hub.update_info(FACTS_KEY, facts, resumed=False)
    return facts
