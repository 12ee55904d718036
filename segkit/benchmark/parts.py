"""The measurements: the conv peak, inference, the training data pipeline
and training in a bare loop."""
import statistics
from typing import Any, Dict, List, Tuple

import cv2
import torch
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.runner import Runner
from mmengine.structures import PixelData
from torch import nn

from segkit.apis import dataset_image_paths, inference, iter_inference
from segkit.engine.run_facts import padded_size, train_crop_size
from segkit.models import BaseSegmentor
from segkit.structures import SegDataSample
from .machine import DTYPES, conv_dtypes, count_gflop, dtype_name
from .timing import Settings, Sync, endless, summary, timed_rates

# The peak microbenchmark: a 3x3 conv, channels in = out, square maps of
# PEAK_SIZE, batch PEAK_BATCH[device]: compute-bound on each. On a CPU a
# batch of 2 reaches the rate of 8 (an 8192x256x2304 GEMM), and bf16
# without native support, emulated, takes ~3 s a call at 8 on one core.
PEAK_CHANNELS, PEAK_SIZE = 256, 64
PEAK_BATCH = {'cuda': 8, 'cpu': 2}


def bench_peak(settings: Settings, device: str, sync: Sync) -> dict:
    """GFLOP/s of a compute-bound 3x3 conv in channels_last, per precision
    (fp16 only on CUDA): what a model's achieved rate is a fraction of."""
    conv = nn.Conv2d(PEAK_CHANNELS, PEAK_CHANNELS, 3, padding=1,
                     bias=False).to(device, memory_format=torch.channels_last)
    batch = PEAK_BATCH[device]
    x = torch.randn(batch, PEAK_CHANNELS, PEAK_SIZE, PEAK_SIZE,
                    device=device)
    x = x.contiguous(memory_format=torch.channels_last)
    gflops: Dict[str, float] = {}
    with torch.inference_mode():
        gflop = count_gflop(lambda: conv(x))
        names = ('fp32', 'bf16') + (('fp16', ) if device == 'cuda' else ())
        for name in names:

            def step() -> int:
                with torch.autocast(device, DTYPES[name],
                                    enabled=name != 'fp32'):
                    conv(x)
                return 1

            gflops[name] = statistics.median(
                timed_rates(step, settings, sync)) * gflop
    return dict(conv=f'3x3 conv {PEAK_CHANNELS}->{PEAK_CHANNELS}, '
                f'{PEAK_SIZE}x{PEAK_SIZE}, batch {batch}, '
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
    paths = test_image_paths(cfg)
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
        rates = stream_rates(model, paths, batch, settings, sync)
        result[key] = summary(rates, batch_size=batch,
                              gflops=statistics.median(rates) * gflop)
    return result


def test_image_paths(cfg: Config) -> List[str]:
    """The image files of ``cfg``'s test set, in dataset order."""
    paths = dataset_image_paths(cfg.test_dataloader.dataset)
    if not paths:
        raise ValueError(f'config {cfg.filename}: the test dataset has no '
                         'images to run inference on')
    return paths


def stream_rates(model: BaseSegmentor, paths: List[str], batch: int,
                 settings: Settings, sync: Sync) -> List[float]:
    """Images/s of each timed repeat of :func:`iter_inference` over
    ``paths``, round and round, ``batch`` images per forward pass."""
    stream = iter_inference(model, endless(paths), batch)

    def step() -> int:
        for _ in range(batch):
            next(stream)
        return batch

    return timed_rates(step, settings, sync)


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
    crop = train_crop_size(cfg)
    if crop is None:
        raise ValueError(
            f'config {cfg.filename}: the bare training loop takes its input '
            'size from the RandomCrop of train_dataloader.dataset.pipeline, '
            'which has none')
    return padded_size(crop, divisor)


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
    in_channels = cfg.model.get('backbone', cfg.model).get('in_channels', 3)
    x = torch.randn(batch, in_channels, *size, device=device)
    if model.data_preprocessor.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    targets = torch.randint(0, max(model.num_classes, 2), (batch, 1, *size),
                            device=device)
    samples = [SegDataSample(gt_sem_seg=PixelData(data=t)) for t in targets]

    def forward_backward() -> None:
        with wrapper.optim_context(model):
            loss, _ = model.parse_losses(model.loss(x, samples))
        loss.backward()

    def step() -> int:
        with wrapper.optim_context(model):
            loss, _ = model.parse_losses(model.loss(x, samples))
        wrapper.update_params(loss)
        return batch

    # Counted on the whole batch: batch norm in training needs more than
    # one value per channel, and an image-pooling branch (ASPP) has one
    # per image.
    with torch.no_grad():
        forward_gflop = count_gflop(lambda: model.forward_logits(x)) / batch
    train_gflop = count_gflop(forward_backward) / batch
    wrapper.zero_grad()
    model_info = dict(
        params=sum(p.numel() for p in model.parameters()),
        train_input_size=list(size), forward_gflop_per_image=forward_gflop,
        train_gflop_per_image=train_gflop)
    rates = timed_rates(step, settings, sync)
    return model_info, summary(rates, gflops=statistics.median(rates) *
                               train_gflop)
