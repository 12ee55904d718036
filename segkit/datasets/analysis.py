"""What a split's masks hold, counted from the files as stored: class
frequencies, void, and every raw value or colour that maps to no class.

Counting happens before any class mapping (:func:`load_raw_seg_map`), so a
mistake that loading would silently turn into void shows here by value and
file: 0/255 masks whose 255 is the foreground, a colour missing from
``class_dict.csv``, a label id past the last class.
``tools/analyze_dataset.py`` is the command line.
"""
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from typing import (Any, Callable, Dict, Iterable, List, Optional, Sequence,
                    Tuple, Union)

import numpy as np
from PIL import Image

from segkit.utils import DataError, printable
from .base import BaseSegDataset
from .transforms.label_maps import colour_codes, rgb_code
from .transforms.loading import load_raw_seg_map

# What a raw value maps to when it is no class.
VOID, UNMAPPED = -1, -2
RawValue = Union[int, Tuple[int, int, int]]


@dataclass
class RawValueCount:
    """A raw mask value (or RGB colour) that maps to no class.

    Attributes:
        value: The value, or ``(r, g, b)`` for colour masks.
        kind: ``'void'`` when the dataset declares it void (``ignore_index``
            in class-id masks, a ``label_map`` entry to ``ignore_index``, a
            void class's colour), else ``'unmapped'``.
        pixels: How many pixels hold it.
        files: The masks it occurs in, in dataset order.
    """
    value: RawValue
    kind: str
    pixels: int = 0
    files: List[str] = field(default_factory=list)


@dataclass
class SplitStats:
    """Counts over one split's masks (:func:`analyze_split`).

    ``class_pixels``, ``class_images`` and ``class_image_pixels`` hold, per
    class, its pixels, the images it appears in and the pixels of those
    images; ``raw_values`` the values that map to no class, void or
    unmapped; ``value_pixels`` the pixels of every raw value as stored
    (``(r, g, b)`` for colour masks), mapped or not.
    """
    classes: Tuple[str, ...]
    palette: List[List[int]]
    colour_masks: bool = False
    sizes: Counter = field(default_factory=Counter)
    total_pixels: int = 0
    class_pixels: np.ndarray = None
    class_images: np.ndarray = None
    class_image_pixels: np.ndarray = None
    raw_values: Dict[Any, RawValueCount] = field(default_factory=dict)
    value_pixels: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for name in ('class_pixels', 'class_images', 'class_image_pixels'):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(len(self.classes), np.int64))

    @property
    def num_images(self) -> int:
        return sum(self.sizes.values())

    def pixels_of(self, kind: str) -> int:
        """Pixels of the raw values of ``kind`` (``'void'``,
        ``'unmapped'``)."""
        return sum(r.pixels for r in self.raw_values.values()
                   if r.kind == kind)

    def absent_classes(self) -> List[str]:
        return [c for c, n in zip(self.classes, self.class_images) if not n]

    def to_dict(self) -> Dict[str, Any]:
        """What ``stats.json`` holds: shares are of all pixels, so classes,
        void and unmapped add up to 1."""
        total = max(self.total_pixels, 1)
        classes = {}
        for i, name in enumerate(self.classes):
            pixels, images = int(self.class_pixels[i]), int(
                self.class_images[i])
            classes[name] = dict(
                pixels=pixels, pixel_share=pixels / total, images=images,
                mean_area=pixels / images if images else 0.0,
                mean_area_share=(pixels / int(self.class_image_pixels[i])
                                 if images else 0.0))
        raw = {kind: dict(pixels=self.pixels_of(kind),
                          pixel_share=self.pixels_of(kind) / total,
                          values=[dict(value=r.value, pixels=r.pixels,
                                       files=r.files)
                                  for r in self.raw_values.values()
                                  if r.kind == kind])
               for kind in ('void', 'unmapped')}
        return dict(
            num_images=self.num_images, total_pixels=self.total_pixels,
            image_sizes=[dict(height=h, width=w, images=n)
                         for (h, w), n in self.sizes.most_common()],
            classes=classes, absent_classes=self.absent_classes(), **raw)


def _value_classes(values: np.ndarray, info: dict, num_classes: int,
                   void_codes: Sequence[int]) -> np.ndarray:
    """Class id of each raw value (colour code for colour masks) as the
    loader maps it, or :data:`VOID` / :data:`UNMAPPED`."""
    ignore = info.get('ignore_index', 255)
    if 'palette' in info:
        table = {rgb_code(c): i for i, c in enumerate(info['palette'])}
        table.update({code: VOID for code in void_codes})
        return np.array([table.get(v, UNMAPPED) for v in values.tolist()],
                        np.int64)
    if 'label_map' in info:
        table = {raw: VOID if cls == ignore else cls
                 for raw, cls in info['label_map'].items()}
        return np.array([table.get(v, UNMAPPED) for v in values.tolist()],
                        np.int64)
    values = values.astype(np.int64)
    return np.where(values == ignore, VOID,
                    np.where((values >= 0) & (values < num_classes), values,
                             UNMAPPED))


def _shown_value(value: int, colour: bool) -> RawValue:
    return ((value >> 16, (value >> 8) & 255, value & 255) if colour else
            int(value))


def analyze_split(
        dataset: BaseSegDataset,
        indices: Optional[Iterable[int]] = None,
        stop_when: Optional[Callable[[SplitStats], bool]] = None
) -> SplitStats:
    """Count the masks of ``dataset`` (built with any pipeline, which is
    not run) as its loader would map them.

    Args:
        dataset: A segkit dataset; its data infos say how masks are decoded
            (palette, label_map, RLE). CamVid's ``void_palette`` marks
            colours that are void on purpose.
        indices: The samples to count, in this order; all by default.
        stop_when: Called after each mask; counting stops once it returns
            ``True``.

    Returns:
        The counts. Errors name the file, as in training: an unreadable
        mask, or one whose size is not its image's.
    """
    classes = tuple(dataset.metainfo['classes'])
    stats = SplitStats(classes, [list(c) for c in
                                 dataset.metainfo.get('palette') or []])
    void_codes = [rgb_code(c) for c in getattr(dataset, 'void_palette', ())]
    for index in range(len(dataset)) if indices is None else indices:
        info = dict(dataset.get_data_info(index))
        try:
            with Image.open(info['img_path']) as image:
                width, height = image.size
        except OSError as e:  # missing, unreadable or not an image
            raise DataError(f'cannot read image {printable(info["img_path"])}'
                            f': {e}') from e
        info['ori_shape'] = (height, width)
        raw = load_raw_seg_map(info)
        colour = stats.colour_masks = raw.ndim == 3
        if colour:
            raw = colour_codes(raw)
        name = printable(info['img_path'] if 'seg_map_rle' in info else
                         info['seg_map_path'])
        if raw.shape != (height, width):
            raise DataError(
                f'segmentation map {name} is {raw.shape[0]}x{raw.shape[1]} '
                f'(HxW) but image {printable(info["img_path"])} is '
                f'{height}x{width}: expected the same size')
        stats.sizes[(height, width)] += 1
        stats.total_pixels += raw.size
        values, counts = np.unique(raw, return_counts=True)
        stats.value_pixels.update({_shown_value(v, colour): c for v, c in
                                   zip(values.tolist(), counts.tolist())})
        mapped = _value_classes(values, info, len(classes), void_codes)
        is_class = mapped >= 0
        per_class = np.bincount(mapped[is_class], counts[is_class],
                                minlength=len(classes)).astype(np.int64)
        stats.class_pixels += per_class
        stats.class_images += per_class > 0
        stats.class_image_pixels += (per_class > 0) * raw.size
        for value, count, cls in zip(values[~is_class].tolist(),
                                     counts[~is_class].tolist(),
                                     mapped[~is_class].tolist()):
            entry = stats.raw_values.setdefault(
                value, RawValueCount(_shown_value(value, colour),
                                     'void' if cls == VOID else 'unmapped'))
            entry.pixels += count
            entry.files.append(osp.basename(name))
        if stop_when is not None and stop_when(stats):
            break
    return stats


def split_warnings(stats: SplitStats) -> List[str]:
    """What a researcher should fix or know before training on the split:
    absent classes, unmapped values, and 0/255 binary masks."""
    warnings = [f'class {name!r} appears in no image of this split'
                for name in stats.absent_classes()]
    unmapped = [r for r in stats.raw_values.values() if r.kind == 'unmapped']
    if unmapped:
        what = ('colours missing from the class list (class_dict.csv)'
                if stats.colour_masks else 'values no class or label_map '
                'entry stands for')
        warnings.append(
            f'{stats.pixels_of("unmapped")} pixels hold {len(unmapped)} '
            f'{what}; they load as ignore_index, i.e. are never learnt or '
            'scored')
    binary_255 = stats.raw_values.get(255)
    if (not stats.colour_masks and binary_255 is not None
            and len(stats.classes) == 2 and not stats.class_images[1]):
        warnings.append(
            f'raw value 255 maps to no class ({binary_255.kind}) in '
            f'{len(binary_255.files)} masks while class '
            f'{stats.classes[1]!r} appears nowhere: 0/255 binary masks need '
            'label_map={0: 0, 255: 1}')
    return warnings


def format_analysis(stats: SplitStats, title: str,
                    listed_files: int = 3) -> str:
    """The printed report: images and sizes, a row per class, void and
    unmapped shares, the raw values that map to no class with (the first
    ``listed_files`` of) their files, and :func:`split_warnings`."""
    total = max(stats.total_pixels, 1)
    sizes = ', '.join(f'{h}x{w} ({n})' for (h, w), n in
                      stats.sizes.most_common())
    width = max(len(c) for c in stats.classes + ('unmapped', ))
    lines = [title, f'{stats.num_images} images, sizes (HxW): {sizes}', '',
             f'{"class":{width}} {"pixel share":>11} {"images":>7} '
             f'{"mean area":>10}']
    for i, name in enumerate(stats.classes):
        pixels, images = stats.class_pixels[i], stats.class_images[i]
        area = (f'{100 * pixels / stats.class_image_pixels[i]:9.2f}%'
                if images else f'{"-":>10}')
        lines.append(f'{name:{width}} {100 * pixels / total:10.2f}% '
                     f'{images:7d} {area}')
    for kind in ('void', 'unmapped'):
        lines.append(f'{kind:{width}} '
                     f'{100 * stats.pixels_of(kind) / total:10.2f}%')
    lines.append('(mean area: share of the image, over the images where '
                 'the class appears)')
    if stats.raw_values:
        lines += ['', 'raw values that map to no class:']
        for raw in sorted(stats.raw_values.values(), key=lambda r: -r.pixels):
            more = len(raw.files) - listed_files
            files = ', '.join(raw.files[:listed_files]) + (
                f' and {more} more' if more > 0 else '')
            lines.append(f'  {raw.value} {raw.kind}: {raw.pixels} pixels '
                         f'({100 * raw.pixels / total:.2f}%) in '
                         f'{len(raw.files)} files: {files}')
    warnings = split_warnings(stats)
    if warnings:
        lines += [''] + [f'warning: {w}' for w in warnings]
    return '\n'.join(lines)
