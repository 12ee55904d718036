"""Throughput of a config on this machine: its training data pipeline,
training, inference, and the convolution peak they are measured against.

``tools/benchmark.py`` is the command line. Every figure is the median of
``repeats`` timed runs of ``iters`` iterations after ``warmup`` untimed ones,
so one slow repeat (another process, a cold page cache) does not move it.
The parts run segkit's own code paths: the train dataloader as MMEngine's
Runner builds it, the Runner itself, :func:`segkit.apis.inference`, and the
optimiser wrapper the config's ``precision`` resolves to through
``PrecisionOptimWrapperConstructor`` (``select_optim_wrapper``), so the
figures are those of the tools, not of a re-implementation.
"""
import copy
import os
import platform
import statistics
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import (Any, Callable, Dict, Iterable, Iterator, List, Optional,
                    Sequence, Tuple)

import cv2
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper, OptimWrapper, build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from mmengine.structures import PixelData
from mmengine.utils.dl_utils import set_multi_processing
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from segkit.apis import inference, init_model, iter_inference
from segkit.engine.optim import CPUAutocastOptimWrapper, cpu_supports_bf16
from segkit.models import BaseSegmentor
from segkit.registry import DATASETS
from segkit.structures import SegDataSample

# In the order they run: the conv peak and inference before anything
# applies the config's multiprocessing settings (opencv threads), which
# tools/infer.py does not apply either.
PARTS = ('peak', 'infer', 'data', 'train')
DTYPES = {'fp32': torch.float32, 'bf16': torch.bfloat16,
          'fp16': torch.float16}
# The peak microbenchmark: a 3x3 conv, channels in = out, square maps of
# PEAK_SIZE, batch PEAK_BATCH; large enough to be compute-bound.
PEAK_CHANNELS, PEAK_SIZE, PEAK_BATCH = 256, 64, 8
# Custom hooks that write files; the Runner benchmark leaves them out.
OUTPUT_HOOKS = ('SegVisHook', 'ReportHook')
Sync = Callable[[], None]


@dataclass(frozen=True)
class Settings:
    """How each figure is measured: ``repeats`` timed runs of ``iters``
    iterations after ``warmup`` untimed ones (at least one, so that worker
    start-up and oneDNN's first-call kernel selection are never timed)."""
    warmup: int = 3
    iters: int = 10
    repeats: int = 3
    infer_batch: int = 4

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if isinstance(value, bool) or not isinstance(value, int) \
                    or value < 1:
                raise ValueError(f'{name}={value!r}: expected an int >= 1')


def repeat_rates(ends: Sequence[float], counts: Sequence[int], warmup: int,
                 iters: int, repeats: int) -> List[float]:
    """Items/s of each timed repeat, from the time each iteration ended and
    how many items it processed: repeat ``r`` is iterations
    ``warmup + r * iters`` onwards, timed from the end of the one before."""
    needed = warmup + iters * repeats
    if len(ends) != needed or len(counts) != needed:
        raise ValueError(f'{len(ends)} end times and {len(counts)} counts: '
                         f'expected {needed} of each ({warmup} warm-up + '
                         f'{repeats} x {iters} timed iterations)')
    rates = []
    for r in range(repeats):
        first = warmup + r * iters
        last = first + iters
        rates.append(sum(counts[first:last]) /
                     (ends[last - 1] - ends[first - 1]))
    return rates


def timed_rates(step: Callable[[], int], settings: Settings, sync: Sync,
                warmup: Optional[int] = None) -> List[float]:
    """Items/s of each repeat of ``step``, which returns how many items it
    processed; ``warmup`` overrides ``settings.warmup``."""
    warmup = settings.warmup if warmup is None else warmup
    ends: List[float] = []
    counts: List[int] = []
    for _ in range(warmup + settings.iters * settings.repeats):
        counts.append(step())
        sync()
        ends.append(time.perf_counter())
    return repeat_rates(ends, counts, warmup, settings.iters,
                        settings.repeats)


def summary(rates: Sequence[float], **extra: Any) -> Dict[str, Any]:
    """The median images/s and every repeat's, plus ``extra`` fields."""
    return dict(images_per_s=statistics.median(rates), repeats=list(rates),
                **extra)


def endless(iterable: Iterable) -> Iterator:
    """``iterable`` over and over (a finite sampler or image list)."""
    while True:
        yield from iterable


def count_gflop(run: Callable[[], Any]) -> float:
    """GFLOP (multiply and add counted apart) of the convolutions and
    matrix products that ``run()`` executes, as FlopCounterMode sees them."""
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops() / 1e9


@contextmanager
def conv_dtypes(model: nn.Module) -> Iterator[List[torch.dtype]]:
    """The output dtypes of the model's first convolution while inside: the
    precision it really computes in, whatever autocast is around it."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)),
                None)
    if conv is None:
        raise ValueError(f'{type(model).__name__} has no Conv2d to observe')
    seen: List[torch.dtype] = []
    handle = conv.register_forward_hook(
        lambda module, inputs, output: seen.append(output.dtype))
    try:
        yield seen
    finally:
        handle.remove()


def dtype_name(dtype: torch.dtype) -> str:
    return next(name for name, value in DTYPES.items() if value == dtype)


def wrapper_precision(wrapper: OptimWrapper) -> str:
    """The precision an optimiser wrapper trains in."""
    if isinstance(wrapper, CPUAutocastOptimWrapper):
        return 'bf16'
    if isinstance(wrapper, AmpOptimWrapper):
        return 'bf16' if wrapper.cast_dtype == torch.bfloat16 else 'fp16'
    return 'fp32'


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: str) -> Dict[str, Any]:
    info = dict(device=device, cpu=cpu_model(),
                cpus=len(os.sched_getaffinity(0)),
                threads=torch.get_num_threads(), torch=torch.__version__,
                cpu_native_bf16=cpu_supports_bf16())
    if device == 'cuda':
        info['gpu'] = torch.cuda.get_device_name()
    return info


def bench_peak(settings: Settings, device: str, sync: Sync) -> dict:
    """GFLOP/s of a compute-bound 3x3 conv in channels_last, per precision
    (fp16 only on CUDA): what a model's achieved rate is a fraction of."""
    conv = nn.Conv2d(PEAK_CHANNELS, PEAK_CHANNELS, 3, padding=1,
                     bias=False).to(device, memory_format=torch.channels_last)
    x = torch.randn(PEAK_BATCH, PEAK_CHANNELS, PEAK_SIZE, PEAK_SIZE,
                    device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    gflops: Dict[str, float] = {}
    with torch.inference_mode():
        gflop = count_gflop(lambda: conv(x))
        for name in ('fp32', 'bf16') + (('fp16', ) if device == 'cuda'
                                         else ()):

            def step() -> int:
                with torch.autocast(device, DTYPES[name],
                                    enabled=name != 'fp32'):
                    conv(x)
                return 1

            gflops[name] = statistics.median(
                timed_rates(step, settings, sync)) * gflop
    return dict(conv=f'3x3 conv {PEAK_CHANNELS}->{PEAK_CHANNELS}, '
                f'{PEAK_SIZE}x{PEAK_SIZE}, batch {PEAK_BATCH}, '
                'channels_last, forward', gflop_per_call=gflop, gflops=gflops)


def bench_infer(cfg: Config, model: BaseSegmentor, settings: Settings,
                sync: Sync) -> dict:
    """Images/s of :func:`segkit.apis.inference` with ``model`` (from
    :func:`init_model`; its random weights do not change the speed) on the
    files of ``cfg``'s test set, batch 1 and ``settings.infer_batch``, fed
    as one stream as tools/infer.py feeds it (:func:`iter_inference`, the
    generator behind ``inference``). The precision is the one the model is
    seen to compute in, as inference sets its own."""
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]
    if not paths:
        raise ValueError(f'config {cfg.filename}: the test dataset has no '
                         'images to run inference on')
    probe: List[SegDataSample] = []
    with conv_dtypes(model) as dtypes:
        gflop = count_gflop(lambda: probe.extend(inference(model, paths[:1])))
    sample = probe[0]
    result: Dict[str, Any] = dict(
        precision=dtype_name(dtypes[0]),
        image_size=list(sample.metainfo['ori_shape']),
        input_size=list(sample.metainfo['batch_input_shape']),
        gflop_per_image=gflop)
    for key, batch in (('batch_1', 1), ('batch_n', settings.infer_batch)):
        stream = iter_inference(model, endless(paths), batch)

        def step() -> int:
            for _ in range(batch):
                next(stream)
            return batch

        rates = timed_rates(step, settings, sync)
        result[key] = summary(rates, batch_size=batch,
                              gflops=statistics.median(rates) * gflop)
    return result


def bench_data(cfg: Config, settings: Settings, sync: Sync) -> dict:
    """Images/s of the training pipeline (decode, palette to classes,
    augment, pack, collate) in this process and through the config's
    DataLoader, and of bare ``cv2.imread`` of the same images and masks."""
    seed = cfg.get('randomness', {}).get('seed')
    # Two builds: forked workers inherit their parent's dataset, so with one
    # the single-process pass would fill a CachedLoading cache for them.
    single = Runner.build_dataloader(cfg.train_dataloader, seed=seed)
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=seed)
    dataset = single.dataset
    batches = endless(single.batch_sampler)

    def pipeline_step() -> int:
        indices = next(batches)
        single.collate_fn([dataset[i] for i in indices])
        return len(indices)

    def floor_step() -> int:
        indices = next(batches)
        for i in indices:
            info = dataset.get_data_info(i)
            for path in (info['img_path'], info['seg_map_path']):
                if cv2.imread(path) is None:
                    raise ValueError(f'cv2.imread cannot read {path}')
        return len(indices)

    loaded = endless(loader)

    def loader_step() -> int:
        return len(next(loaded)['inputs'])

    # Batches the workers prepared before the first one arrived would be
    # counted as if made in no time: drain them in the warm-up.
    queued = loader.num_workers * (loader.prefetch_factor or 0)
    loader_warmup = max(settings.warmup, queued)
    return dict(
        batch_size=loader.batch_size, num_workers=loader.num_workers,
        persistent_workers=loader.persistent_workers,
        opencv_threads=cv2.getNumThreads(),
        single_process=summary(timed_rates(pipeline_step, settings, sync)),
        dataloader=summary(
            timed_rates(loader_step, settings, sync, loader_warmup),
            warmup=loader_warmup),
        decode_floor=summary(timed_rates(floor_step, settings, sync)))


def train_input_size(cfg: Config, divisor: int) -> Tuple[int, int]:
    """The training crop ``(h, w)`` of the config's RandomCrop, padded up to
    ``divisor`` as the data preprocessor pads batches."""
    pipeline = cfg.train_dataloader.dataset.pipeline
    crops = [step['crop_size'] for step in pipeline
             if step.get('type') == 'RandomCrop']
    if not crops:
        raise ValueError(
            f'config {cfg.filename}: the bare training loop takes its input '
            'size from the RandomCrop of train_dataloader.dataset.pipeline, '
            'which has none')
    crop = crops[-1]
    h, w = (crop, crop) if isinstance(crop, int) else crop
    return -(-h // divisor) * divisor, -(-w // divisor) * divisor


def bare_loop(cfg: Config, model: BaseSegmentor, wrapper: OptimWrapper,
              settings: Settings, sync: Sync) -> Tuple[dict, dict]:
    """Images/s of ``model`` (built from ``cfg``) training with the config's
    batch size and ``wrapper`` (its optimiser and precision) on random
    tensors of the crop size already in memory: what an iteration costs
    without data loading, preprocessing and hooks. Also the model's FLOPs
    per image at that size."""
    device = next(model.parameters()).device
    model.train()
    size = train_input_size(cfg, model.data_preprocessor.pad_size_divisor)
    batch = cfg.train_dataloader.batch_size
    x = torch.randn(batch, cfg.model.get('in_channels', 3), *size,
                    device=device)
    if model.data_preprocessor.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    targets = torch.randint(0, max(model.num_classes, 2), (batch, 1, *size),
                            device=device)
    samples = [SegDataSample(gt_sem_seg=PixelData(data=t)) for t in targets]

    def forward_backward() -> None:
        with wrapper.optim_context(model):
            loss, _ = model.parse_losses(model.loss(x[:1], samples[:1]))
        loss.backward()

    def step() -> int:
        with wrapper.optim_context(model):
            loss, _ = model.parse_losses(model.loss(x, samples))
        wrapper.update_params(loss)
        return batch

    with torch.no_grad():
        forward_gflop = count_gflop(lambda: model.forward_logits(x[:1]))
    train_gflop = count_gflop(forward_backward)
    wrapper.zero_grad()
    model_info = dict(
        params=sum(p.numel() for p in model.parameters()),
        train_input_size=list(size), forward_gflop_per_image=forward_gflop,
        train_gflop_per_image=train_gflop)
    rates = timed_rates(step, settings, sync)
    return model_info, summary(rates, gflops=statistics.median(rates) *
                               train_gflop)


class IterClock(Hook):
    """Records when each training iteration starts (its batch loaded) and
    ends (every other hook done), and how many images it had."""
    priority = 'LOWEST'

    def __init__(self, sync: Sync) -> None:
        self.sync = sync
        self.starts: List[float] = []
        self.ends: List[float] = []
        self.images: List[int] = []

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        self.starts.append(time.perf_counter())

    def after_train_iter(self, runner, batch_idx: int,
                         data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        self.sync()
        self.ends.append(time.perf_counter())
        self.images.append(len(data_batch['inputs']))

    def data_wait_fraction(self, warmup: int) -> float:
        """Share of the timed iterations' time spent waiting for a batch."""
        wait = sum(self.starts[i] - self.ends[i - 1]
                   for i in range(warmup, len(self.ends)))
        return wait / (self.ends[-1] - self.ends[warmup - 1])


def runner_config(cfg: Config, settings: Settings, work_dir: str) -> Config:
    """``cfg`` for exactly the warm-up and timed iterations, with nothing
    between them but training: no validation, no checkpoints, panels or
    report, no log lines."""
    cfg = copy.deepcopy(cfg)
    total = settings.warmup + settings.iters * settings.repeats
    cfg.work_dir = work_dir
    cfg.train_cfg = dict(type='IterBasedTrainLoop', max_iters=total)
    for split in ('val', 'test'):
        for part in ('dataloader', 'cfg', 'evaluator'):
            cfg[f'{split}_{part}'] = None
    cfg.default_hooks.checkpoint = None
    if cfg.default_hooks.get('logger'):
        cfg.default_hooks.logger.interval = total + 1
    cfg.custom_hooks = [hook for hook in cfg.get('custom_hooks', [])
                        if hook.get('type') not in OUTPUT_HOOKS]
    cfg.log_level = 'WARNING'
    cfg.resume, cfg.load_from = False, None
    return cfg


def runner_train(cfg: Config, settings: Settings, sync: Sync) -> dict:
    """Images/s of full training iterations through MMEngine's Runner, data
    loading from the real dataset included."""
    with tempfile.TemporaryDirectory(prefix='segkit_benchmark_') as work_dir:
        runner = Runner.from_cfg(runner_config(cfg, settings, work_dir))
        clock = IterClock(sync)
        runner.register_hook(clock)
        runner.train()
    rates = repeat_rates(clock.ends, clock.images, settings.warmup,
                         settings.iters, settings.repeats)
    return summary(rates,
                   data_wait_fraction=clock.data_wait_fraction(
                       settings.warmup))


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
    unknown = parts - set(PARTS)
    if unknown:
        raise ValueError(f'unknown parts {sorted(unknown)}: expected some '
                         f'of {PARTS}')
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    sync: Sync = torch.cuda.synchronize if device == 'cuda' else lambda: None
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
        if parts & {'data', 'train'}:
            # What the Runner sets up for its workers (opencv threads...).
            set_multi_processing(
                **cfg.get('env_cfg', {}).get('mp_cfg', {}),
                distributed=False)
        if 'data' in parts:
            result['data'] = bench_data(cfg, settings, sync)
        if 'train' in parts:
            result['model'], bare = bare_loop(cfg, model, wrapper, settings,
                                              sync)
            result['train'] = dict(
                batch_size=cfg.train_dataloader.batch_size,
                runner=runner_train(cfg, settings, sync), bare_loop=bare)
            result['train']['runner']['gflops'] = (
                result['train']['runner']['images_per_s'] *
                result['model']['train_gflop_per_image'])
    add_peak_fractions(result)
    return result


def _row(part: str, what: str, rate: str = '', gflops: str = '',
         fraction: str = '') -> str:
    return f'{part:6} {what:58} {rate:>10} {gflops:>10} {fraction:>8}'.rstrip()


def _figures(entry: dict) -> Tuple[str, str, str]:
    """An entry's images/s, GFLOP/s and share of the peak, as cells."""
    fraction = entry.get('peak_fraction')
    return (f'{entry["images_per_s"]:.2f}',
            f'{entry["gflops"]:.1f}' if 'gflops' in entry else '',
            f'{100 * fraction:.1f} %' if fraction is not None else '')


def format_report(result: Dict[str, Any]) -> str:
    """``result`` as a table: a row per figure (images/s, GFLOP/s, share of
    the conv peak for the precision used), then the context they need."""
    m, s = result['machine'], result['settings']
    gpu = f' ({m["gpu"]})' if 'gpu' in m else ''
    lines = [
        f'config: {result["config"]}',
        f'machine: {m["cpu"]}, {m["cpus"]} CPUs, torch {m["torch"]}, '
        f'{m["threads"]} threads, device {m["device"]}{gpu}, native CPU '
        f'bf16: {"yes" if m["cpu_native_bf16"] else "no"}',
        f'training precision (resolved): {result["precision"]}',
        f'each figure: median of {s["repeats"]} repeats x {s["iters"]} '
        f'iterations after {s["warmup"]} warm-up',
        '',
        _row('part', 'measure', 'images/s', 'GFLOP/s', 'of peak'),
    ]
    notes = []
    if 'peak' in result:
        for name, gflops in result['peak']['gflops'].items():
            lines.append(_row('peak', f'conv microbenchmark, {name}', '',
                              f'{gflops:.1f}'))
        notes.append(f'peak: {result["peak"]["conv"]}')
    if 'infer' in result:
        inf = result['infer']
        for key in ('batch_1', 'batch_n'):
            lines.append(_row('infer', f'inference(), batch '
                              f'{inf[key]["batch_size"]}, {inf["precision"]}',
                              *_figures(inf[key])))
        notes.append(
            f'infer: {inf["image_size"][0]}x{inf["image_size"][1]} images, '
            f'network input {inf["input_size"][0]}x{inf["input_size"][1]}, '
            f'{inf["gflop_per_image"]:.2f} GFLOP/image')
    if 'data' in result:
        d = result['data']
        persistent = ', persistent' if d['persistent_workers'] else ''
        lines += [
            _row('data', 'pipeline, single process',
                 *_figures(d['single_process'])),
            _row('data', f'pipeline, DataLoader ({d["num_workers"]} workers'
                 f'{persistent})', *_figures(d['dataloader'])),
            _row('data', 'floor: cv2.imread of image + mask',
                 *_figures(d['decode_floor'])),
        ]
        notes.append(f'data: batches of {d["batch_size"]}, opencv threads '
                     f'{d["opencv_threads"]}')
    if 'train' in result:
        t, model = result['train'], result['model']
        where = f'batch {t["batch_size"]}, {result["precision"]}'
        lines += [
            _row('train', f'Runner ({where})', *_figures(t['runner'])),
            _row('train', f'bare loop, tensors in memory ({where})',
                 *_figures(t['bare_loop'])),
        ]
        size = model['train_input_size']
        notes.append(
            f'train: {model["params"] / 1e6:.2f} M parameters, input '
            f'{size[0]}x{size[1]}, {model["forward_gflop_per_image"]:.2f} '
            f'GFLOP/image forward, {model["train_gflop_per_image"]:.2f} '
            'forward+backward; the Runner waited for data '
            f'{100 * t["runner"]["data_wait_fraction"]:.1f} % of the time')
    return '\n'.join(lines + [''] + notes)
