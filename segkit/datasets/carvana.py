"""Carvana car masks in the Kaggle layout, split into train/val by car."""
import hashlib
import os
import os.path as osp
from typing import (Collection, Dict, List, Optional, Sequence, Set, Tuple,
                    Union)

from segkit.registry import DATASETS
from segkit.utils import ConfigValueError, DataError, listing
from .base import BaseSegDataset
from .rle import read_rle_csv
from .transforms.label_maps import BINARY_LABEL_MAP

SPLITS = ('train', 'val', 'all')
MASK_SOURCES = ('gif', 'rle')


def split_car_ids(car_ids: Collection[str], val_ratio: float = 0.2,
                  seed: int = 0) -> Tuple[List[str], List[str]]:
    """``(train ids, val ids)``, each sorted, with ``round(val_ratio * n)``
    ids (at least one, at most ``n - 1``) in val.

    Cars are ranked by SHA-256 of ``'<seed>:<id>'``: the split depends on
    nothing but the ids and the seed (not on Python's hash seed, the file
    system's order or the random module's state), and a car's rank does not
    depend on which other cars are present, so adding cars moves few others
    across.
    """
    ids = sorted(set(car_ids))
    if len(ids) < 2:
        raise ConfigValueError(
            f'cannot split {len(ids)} car(s) {ids} into train and val: '
            "expected at least 2, or split='all'")
    n_val = min(len(ids) - 1, max(1, round(val_ratio * len(ids))))
    ranked = sorted(ids, key=lambda car: hashlib.sha256(
        f'{seed}:{car}'.encode()).digest())
    val = set(ranked[:n_val])
    return [c for c in ids if c not in val], sorted(val)


def _id_list(ids: Optional[Sequence[str]], name: str) -> Optional[Set[str]]:
    """``ids`` as a set; a lone string is an error, not its characters."""
    if ids is None:
        return None
    if isinstance(ids, str):
        raise TypeError(f'{name}={ids!r}: expected a list of car ids')
    return set(ids)


@DATASETS.register_module()
class CarvanaDataset(BaseSegDataset):
    """Carvana's ``train/<car>_<view>.jpg`` with binary masks, either
    ``train_masks/<car>_<view>_mask.gif`` or the RLE rows of
    ``train_masks.csv``.

    The 16 views of one car are near-duplicates, so the train/val split is
    made here, by car: ``split='train'`` or ``'val'`` takes the cars of
    :func:`split_car_ids` (``val_ratio``, ``seed``), or those of explicit
    ``train_ids``/``val_ids`` lists (given one list, the other side is every
    other car; given both, cars in neither are left out). ``'all'`` takes
    every image.

    GIF masks hold 0/1 in Carvana but 0/255 in many re-exports; the data
    info's ``label_map`` ``{0: 0, 1: 1, 255: 1}`` makes ``LoadSegMap`` load
    both as 0/1 (any other value as ``ignore_index``). With
    ``mask_source='rle'`` each data info instead carries its RLE string as
    ``seg_map_rle`` (``seg_map_path`` is the csv), decoded by
    ``LoadSegMap`` at the size of the image: no decoded mask is held per
    sample.

    Args:
        data_root: the Carvana folder.
        data_prefix: image and mask folders, ``train`` and ``train_masks``
            by default (the mask folder is not used with ``'rle'``).
        split: ``'train'``, ``'val'`` or ``'all'``.
        val_ratio: fraction of cars in val, in (0, 1).
        seed: which cars are in val.
        train_ids, val_ids: explicit car ids instead of ``val_ratio`` and
            ``seed``; ids with no image are an error.
        mask_source: ``'gif'`` or ``'rle'``.
        rle_csv: the ``img,rle_mask`` csv, relative to ``data_root`` unless
            absolute. Its rows for images not in the folder are not used.
        **kwargs: the rest of :class:`BaseSegDataset`'s arguments
            (``metainfo`` may change the palette, e.g. for visualisation).
    """

    METAINFO = dict(classes=('background', 'car'),
                    palette=[[0, 0, 0], [0, 255, 0]])

    def __init__(self,
                 data_root: Union[str, os.PathLike],
                 data_prefix: Optional[Dict[str, str]] = None,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '_mask.gif',
                 split: str = 'train',
                 val_ratio: float = 0.2,
                 seed: int = 0,
                 train_ids: Optional[Sequence[str]] = None,
                 val_ids: Optional[Sequence[str]] = None,
                 mask_source: str = 'gif',
                 rle_csv: str = 'train_masks.csv',
                 **kwargs) -> None:
        if split not in SPLITS:
            raise ConfigValueError(
                f'split {split!r}: expected one of {SPLITS}')
        if mask_source not in MASK_SOURCES:
            raise ConfigValueError(f'mask_source {mask_source!r}: expected '
                                   f'one of {MASK_SOURCES}')
        if not 0 < val_ratio < 1:
            raise ConfigValueError(f'val_ratio {val_ratio}: expected a '
                                   'fraction strictly between 0 and 1')
        self.train_ids = _id_list(train_ids, 'train_ids')
        self.val_ids = _id_list(val_ids, 'val_ids')
        both = (self.train_ids or set()) & (self.val_ids or set())
        if both:
            raise ConfigValueError(
                f'car ids {sorted(both)} are in both train_ids and val_ids: '
                'expected each car on one side')
        self.split = split
        self.val_ratio = val_ratio
        self.seed = seed
        self.mask_source = mask_source
        self.rle_csv = osp.join(os.fspath(data_root), rle_csv)
        super().__init__(
            data_root=data_root,
            data_prefix=data_prefix or dict(img_path='train',
                                            seg_map_path='train_masks'),
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix, **kwargs)

    def loader_info(self) -> dict:
        """GIF masks get the 0/1-or-0/255 ``label_map``; RLE decodes to 0/1
        already."""
        info = super().loader_info()
        if self.mask_source == 'gif':
            info['label_map'] = dict(BINARY_LABEL_MAP)
        return info

    def car_id(self, img_path: str) -> str:
        """``<car>`` of ``<car>_<view><img_suffix>``."""
        car, sep, view = self.stem(img_path).rpartition('_')
        if not (sep and car and view):
            raise DataError(f'image {img_path}: expected a name '
                            f'<car>_<view>{self.img_suffix}')
        return car

    def select_cars(self, cars: Set[str]) -> Set[str]:
        """The cars of ``split`` among ``cars``, those with images."""
        given = (self.train_ids or set()) | (self.val_ids or set())
        unknown = sorted(given - cars)
        if unknown:
            raise ConfigValueError(
                f'{len(unknown)} car id(s) in train_ids/val_ids have no '
                f"image in {self.data_prefix['img_path']!r}:" +
                listing(unknown))
        if self.split == 'all':
            return cars
        if self.train_ids is None and self.val_ids is None:
            train, val = map(set, split_car_ids(cars, self.val_ratio,
                                                self.seed))
        else:
            train = (cars - self.val_ids if self.train_ids is None
                     else self.train_ids)
            val = cars - train if self.val_ids is None else self.val_ids
        return train if self.split == 'train' else val

    def find_pairs(self) -> List[Tuple[str, str]]:
        """The split's ``(image, mask)`` pairs; with ``'rle'`` the mask is
        the csv, as every image's RLE comes from it."""
        if self.mask_source == 'gif':
            pairs = super().find_pairs()
        else:
            pairs = [(path, self.rle_csv)
                     for _, path in sorted(self.find_images().items())]
        cars = {img: self.car_id(img) for img, _ in pairs}
        keep = self.select_cars(set(cars.values()))
        pairs = [pair for pair in pairs if cars[pair[0]] in keep]
        if not pairs:
            raise ConfigValueError(f'split {self.split!r} has no cars: '
                                   'expected non-empty train_ids/val_ids')
        return pairs

    def load_data_list(self) -> List[dict]:
        """Adds ``seg_map_rle`` with ``'rle'``; raises ``ValueError``
        naming the images the csv has no row for."""
        infos = super().load_data_list()
        if self.mask_source == 'rle':
            rles = read_rle_csv(self.rle_csv)
            names = [osp.basename(info['img_path']) for info in infos]
            missing = [name for name in names if name not in rles]
            if missing:
                raise DataError(
                    f'{len(missing)} image(s) have no row in {self.rle_csv}:'
                    + listing(missing))
            for info, name in zip(infos, names):
                info['seg_map_rle'] = rles[name]
        return infos
