"""What a folder of images and masks holds, for a config to read it: which
folders and suffixes pair images with masks, how the masks encode classes,
and a train/val split that keeps near-duplicate images on one side.

``tools/make_config.py`` writes a config from it
(:mod:`segkit.apis.make_config`). Pairing is the datasets' own (a mask is
``<image name><suffix>``); masks are read by the analysis of
:mod:`.analysis`, on at most :data:`MASKS_READ` of them.
"""
import math
import os
import os.path as osp
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from PIL import Image

from segkit.utils import DataError, MissingPathError, printable
from .analysis import SplitStats, analyze_split
from .base import BaseSegDataset
from .camvid import read_class_dict
from .carvana import split_car_ids

#: Lower-case suffixes of image files (also what tools/infer.py reads).
IMAGE_EXTENSIONS = ('.bmp', '.jpeg', '.jpg', '.png', '.tif', '.tiff', '.webp')
MASK_EXTENSIONS = ('.bmp', '.gif', '.png', '.tif', '.tiff')
#: A folder whose name holds one of these holds masks.
MASK_FOLDER = re.compile(r'mask|label|ann|gt|seg|truth|target', re.I)
#: Masks read to tell how they encode classes, spread over the set.
MASKS_READ = 100
#: More distinct values or colours than this are not read as classes.
MAX_LEVELS = 64
#: The colours' csv a folder may hold, as CamVid's release does.
CLASS_DICT = 'class_dict.csv'
#: Void class names in such a csv.
VOID_NAMES = re.compile(r'^(unlabell?ed|void|ignored?)$', re.I)
VAL_RATIO = 0.2
#: Fewer groups of names than this are split inside each group instead.
MIN_GROUPS = 3


@dataclass
class Layout:
    """Where the images and masks are, relative to the data folder.

    Attributes:
        img_dir, seg_dir: The folders (``''``: the data folder itself).
        img_suffix, seg_map_suffix: What every image and mask name ends in.
        stems: The sample names, sorted (the training ones when the folders
            split train and val).
        val_dirs: ``(img_dir, seg_dir)`` of validation folders beside
            training ones (``train/`` and ``val/``), else ``None``.
    """
    img_dir: str
    seg_dir: str
    img_suffix: str
    seg_map_suffix: str
    stems: List[str]
    val_dirs: Optional[Tuple[str, str]] = None

    def pattern(self, val: bool = False) -> str:
        """``images/<name>.jpg and masks/<name>.png``."""
        img_dir, seg_dir = self.val_dirs if val else (self.img_dir,
                                                      self.seg_dir)
        return (f'{osp.join(img_dir, "<name>")}{self.img_suffix} and '
                f'{osp.join(seg_dir, "<name>")}{self.seg_map_suffix}')


@dataclass
class Encoding:
    """How the masks encode classes.

    Attributes:
        classes: Class names, in class-id order.
        colour: RGB masks, read through a ``name,r,g,b`` csv.
        label_map: Raw value -> class id for index masks, where the values
            are not the class ids.
        class_dict: The folder's own csv (colour masks), else ``None``.
        colours: The csv's ``(name, (r, g, b))`` rows to write, where the
            folder has none.
        void_classes: Names in the csv that are not learnt.
        reason: What was read, and how it is taken, in words.
    """
    classes: Tuple[str, ...]
    colour: bool = False
    label_map: Optional[Dict[int, int]] = None
    class_dict: Optional[str] = None
    colours: Optional[List[Tuple[str, Tuple[int, int, int]]]] = None
    void_classes: Tuple[str, ...] = ()
    reason: str = ''

    @property
    def binary(self) -> bool:
        return len(self.classes) == 2


@dataclass
class Split:
    """Sample names for training and validation, and why so."""
    train: List[str]
    val: List[str]
    reason: str


@dataclass
class FolderReport:
    """What :func:`inspect_folder` found; ``image_sizes`` counts the
    ``(h, w)`` of the images whose masks were read."""
    root: str
    layout: Layout
    encoding: Encoding
    split: Optional[Split]
    image_sizes: Counter


class _RawMasks(BaseSegDataset):
    """The masks as stored, no class known yet: the analysis lists every
    raw value, or every colour of RGB masks."""

    def __init__(self, colour: bool, **kwargs) -> None:
        self.colour = colour
        super().__init__(metainfo=dict(classes=()), **kwargs)

    def loader_info(self) -> dict:
        info = super().loader_info()
        if self.colour:
            info['palette'] = []
        return info


def inspect_folder(root: str) -> FolderReport:
    """Find how ``root`` pairs images with masks, how the masks encode
    classes and how to split it.

    Args:
        root: The data folder.

    Returns:
        What was found, with the reasons.

    Raises:
        MissingPathError: no folder, no images, no masks, or masks that
            pair with no image.
        DataError: images without masks or masks without images, a mask
            whose size is not its image's, masks with a single value or too
            many to be classes, a single pair.
    """
    if not osp.isdir(root):
        raise MissingPathError(f'{root!r} does not exist or is not a folder: '
                               'expected the folder of your images and masks')
    layout = find_layout(root)
    kwargs = dict(data_root=root, img_suffix=layout.img_suffix,
                  seg_map_suffix=layout.seg_map_suffix,
                  data_prefix=dict(img_path=layout.img_dir,
                                   seg_map_path=layout.seg_dir))
    first_mask = osp.join(root, layout.seg_dir,
                          layout.stems[0] + layout.seg_map_suffix)
    try:
        with Image.open(first_mask) as mask:
            colour = mask.mode in ('RGB', 'RGBA')
    except OSError as error:  # not an image, or unreadable
        raise DataError(f'cannot read the mask {printable(first_mask)}: '
                        f'{error}') from error
    masks = _RawMasks(colour, **kwargs)
    read = np.unique(np.linspace(0, len(masks) - 1,
                                 min(len(masks), MASKS_READ)).round())
    stats = analyze_split(masks, read.astype(int).tolist())
    encoding = (_colour_encoding(stats, root) if colour else
                _index_encoding(stats, osp.join(root, layout.seg_dir)))
    split = None if layout.val_dirs else split_names(layout.stems)
    return FolderReport(root, layout, encoding, split, stats.sizes)


def _folders(root: str) -> List[str]:
    """The data folder (``''``) and its subfolders two levels down,
    relative to it."""
    top = _subfolders(root)
    return [''] + top + [osp.join(folder, child) for folder in top
                         for child in _subfolders(osp.join(root, folder))]


def _subfolders(folder: str) -> List[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries
                      if e.is_dir() and not e.name.startswith('.'))


def _names(folder: str, extensions: Sequence[str]) -> List[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_file()
                      and osp.splitext(e.name)[1].lower() in extensions)


@dataclass
class _Pairing:
    """The best way names in two folders pair: suffixes, and the images and
    masks of those suffixes."""
    img_suffix: str
    seg_map_suffix: str
    images: Dict[str, str]  # stem -> file name
    masks: Dict[str, str]

    @property
    def pairs(self) -> int:
        return len(self.images.keys() & self.masks.keys())


def _pairing(images: List[str], masks: List[str],
             same_folder: bool) -> Optional[_Pairing]:
    """How ``masks`` pair with ``images`` by name, or ``None``.

    Each mask goes with the longest image name it starts with, followed by
    a character that is no letter or digit (``a_1_mask.png`` with ``a_1``,
    ``10.png`` not with ``1``); the most common rest of the name is the
    mask suffix. In one folder a file is never its own mask.
    """
    best = None
    by_extension: Dict[str, Dict[str, str]] = defaultdict(dict)
    for name in images:
        stem, extension = osp.splitext(name)
        by_extension[extension][stem] = name
    for img_suffix, stems in by_extension.items():
        suffixes: Counter = Counter()
        for mask in masks:
            for cut in range(len(mask) - 1, 0, -1):
                if (mask[:cut] in stems and not mask[cut].isalnum()
                        and not (same_folder and stems[mask[:cut]] == mask)):
                    suffixes[mask[cut:]] += 1
                    break
        if not suffixes:
            continue
        seg_suffix = suffixes.most_common(1)[0][0]
        found = {m[:-len(seg_suffix)]: m for m in masks
                 if m.endswith(seg_suffix) and len(m) > len(seg_suffix)}
        kept = {s: n for s, n in stems.items()
                if not (same_folder and n in found.values())}
        pairing = _Pairing(img_suffix, seg_suffix, kept, found)
        if best is None or pairing.pairs > best.pairs:
            best = pairing
    return best


def _near(img_dir: str, seg_dir: str) -> bool:
    """A mask folder beside the image folder, or inside it."""
    return (osp.dirname(seg_dir) in (osp.dirname(img_dir), img_dir)
            and seg_dir != img_dir)


def find_layout(root: str) -> Layout:
    """Which image and mask folders, and which suffixes, pair the most
    samples in ``root``; training folders with validation ones beside them
    (``train/``, ``train_labels/``, ``val/``, ``val_labels/``) first.

    Raises:
        MissingPathError: no images, no masks, or masks pairing with none.
        DataError: an image without its mask or a mask without its image,
            or a single pair.
    """
    folders = _folders(root)
    images = {f: _names(osp.join(root, f), IMAGE_EXTENSIONS)
              for f in folders}
    masks = {f: _names(osp.join(root, f), MASK_EXTENSIONS) for f in folders}
    mask_folders = [f for f in folders if MASK_FOLDER.search(
        osp.basename(f))]
    candidates = []
    for img_dir in folders:
        if img_dir in mask_folders or not images[img_dir]:
            continue
        for seg_dir in [img_dir] + [m for m in mask_folders
                                    if _near(img_dir, m)]:
            pairing = _pairing(images[img_dir], masks[seg_dir],
                               seg_dir == img_dir)
            if pairing is not None and pairing.pairs:
                val = _val_pairing(img_dir, seg_dir, pairing, images, masks)
                candidates.append(((val is not None, pairing.pairs),
                                   img_dir, seg_dir, pairing, val))
    if not candidates:
        raise _no_pairs(root, images, masks, mask_folders)
    _, img_dir, seg_dir, pairing, val = max(candidates, key=lambda c: c[0])
    _check_complete(root, img_dir, seg_dir, pairing)
    if val is not None:
        _check_complete(root, *val)
    elif pairing.pairs < 2:
        raise DataError(
            f'{root}: one image/mask pair only: expected at least 2, one to '
            'train on and one to validate')
    return Layout(img_dir, seg_dir, pairing.img_suffix,
                  pairing.seg_map_suffix, sorted(pairing.images),
                  val[:2] if val is not None else None)


def _val_pairing(img_dir: str, seg_dir: str, pairing: _Pairing,
                 images: Dict[str, List[str]], masks: Dict[str, List[str]]
                 ) -> Optional[Tuple[str, str, _Pairing]]:
    """The validation folders beside training ones (``val`` for ``train``
    in both names), if they pair with the same suffixes."""
    if not re.search('train', img_dir, re.I):
        return None
    val_img, val_seg = (re.sub('train', 'val', folder, count=1, flags=re.I)
                        for folder in (img_dir, seg_dir))
    if not images.get(val_img) or val_seg not in masks:
        return None
    val = _pairing(images[val_img], masks[val_seg], val_seg == val_img)
    if val is None or (val.img_suffix, val.seg_map_suffix) != (
            pairing.img_suffix, pairing.seg_map_suffix):
        return None
    return val_img, val_seg, val


def _shown(root: str, folder: str, name: str = '') -> str:
    return printable(osp.normpath(osp.join(root, folder, name)))


def _no_pairs(root: str, images: Dict[str, List[str]],
              masks: Dict[str, List[str]],
              mask_folders: List[str]) -> MissingPathError:
    """The error for a folder where no mask pairs with an image."""
    img_dir = max((f for f in images if f not in mask_folders),
                  key=lambda f: len(images[f]))
    if not images[img_dir]:
        return MissingPathError(
            f'{root} holds no images ({", ".join(IMAGE_EXTENSIONS)}) in it or '
            'its subfolders: expected images/ and masks/ (or train/ and '
            'train_masks/, img/ and ann/), one mask per image named like it')
    seg_dir = max(mask_folders, key=lambda f: len(masks[f]), default=None)
    if seg_dir is None or not masks[seg_dir]:
        return MissingPathError(
            f'{root}: {len(images[img_dir])} images in '
            f'{_shown(root, img_dir)} but no masks: expected a folder beside '
            'them named masks/, labels/ or ann/ (train_masks/ beside train/) '
            'with one mask per image, named like it (a.jpg -> a.png, '
            'a_mask.png or a_L.png)')
    return MissingPathError(
        f'{root}: the {len(masks[seg_dir])} masks in {_shown(root, seg_dir)} '
        f'pair with none of the {len(images[img_dir])} images in '
        f'{_shown(root, img_dir)}: a mask is named like its image, with a '
        f'suffix or none (a.jpg -> a.png or a_mask.png), but no mask name '
        f'such as {masks[seg_dir][0]} starts with an image name such as '
        f'{osp.splitext(images[img_dir][0])[0]}; rename the masks after '
        'their images')


def _check_complete(root: str, img_dir: str, seg_dir: str,
                    pairing: _Pairing) -> None:
    """Refuse images without masks and masks without images, as a dataset
    would."""
    for what, partner, files, others, folder, other_folder, suffix in (
            ('images', 'mask', pairing.images, pairing.masks, img_dir,
             seg_dir, pairing.seg_map_suffix),
            ('masks', 'image', pairing.masks, pairing.images, seg_dir,
             img_dir, pairing.img_suffix)):
        alone = sorted(files[s] for s in files.keys() - others.keys())
        if alone:
            raise DataError(
                f'{root}: {len(alone)} of the {len(files)} {what} in '
                f'{_shown(root, folder)} have no {partner} '
                f'{_shown(root, other_folder, "<name>" + suffix)} (e.g. '
                f'{alone[0]}): add their {partner}s, or move those {what} '
                'out')


def _index_encoding(stats: SplitStats, mask_dir: str) -> Encoding:
    """Classes of index masks (grey levels, palette indices, ids) from the
    distinct values read, at most :data:`MAX_LEVELS`: ids ``0..N-1`` as
    they are (255 beside them is void), other values mapped in order."""
    values = sorted(stats.value_pixels)
    read = f'the {stats.num_images} masks read'
    if len(values) < 2:
        raise DataError(
            f'every one of {read} in {mask_dir} holds only the value '
            f'{values[0]}: expected at least two classes (e.g. 0 for '
            'background and 1 or 255 for the object)')
    if len(values) > MAX_LEVELS:
        raise DataError(
            f'{read} in {mask_dir} hold {len(values)} distinct values '
            f'({", ".join(map(str, values[:8]))}, ...): expected one per '
            f'class, at most {MAX_LEVELS}; masks saved as JPEG or resized '
            'with interpolation blur their edges into many values: save them '
            'as PNG at the image size, unresized')
    ids = [v for v in values if v != 255] if len(values) > 2 else values
    if ids == list(range(len(ids))):
        void = len(ids) < len(values)
        return Encoding(
            _class_names(len(ids)),
            label_map={0: 0, 1: 1} if void and len(ids) == 2 else None,
            reason=f'class ids 0..{len(ids) - 1} in {read}' +
            (', and 255, read as void (ignore_index)' if void else '') +
            (': binary, 1 is the foreground' if len(ids) == 2 else ''))
    return Encoding(
        _class_names(len(values)),
        label_map={v: i for i, v in enumerate(values)},
        reason=f'values {_listed(values)} in {read}: ' +
        (f'binary, {values[1]} is the foreground' if len(values) == 2 else
         'one class each, in this order'))


def _colour_encoding(stats: SplitStats, root: str) -> Encoding:
    """Classes of RGB masks: the folder's ``class_dict.csv``, or one made of
    the colours read."""
    csv = osp.join(root, CLASS_DICT)
    read = f'the {stats.num_images} masks read'
    if osp.isfile(csv):
        rows = read_class_dict(csv)
        void = tuple(name for name, _ in rows if VOID_NAMES.match(name))
        return Encoding(
            tuple(name for name, _ in rows if name not in void), colour=True,
            class_dict=CLASS_DICT, void_classes=void,
            reason=f'colour masks, classes and colours from {CLASS_DICT}' +
            (f', {" and ".join(void)} void' if void else ''))
    # Sorted, so black, the likeliest background, comes first.
    colours = sorted(stats.value_pixels)
    if len(colours) > MAX_LEVELS:
        raise DataError(
            f'{read} hold {len(colours)} colours: expected one colour per '
            f'class; write {csv} with a row name,r,g,b per class, as '
            "CamVid's, and run again")
    if len(colours) < 2:
        raise DataError(f'every one of {read} is the one colour '
                        f'{colours[0]}: expected at least two classes')
    names = _class_names(len(colours))
    return Encoding(
        names, colour=True, colours=list(zip(names, colours)),
        reason=f'colour masks, {len(colours)} colours in {read}, one class '
        'each' + (f': binary, {colours[0]} is the background'
                  if len(colours) == 2 else ''))


def _class_names(count: int) -> Tuple[str, ...]:
    if count == 2:
        return ('background', 'foreground')
    return tuple(f'class_{i}' for i in range(count))


def _listed(values: Sequence) -> str:
    return ', '.join(map(str, values[:-1])) + f' and {values[-1]}'


def _group(stem: str) -> Tuple[str, int]:
    """A name's group, the name up to its trailing number, and that number
    (``0001TP_006690`` -> ``('0001TP_', 6690)``, ``car_07`` ->
    ``('car_', 7)``)."""
    match = re.match(r'(.*?)(\d*)$', stem)
    return match.group(1), int(match.group(2) or -1)


def split_names(stems: Sequence[str],
                val_ratio: float = VAL_RATIO) -> Split:
    """Train and val names such that near-duplicates stay on one side.

    Names that differ only in a trailing number form a group (frames of one
    sequence, views of one object: ``<id>_<view>``). With
    :data:`MIN_GROUPS` groups or more, whole groups go to val, chosen as
    Carvana's cars are (:func:`~segkit.datasets.carvana.split_car_ids`);
    with fewer, the last ``val_ratio`` of each group by number, one block,
    so only its first frame neighbours a training one.

    Args:
        stems: Sample names, at least 2.
        val_ratio: The share of the samples (or groups) for val.

    Returns:
        The split and its reason.
    """
    groups: Dict[str, List[str]] = defaultdict(list)
    for stem in sorted(stems, key=_group):
        groups[_group(stem)[0]].append(stem)
    if len(groups) >= MIN_GROUPS:
        train_groups, val_groups = split_car_ids(groups, val_ratio)
        val = sorted(s for g in val_groups for s in groups[g])
        reason = (
            f'{len(groups)} groups of names that differ only in a trailing '
            f'number; {len(val_groups)} whole '
            f'{"group" if len(val_groups) == 1 else "groups"} in val (e.g. '
            f'{val_groups[0] or "<number>"}*), so near-duplicates stay on '
            'one side')
    else:
        val = sorted(s for members in groups.values()
                     for s in members[len(members) - math.ceil(
                         val_ratio * len(members)):] if len(members) > 1)
        val = val or [max(stems)]
        sequences = ('one sequence' if len(groups) == 1 else
                     f'{len(groups)} sequences')
        reason = (
            f'{sequences} of numbered names; val is the last '
            f'{val_ratio:.0%} of {"it" if len(groups) == 1 else "each"} by '
            'number, one block, so neighbouring frames stay on one side')
    return Split(sorted(set(stems) - set(val)), val, reason)
