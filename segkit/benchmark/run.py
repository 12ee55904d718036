"""One benchmark of a config: the parts asked for, on CUDA if there is one."""
from dataclasses import asdict
from importlib.util import find_spec
from typing import Any, Dict, Iterable

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.utils.dl_utils import set_multi_processing

from segkit.apis import init_model
from .deploy import bench_onnxruntime
from .machine import machine_info, wrapper_precision
from .overhead import runner_overhead
from .parts import bare_loop, bench_data, bench_infer, bench_peak
from .runner import runner_train
from .timing import Settings, Sync

# In the order they run: the conv peak and inference before anything
# applies the config's multiprocessing settings (opencv threads), which
# tools/infer.py does not apply either. 'all' is these; 'overhead' (the
# host time of a Runner iteration, hook by hook) is asked for by name.
PARTS = ('peak', 'infer', 'data', 'train')
EXTRA_PARTS = ('overhead', )
# What the onnxruntime comparison of 'infer' needs (the [deploy] extra).
DEPLOY_PACKAGES = ('onnx', 'onnxscript', 'onnxruntime')


def add_peak_fractions(result: dict) -> None:
    """Each train/infer GFLOP/s as a fraction of the conv peak measured for
    its precision; ``None`` where no peak was measured."""
    peak = result.get('peak', {}).get('gflops', {})
    entries = []
    if 'train' in result:
        entries += [(result['precision'], result['train'][key])
                    for key in ('runner', 'bare_loop')]
    if 'infer' in result:
        entries += [(result['infer']['precision'], result['infer'][key])
                    for key in ('batch_1', 'batch_n')]
    for precision, entry in entries:
        entry['peak_fraction'] = (entry['gflops'] / peak[precision]
                                  if precision in peak else None)


def run_benchmark(cfg: Config, parts: Iterable[str],
                  settings: Settings) -> Dict[str, Any]:
    """Measure ``parts`` (of :data:`PARTS`) of ``cfg`` on this machine's
    CUDA device if it has one, else its CPU; see :func:`format_report`."""
    parts = set(parts)
    unknown = parts - set(PARTS + EXTRA_PARTS)
    if unknown:
        raise ValueError(f'unknown parts {sorted(unknown)}: expected some '
                         f'of {PARTS + EXTRA_PARTS}')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    sync: Sync = torch.cuda.synchronize if device == 'cuda' else lambda: None
    # The Runner applies env_cfg when it is built, after the parts before
    # it ran: set cuDNN's autotuner once for all, so that the bare loop and
    # the Runner are timed alike.
    torch.backends.cudnn.benchmark = bool(
        cfg.get('env_cfg', {}).get('cudnn_benchmark', False))
    result: Dict[str, Any] = dict(
        config=cfg.filename, machine=machine_info(device),
        settings=dict(asdict(settings), statistic='median of repeats'))
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'segkit')):
        # The model and optimiser wrapper the Runner would build: the
        # wrapper's class is the precision the config resolves to here.
        model = init_model(cfg, device=device)
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        result['precision'] = wrapper_precision(wrapper)
        if 'peak' in parts:
            result['peak'] = bench_peak(settings, device, sync)
        if 'infer' in parts:
            result['infer'] = bench_infer(cfg, model, settings, sync)
            # the same stream in fp32 and through onnxruntime (CPU only)
            if device == 'cpu' and all(map(find_spec, DEPLOY_PACKAGES)):
                result['infer_onnx'] = bench_onnxruntime(cfg, model,
                                                         settings, sync)
        if parts & {'data', 'train', 'overhead'}:
            # What the Runner sets up for its workers (opencv threads...).
            set_multi_processing(
                **cfg.get('env_cfg', {}).get('mp_cfg', {}),
                distributed=False)
        if 'data' in parts:
            result['data'] = bench_data(cfg, settings, sync)
        if parts & {'train', 'overhead'}:
            result['model'], bare = bare_loop(cfg, model, wrapper, settings,
                                              sync)
        if 'overhead' in parts:
            result['overhead'] = runner_overhead(
                cfg, settings, sync, 1000 * cfg.train_dataloader.batch_size /
                bare['images_per_s'])
        if 'train' in parts:
            result['train'] = dict(
                batch_size=cfg.train_dataloader.batch_size,
                runner=runner_train(cfg, settings, sync), bare_loop=bare)
            result['train']['runner']['gflops'] = (
                result['train']['runner']['images_per_s'] *
                result['model']['train_gflop_per_image'])
    add_peak_fractions(result)
    return result
