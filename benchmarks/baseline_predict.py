"""BASELINE (not part of segkit): milesial/Pytorch-UNet's predict.py loop
over CamVid val at the native 480x360 size, to compare with
`tools/benchmark.py CONFIG --what infer`.

Per file, as predict_img does: PIL decode, float CHW / 255 (no resize:
scale 1), the UNet of baseline_unet_train.py under no_grad on a batch of
one, bilinear resize of the logits to the image size, argmax. Writing the
masks is left out, as it is from segkit's figure. Random weights unless
--checkpoint (from baseline_unet_train.py --save): speed does not depend on
them. Prints images/s.

    python benchmarks/baseline_predict.py ../shared/data/camvid [--n 50]
"""
import argparse
import os
import time

import torch
import torch.nn.functional as F

from baseline_loader import frames, load_image, read_palette
from baseline_unet_train import UNet


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='CamVid folder (Kaggle layout)')
    parser.add_argument('--n', type=int, default=50,
                        help='images to predict, after --warmup untimed')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--checkpoint', help='state dict of the UNet')
    args = parser.parse_args()
    if args.n < 1 or args.warmup < 0:
        parser.error('expected --n >= 1 and --warmup >= 0')
    try:
        files = frames(os.path.join(args.data_root, 'val'))
    except FileNotFoundError as e:
        raise SystemExit(f'error: {e}') from None
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    net = UNet(3, len(read_palette(args.data_root)))
    if args.checkpoint:
        net.load_state_dict(torch.load(args.checkpoint, map_location='cpu'))
    net.to(device).eval()
    start = None
    for i in range(args.warmup + args.n):
        if i == args.warmup:
            start = time.perf_counter()
        img = load_image(files[i % len(files)], None)
        with torch.no_grad():
            output = net(img.unsqueeze(0).to(device)).cpu()
            output = F.interpolate(output, img.shape[-2:], mode='bilinear')
            output.argmax(dim=1)[0].numpy()  # the mask predict.py saves
    seconds = time.perf_counter() - start
    print(f'baseline predict: {args.n} images in {seconds:.2f} s, '
          f'{args.n / seconds:.2f} images/s (batch 1, native size, '
          f'{device.type}, fp32)')


if __name__ == '__main__':
    main()
