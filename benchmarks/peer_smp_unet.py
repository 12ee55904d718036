"""PEER (not part of segkit): segmentation_models_pytorch's Unet('resnet18')
against segkit's configs/_base_/models/unet_r18.py, trained on the same
random batches in one process, so the ratios come from one run.

smp is run as its users run it (README and examples): ``Unet('resnet18',
encoder_weights=None, classes=1)``, contiguous fp32 tensors, smp's
DiceLoss('binary') + BCEWithLogitsLoss, Adam; and once more under the same
bf16 autocast segkit uses, for the equal-precision ratio. segkit is run
through its own optimiser wrapper (``PrecisionOptimWrapperConstructor``)
at its default precision and at fp32. Repeats of the four variants are
interleaved, and each figure is the median.

    pip install segmentation-models-pytorch  # the peer, never a dependency
    python benchmarks/peer_smp_unet.py --size 176 240 --batch 4
"""
import argparse
import statistics
import time

import segmentation_models_pytorch as smp
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.structures import PixelData

from segkit.apis import init_model
from segkit.structures import SegDataSample

CONFIG = 'configs/unet_r18_carvana.py'  # full depth, smp's default


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--size', nargs=2, type=int, default=(176, 240),
                        metavar=('H', 'W'))
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--steps', type=int, default=5,
                        help='timed steps per repeat')
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--config', default=CONFIG)
    return parser.parse_args()


def smp_variant(bf16: bool, images, masks):
    torch.manual_seed(0)
    model = smp.Unet('resnet18', encoder_weights=None, classes=1).train()
    dice = smp.losses.DiceLoss('binary')
    bce = torch.nn.BCEWithLogitsLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    target = masks.float()

    def step():
        optimizer.zero_grad()
        with torch.autocast('cpu', torch.bfloat16, enabled=bf16):
            logits = model(images)
        logits = logits.float()
        loss = dice(logits, target) + bce(logits, target)
        loss.backward()
        optimizer.step()

    return model, step


def segkit_variant(config: str, precision: str, images, masks):
    torch.manual_seed(0)
    cfg = Config.fromfile(config)
    cfg.optim_wrapper.precision = precision
    # An optimiser step on every batch, as the smp loop takes: the recipe's
    # gradient accumulation would skip half of segkit's steps.
    cfg.optim_wrapper.accumulative_counts = 1
    with DefaultScope.overwrite_default_scope('segkit'):
        model = init_model(cfg).train()
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    samples = [SegDataSample(gt_sem_seg=PixelData(data=m)) for m in masks]
    # What SegDataPreProcessor hands the network: channels_last if asked.
    batch = images.contiguous(memory_format=torch.channels_last) \
        if model.data_preprocessor.channels_last else images

    def step():
        with wrapper.optim_context(model):
            loss, _ = model.parse_losses(model(batch, samples, mode='loss'))
        wrapper.update_params(loss)

    return model, step


def main() -> None:
    args = parse_args()
    torch.manual_seed(0)
    images = torch.randn(args.batch, 3, *args.size)
    masks = torch.randint(0, 2, (args.batch, 1, *args.size))
    variants = {
        'smp fp32 (as its users run it)': smp_variant(False, images, masks),
        'smp bf16 autocast': smp_variant(True, images, masks),
        'segkit default precision': segkit_variant(args.config, 'auto',
                                                   images, masks),
        'segkit fp32': segkit_variant(args.config, 'fp32', images, masks),
    }
    for name, (model, _) in variants.items():
        params = sum(p.numel() for p in model.parameters())
        print(f'{name:32} {params:,} parameters')
    for _, step in variants.values():  # warm-up: oneDNN picks kernels
        step()
        step()
    rates = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, (_, step) in variants.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            rates[name].append(args.steps * args.batch /
                               (time.perf_counter() - start))
    median = {name: statistics.median(r) for name, r in rates.items()}
    print(f'\ntraining images/s, batch {args.batch} at {args.size[0]}x'
          f'{args.size[1]}, median of {args.repeats} interleaved repeats x '
          f'{args.steps} steps, {torch.get_num_threads()} threads')
    for name, rate in median.items():
        print(f'{name:32} {rate:7.2f}')
    smp_fp32, smp_bf16 = (median['smp fp32 (as its users run it)'],
                          median['smp bf16 autocast'])
    print(f'\nsegkit default / smp fp32:   '
          f'{median["segkit default precision"] / smp_fp32:.2f}x')
    print(f'segkit bf16 / smp bf16:      '
          f'{median["segkit default precision"] / smp_bf16:.2f}x')
    print(f'segkit fp32 / smp fp32:      '
          f'{median["segkit fp32"] / smp_fp32:.2f}x')


if __name__ == '__main__':
    main()
