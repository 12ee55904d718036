"""BASELINE (not part of segkit): a tutorial-style CamVid loader.

What most CamVid tutorials write: PIL decodes image and colour mask, both
are resized to 256x256, and the mask becomes class ids through one
full-image comparison per class colour. Prints images/s over the training
frames, to compare with `tools/benchmark.py CONFIG --what data`.

With --lut it also times segkit's palette look-up (one table look-up per
pixel, segkit.datasets.transforms.label_maps.palette_to_classes) against the
per-colour loop on one real 360x480 mask, checking both give the same
classes.

    python benchmarks/baseline_loader.py ../shared/data/camvid --n 100 --lut

baseline_unet_train.py and baseline_predict.py reuse its loading functions;
segkit is imported only for --lut.
"""
import argparse
import csv
import os
import statistics
import time
from glob import glob
from typing import List, Optional, Tuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

RGB = Tuple[int, int, int]
VOID = 255  # class id of 'Unlabelled' and of colours not in class_dict.csv
FRAME_SUFFIXES = ('.png', '.jpg')  # the original set, a JPEG copy


def read_palette(root: str) -> List[RGB]:
    """Class colours from ``class_dict.csv``, in class order, without the
    void class."""
    with open(os.path.join(root, 'class_dict.csv'), newline='') as f:
        return [(int(row['r']), int(row['g']), int(row['b']))
                for row in csv.DictReader(f) if row['name'] != 'Unlabelled']


def rgb_to_classes(mask: np.ndarray, palette: List[RGB]) -> np.ndarray:
    """The tutorial mapping: one comparison of the whole (H, W, 3) RGB mask
    per class colour; other colours are VOID."""
    label = np.full(mask.shape[:2], VOID, dtype=np.int64)
    for index, colour in enumerate(palette):
        label[(mask == colour).all(axis=-1)] = index
    return label


def load_image(path: str, size: Optional[Tuple[int, int]]) -> torch.Tensor:
    """Float (3, H, W) RGB in [0, 1], resized (bicubic) to ``size`` (w, h)
    unless ``None``."""
    image = Image.open(path).convert('RGB')
    if size is not None:
        image = image.resize(size, Image.BICUBIC)
    return torch.from_numpy(
        np.asarray(image).transpose(2, 0, 1) / 255.0).float()


def frames(folder: str) -> List[str]:
    """The CamVid frames in ``folder``, PNG or JPEG, sorted."""
    found = sorted(path for path in glob(os.path.join(folder, '*'))
                   if path.endswith(FRAME_SUFFIXES))
    if not found:
        raise FileNotFoundError(f'no {"/".join(FRAME_SUFFIXES)} frames in '
                                f'{folder}')
    return found


class CamVid(Dataset):
    """``root/<split>/<id>.png`` (or ``.jpg``) with
    ``root/<split>_labels/<id>_L.png``:
    images resized to ``size`` (w, h); masks too (nearest) if
    ``resize_masks``, else kept at their native size for scoring."""

    def __init__(self, root: str, split: str, size: Tuple[int, int],
                 resize_masks: bool = True) -> None:
        self.images = frames(os.path.join(root, split))
        self.labels = os.path.join(root, split + '_labels')
        self.palette = read_palette(root)
        self.size = size
        self.resize_masks = resize_masks

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, torch.Tensor]:
        stem = os.path.splitext(os.path.basename(self.images[i]))[0]
        mask = Image.open(os.path.join(self.labels, stem + '_L.png'))
        mask = mask.convert('RGB')
        if self.resize_masks:
            mask = mask.resize(self.size, Image.NEAREST)
        return (load_image(self.images[i], self.size),
                torch.from_numpy(rgb_to_classes(np.asarray(mask),
                                                self.palette)))


def compare_lut(dataset: CamVid, repeats: int) -> None:
    """Median time of the per-colour loop and of segkit's look-up table on
    the first training mask, at its native size (the table is built once
    per process, before timing, as each worker does)."""
    import cv2

    from segkit.datasets.transforms.label_maps import palette_to_classes
    stem = os.path.splitext(os.path.basename(dataset.images[0]))[0]
    bgr = cv2.imread(os.path.join(dataset.labels, stem + '_L.png'))
    rgb = np.ascontiguousarray(bgr[..., ::-1])
    if not np.array_equal(palette_to_classes(bgr, dataset.palette),
                          rgb_to_classes(rgb, dataset.palette)):
        raise AssertionError('the look-up table and the loop disagree')

    def median_ms(run) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times)

    loop = median_ms(lambda: rgb_to_classes(rgb, dataset.palette))
    lut = median_ms(lambda: palette_to_classes(bgr, dataset.palette))
    print(f'palette -> classes on a {bgr.shape[0]}x{bgr.shape[1]} mask, '
          f'{len(dataset.palette)} colours, median of {repeats}: per-colour '
          f'loop {loop:.2f} ms, segkit look-up table {lut:.2f} ms, '
          f'{loop / lut:.1f}x faster')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('data_root', help='CamVid folder (Kaggle layout)')
    parser.add_argument('--n', type=int, default=100,
                        help='images to load, after 5 untimed')
    parser.add_argument('--lut', action='store_true',
                        help='also time segkit\'s palette look-up table '
                        'against the per-colour loop')
    parser.add_argument('--repeats', type=int, default=100,
                        help='timed calls of each mapping for --lut')
    args = parser.parse_args()
    dataset = CamVid(args.data_root, 'train', (256, 256))
    for i in range(5):
        dataset[i % len(dataset)]
    start = time.perf_counter()
    for i in range(args.n):
        dataset[i % len(dataset)]
    seconds = time.perf_counter() - start
    print(f'baseline loader: {args.n} images in {seconds:.2f} s, '
          f'{args.n / seconds:.1f} images/s (PIL, 256x256, per-colour loop)')
    if args.lut:
        compare_lut(dataset, args.repeats)


if __name__ == '__main__':
    main()
