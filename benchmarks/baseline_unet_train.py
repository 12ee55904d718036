"""BASELINE (not part of segkit): plain-PyTorch U-Net training on CamVid in
the style of milesial/Pytorch-UNet's train.py, to compare with
`tools/benchmark.py CONFIG --what train` and with segkit's time to quality.

As that script: its own UNet (64 base channels, transposed-conv
up-sampling: bilinear=False, 31 M parameters), PIL loading through a
Dataset/DataLoader with num_workers=os.cpu_count(), RMSprop (lr 1e-5,
weight decay 1e-8, momentum 0.999), cross-entropy + soft Dice loss, gradient
clipping at 1.0, channels_last, AMP only on CUDA. CamVid frames at half size
(240x180), batch 4, unless --size W H and --batch say otherwise (e.g. 480 352
and 8 for the shapes of configs/unet_camvid.py); void pixels count in neither
loss. Frames are .png or .jpg. Its ReduceLROnPlateau
is left out: it only steps on per-epoch validation. Imports numpy, torch and
PIL only (the loading functions come from baseline_loader.py).

    python benchmarks/baseline_unet_train.py ../shared/data/camvid --iters 30
    python benchmarks/baseline_unet_train.py ../shared/data/camvid \\
        --minutes 15 --val

Prints images/s (after --warmup iterations) and, with --val, the mIoU on
CamVid val: logits resized to the native 480x360, one confusion matrix over
the whole set, void ignored, classes absent from prediction and ground truth
left out of the mean.
"""
import argparse
import os
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader

from baseline_loader import VOID, CamVid

SIZE = (240, 180)  # (w, h): half of CamVid's 480x360
BATCH = 4


class DoubleConv(nn.Sequential):
    """(conv 3x3 => BN => ReLU) * 2"""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
            nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class Down(nn.Sequential):
    """Downscaling with maxpool then double conv"""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.MaxPool2d(2), DoubleConv(in_channels,
                                                     out_channels))


class Up(nn.Module):
    """Upscaling (transposed conv) then double conv"""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, 2,
                                     stride=2)
        self.conv = DoubleConv(in_channels, out_channels)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        dy, dx = x2.size(2) - x1.size(2), x2.size(3) - x1.size(3)
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class UNet(nn.Module):

    def __init__(self, n_channels: int, n_classes: int) -> None:
        super().__init__()
        self.inc = DoubleConv(n_channels, 64)
        self.down1 = Down(64, 128)
        self.down2 = Down(128, 256)
        self.down3 = Down(256, 512)
        self.down4 = Down(512, 1024)
        self.up1 = Up(1024, 512)
        self.up2 = Up(512, 256)
        self.up3 = Up(256, 128)
        self.up4 = Up(128, 64)
        self.outc = nn.Conv2d(64, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x = self.up1(self.down4(x4), x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        return self.outc(self.up4(x, x1))


def dice_loss(probs: torch.Tensor, target: torch.Tensor,
              epsilon: float = 1e-6) -> torch.Tensor:
    """1 - the script's multiclass Dice (one Dice over every class and image
    of the batch), over non-void pixels."""
    valid = (target != VOID).unsqueeze(1)
    one_hot = F.one_hot(torch.where(valid[:, 0], target, 0),
                        probs.shape[1]).permute(0, 3, 1, 2) * valid
    probs = probs * valid
    inter = 2 * (probs * one_hot).sum()
    sets_sum = probs.sum() + one_hot.sum()
    return 1 - (inter + epsilon) / (sets_sum + epsilon)


def train(model: nn.Module, loader: DataLoader, device: torch.device,
          args: argparse.Namespace) -> None:
    amp = device.type == 'cuda'
    optimizer = optim.RMSprop(model.parameters(), lr=args.lr,
                              weight_decay=1e-8, momentum=0.999, foreach=True)
    grad_scaler = torch.amp.GradScaler(device.type, enabled=amp)
    criterion = nn.CrossEntropyLoss(ignore_index=VOID)
    deadline = (time.perf_counter() + 60 * args.minutes
                if args.minutes else float('inf'))
    step = images_timed = 0
    timed_from = None
    # The clock waits for the GPU's queued work, not just for its launch.
    sync = torch.cuda.synchronize if device.type == 'cuda' else lambda: None
    model.train()
    while True:
        for images, masks in loader:
            images = images.to(device, dtype=torch.float32,
                               memory_format=torch.channels_last)
            masks = masks.to(device, dtype=torch.long)
            with torch.autocast(device.type, enabled=amp):
                pred = model(images)
                loss = criterion(pred, masks) + dice_loss(
                    F.softmax(pred, dim=1).float(), masks)
            optimizer.zero_grad(set_to_none=True)
            grad_scaler.scale(loss).backward()
            grad_scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            grad_scaler.step(optimizer)
            grad_scaler.update()
            step += 1
            if step == args.warmup:
                sync()
                timed_from = time.perf_counter()
            elif step > args.warmup:
                images_timed += len(images)
            if step % 50 == 0:
                print(f'iter {step}: loss {loss.item():.4f}', flush=True)
            if step > args.warmup and (step == args.iters or
                                       time.perf_counter() >= deadline):
                sync()
                seconds = time.perf_counter() - timed_from
                print(f'baseline train: {step} iterations, '
                      f'{images_timed / seconds:.2f} images/s after '
                      f'{args.warmup} warm-up (batch {args.batch}, '
                      f'{args.size[0]}x{args.size[1]}, {device.type}, '
                      f'{"AMP" if amp else "fp32"})')
                return


@torch.inference_mode()
def evaluate(model: nn.Module, root: str, device: torch.device,
             args: argparse.Namespace) -> float:
    """mIoU on val at the native mask size, from one confusion matrix."""
    dataset = CamVid(root, 'val', tuple(args.size), resize_masks=False)
    loader = DataLoader(dataset, batch_size=args.batch,
                        num_workers=args.workers)
    n = len(dataset.palette)
    confusion = np.zeros((n, n), dtype=np.int64)
    model.eval()
    for images, masks in loader:
        with torch.autocast(device.type, enabled=device.type == 'cuda'):
            logits = model(images.to(device,
                                     memory_format=torch.channels_last))
        pred = F.interpolate(logits.float(), masks.shape[-2:],
                             mode='bilinear').argmax(dim=1).cpu().numpy()
        gt = masks.numpy()
        valid = gt != VOID
        confusion += np.bincount(n * gt[valid] + pred[valid],
                                 minlength=n * n).reshape(n, n)
    union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
    iou = np.diag(confusion)[union > 0] / union[union > 0]
    return float(iou.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='CamVid folder (Kaggle layout)')
    stop = parser.add_mutually_exclusive_group(required=True)
    stop.add_argument('--iters', type=int, help='train this many iterations')
    stop.add_argument('--minutes', type=float,
                      help='train this long (wall clock, loading included)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='iterations left out of images/s')
    parser.add_argument('--size', type=int, nargs=2, default=SIZE,
                        metavar=('W', 'H'), help='input size (default: '
                        '%(default)s, half of CamVid\'s 480x360)')
    parser.add_argument('--batch', type=int, default=BATCH,
                        help='batch size (default: %(default)s)')
    parser.add_argument('--lr', type=float, default=1e-5,
                        help='the script\'s default learning rate')
    parser.add_argument('--workers', type=int, default=os.cpu_count(),
                        help='DataLoader workers (the script: cpu count)')
    parser.add_argument('--val', action='store_true',
                        help='then print the mIoU on CamVid val')
    parser.add_argument('--save', metavar='PTH',
                        help='save the state dict (for baseline_predict.py)')
    args = parser.parse_args()
    if args.iters is not None and args.iters <= args.warmup:
        parser.error(f'--iters {args.iters}: expected more than --warmup '
                     f'{args.warmup}')
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    dataset = CamVid(args.data_root, 'train', tuple(args.size))
    loader = DataLoader(dataset, batch_size=args.batch, shuffle=True,
                        num_workers=args.workers,
                        pin_memory=device.type == 'cuda')
    model = UNet(3, len(dataset.palette)).to(
        device, memory_format=torch.channels_last)
    train(model, loader, device, args)
    if args.save:
        torch.save(model.state_dict(), args.save)
    if args.val:
        print(f'baseline val mIoU: '
              f'{evaluate(model, args.data_root, device, args):.4f}')


if __name__ == '__main__':
    main()
