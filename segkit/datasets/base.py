"""Image/mask folder datasets: the pairing every segkit dataset shares, and
what happens to a sample that cannot be loaded."""
import logging
import os
import os.path as osp
import pickle
from typing import (Any, Callable, Dict, List, Optional, Sequence, Set,
                    Tuple, TypedDict, Union)

import cv2
import numpy as np
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from mmengine.structures import BaseDataElement

from segkit.registry import DATASETS, TRANSFORMS
from segkit.structures import SKIPPED_SAMPLES_KEY
from segkit.utils import (ConfigValueError, DataError, MissingPathError,
                          listing, printable)

BAD_SAMPLE_POLICIES = ('raise', 'skip')
# Errors of bad data (unreadable, corrupt, wrong size or format), which
# on_bad_sample='skip' skips; any other error is a bug and always raised.
SKIPPABLE_ERRORS = (OSError, ValueError, cv2.error)


class DataPrefix(TypedDict, total=False):
    """A dataset's ``data_prefix``: its image and mask folders, relative to
    ``data_root`` (``--cfg-options`` checks overrides against these keys)."""
    img_path: str
    seg_map_path: str


def read_stems(path: str) -> List[str]:
    """Sample names in a split file, one per line; blank lines and
    surrounding spaces are skipped. ``FileNotFoundError``/``ValueError``
    naming the file for a missing or empty file or a repeated name (a
    repeat would weigh that sample twice)."""
    if not osp.isfile(path):
        raise MissingPathError(f'split_file {path!r} does not exist')
    stems: List[str] = []
    lines: Dict[str, int] = {}
    with open(path, encoding='utf-8-sig') as f:
        for line, text in enumerate(f, 1):
            stem = text.strip()
            if not stem:
                continue
            if stem in lines:
                raise DataError(f'{path}, line {line}: {stem!r} is already '
                                f'listed on line {lines[stem]}')
            lines[stem] = line
            stems.append(stem)
    if not stems:
        raise DataError(f'split_file {path} lists no samples: expected one '
                        'image name (without suffix) per line')
    return stems


def check_dir(path: str, what: str) -> None:
    """Raise :class:`~segkit.utils.MissingPathError` (a
    ``FileNotFoundError``) naming ``what`` unless ``path`` is a folder: a
    wrong path should fail at construction, not as an empty dataset or in a
    worker process."""
    if not osp.isdir(path):
        raise MissingPathError(
            f'{what} {path!r} does not exist or is not a folder')


def _is_sample_file(entry: os.DirEntry) -> bool:
    """A file, or a symbolic link that leads to none (dangling, or a loop,
    on which ``is_file`` raises ELOOP).

    Broken links are kept so that loading them fails with an error naming
    the link, under the dataset's ``on_bad_sample`` policy, as for any other
    unreadable file; dropping them here would instead report their partner
    as unpaired. Folders, and links to folders, are not samples.
    """
    try:
        if entry.is_file():
            return True
    except OSError:  # ELOOP, or a target that cannot be examined
        return True
    return entry.is_symlink() and not osp.exists(entry.path)


def _files_by_stem(folder: str, suffix: str) -> Dict[str, str]:
    """``{stem: path}`` of the files in ``folder`` named ``<stem><suffix>``
    (not recursive, so a link loop among folders is never followed)."""
    with os.scandir(folder) as entries:
        return {entry.name[:-len(suffix)]: entry.path for entry in entries
                if len(entry.name) > len(suffix)
                and entry.name.endswith(suffix) and _is_sample_file(entry)}


@DATASETS.register_module()
class BaseSegDataset(BaseDataset):
    """Images and masks in two folders, paired by file name.

    Image ``<stem><img_suffix>`` in ``data_prefix['img_path']`` goes with
    mask ``<stem><seg_map_suffix>`` in ``data_prefix['seg_map_path']``; a
    file without its partner is an error naming both. Samples are sorted by
    stem. Every data info holds ``img_path``, ``seg_map_path``,
    ``seg_fields=[]`` and :meth:`loader_info`, so ``LoadSegMap`` needs no
    arguments. Subclasses override :meth:`loader_info` (what the loader
    gets) and :meth:`find_pairs` (which files are used).

    Use it directly for any image/mask folder pair with class-index masks;
    ``docs/architecture.md`` explains the pairing rules and the bad-sample
    policy.

    Args:
        data_root: The dataset's folder; relative prefixes are joined to it.
        data_prefix: ``dict(img_path=..., seg_map_path=...)``, the image and
            mask folders. Both ``data_root`` by default.
        img_suffix: End of every image file name, e.g. ``'.jpg'``.
        seg_map_suffix: End of every mask file name, e.g. ``'_mask.png'``.
        split_file: Text file of sample names (image file names without
            ``img_suffix``), one per line, relative to ``data_root`` unless
            absolute; only those samples are used, and a name with no image
            is an error.
        ignore_index: Class value of void pixels, left out of loss and
            metrics.
        on_bad_sample: ``'raise'``: a file that cannot be loaded raises an
            error naming it. ``'skip'`` (training sets only): it is logged
            and replaced by another sample, and ``BadSampleHook`` counts it.
        metainfo, pipeline, serialize_data, lazy_init, test_mode, indices,
        max_refetch: As :class:`mmengine.dataset.BaseDataset`; pipeline
            dicts are built from segkit's registry.
    """

    def __init__(self,
                 data_root: Union[str, os.PathLike],
                 data_prefix: Optional[DataPrefix] = None,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '.png',
                 split_file: Optional[str] = None,
                 ignore_index: int = 255,
                 on_bad_sample: str = 'raise',
                 metainfo: Optional[dict] = None,
                 pipeline: Sequence[Union[dict, Callable]] = (),
                 serialize_data: bool = True,
                 lazy_init: bool = False,
                 test_mode: bool = False,
                 indices: Optional[Union[int, Sequence[int]]] = None,
                 max_refetch: int = 1000) -> None:
        data_root = os.fspath(data_root)
        check_dir(data_root, 'data_root')
        data_prefix = {'img_path': '', 'seg_map_path': '',
                       **(data_prefix or {})}
        unknown = set(data_prefix) - {'img_path', 'seg_map_path'}
        if unknown:
            raise ConfigValueError(
                f'data_prefix has unknown keys {sorted(unknown)}; expected '
                "'img_path' and 'seg_map_path'")
        if on_bad_sample not in BAD_SAMPLE_POLICIES:
            raise ConfigValueError(
                f'on_bad_sample={on_bad_sample!r}: expected one of '
                f'{BAD_SAMPLE_POLICIES}')
        if on_bad_sample == 'skip' and test_mode:
            raise ConfigValueError(
                "on_bad_sample='skip' with test_mode=True: a test or "
                'validation set must score every sample, so it raises on a '
                "bad one; expected on_bad_sample='raise' here")
        self.img_suffix = img_suffix
        self.seg_map_suffix = seg_map_suffix
        self.split_file = (None if split_file is None else
                           osp.join(data_root, split_file))
        self.ignore_index = ignore_index
        self.on_bad_sample = on_bad_sample
        # This process's skips not yet attached to a loaded sample, and the
        # samples it has already warned about.
        self._unreported: List[Tuple[str, str]] = []
        self._warned: Set[str] = set()
        super().__init__(
            data_root=data_root, data_prefix=data_prefix, metainfo=metainfo,
            pipeline=[TRANSFORMS.build(t) if isinstance(t, dict) else t
                      for t in pipeline],
            serialize_data=serialize_data, lazy_init=lazy_init,
            test_mode=test_mode, indices=indices, max_refetch=max_refetch)

    def loader_info(self) -> dict:
        """Keys added to every data info for the loading transforms."""
        return dict(ignore_index=self.ignore_index)

    def stem(self, img_path: str) -> str:
        """The sample name: the image's file name without ``img_suffix``."""
        return osp.basename(img_path)[:-len(self.img_suffix)]

    def find_images(self) -> Dict[str, str]:
        """``{stem: path}`` of the images, for subclasses whose masks are not
        files (e.g. RLE in a csv). ``FileNotFoundError`` for a missing
        folder or one without images."""
        img_dir = self.data_prefix['img_path']
        check_dir(img_dir, "data_prefix['img_path']")
        images = _files_by_stem(img_dir, self.img_suffix)
        if not images:
            raise MissingPathError(
                f'no images ending in {self.img_suffix!r} in {img_dir!r}: '
                'expected files named <id>' + self.img_suffix)
        return images

    def find_pairs(self) -> List[Tuple[str, str]]:
        """``(image path, mask path)`` of every sample, sorted by stem.

        Raises ``FileNotFoundError`` for a missing folder, a folder without
        images, and any image without its mask or mask without its image.
        """
        images = self.find_images()
        img_dir = self.data_prefix['img_path']
        seg_dir = self.data_prefix['seg_map_path']
        check_dir(seg_dir, "data_prefix['seg_map_path']")
        masks = _files_by_stem(seg_dir, self.seg_map_suffix)
        if osp.realpath(img_dir) == osp.realpath(seg_dir):
            if self.img_suffix == self.seg_map_suffix:
                raise ConfigValueError(
                    f'images and masks share the folder {img_dir!r} and the '
                    f'suffix {self.img_suffix!r}: expected different '
                    'suffixes to tell them apart')
            longer, shorter = ((masks, images) if len(self.seg_map_suffix) >
                               len(self.img_suffix) else (images, masks))
            claimed = set(longer.values())
            for stem in [s for s, p in shorter.items() if p in claimed]:
                del shorter[stem]
        no_mask = [printable(f'{images[s]} (expected {osp.join(seg_dir, s)}'
                             f'{self.seg_map_suffix})')
                   for s in sorted(images) if s not in masks]
        if no_mask:
            raise MissingPathError(
                f'{len(no_mask)} image(s) have no mask:' + listing(no_mask))
        no_image = [printable(f'{masks[s]} (expected {osp.join(img_dir, s)}'
                              f'{self.img_suffix})')
                    for s in sorted(masks) if s not in images]
        if no_image:
            raise MissingPathError(
                f'{len(no_image)} mask(s) have no image:' +
                listing(no_image))
        return [(images[s], masks[s]) for s in sorted(images)]

    def split_pairs(
            self, pairs: List[Tuple[str, str]]) -> List[Tuple[str, str]]:
        """The pairs of ``split_file``'s samples, sorted by name, or all of
        ``pairs``; :class:`~segkit.utils.DataError` naming the names with
        no image."""
        if self.split_file is None:
            return pairs
        wanted = read_stems(self.split_file)
        by_stem = {self.stem(img): (img, seg) for img, seg in pairs}
        unknown = [s for s in wanted if s not in by_stem]
        if unknown:
            raise DataError(
                f'{len(unknown)} name(s) in {self.split_file} have no image '
                f"{'<name>' + self.img_suffix} in "
                f"{self.data_prefix['img_path']!r}:" + listing(unknown))
        return [by_stem[s] for s in sorted(wanted)]

    def load_data_list(self) -> List[dict]:
        """One data info per image/mask pair of the split (see the class
        docstring)."""
        info = self.loader_info()
        return [dict(img_path=img, seg_map_path=seg, seg_fields=[], **info)
                for img, seg in self.split_pairs(self.find_pairs())]

    def _serialize_data(self) -> Tuple[np.ndarray, np.ndarray]:
        """``data_list`` pickled into one byte array and its end offsets,
        which the loader's worker processes share, as MMEngine does, but
        without the full ``gc.collect()`` that follows it there: the infos
        hold no reference cycles, so clearing the list frees them, and with
        torch loaded that collection costs ~0.2 s per dataset built.

        Returns:
            Tuple[np.ndarray, np.ndarray]: The bytes, and each info's end
            offset in them.
        """
        pickled = [np.frombuffer(pickle.dumps(info, protocol=4), np.uint8)
                   for info in self.data_list]
        self.data_list.clear()
        ends = np.cumsum([len(data) for data in pickled], dtype=np.int64)
        return np.concatenate(pickled), ends

    def prepare_data(self, idx: int) -> Any:
        """The pipeline's output for sample ``idx``; under ``'skip'``,
        ``None`` for a bad sample, which MMEngine's ``__getitem__`` then
        replaces, and the next loaded sample carries the skips."""
        if self.on_bad_sample == 'raise':
            return super().prepare_data(idx)
        try:
            data = super().prepare_data(idx)
        except SKIPPABLE_ERRORS as error:
            self._skip(idx, error)
            return None
        if data is not None and self._unreported:
            samples = isinstance(data, dict) and data.get('data_samples')
            if isinstance(samples, BaseDataElement):
                samples.set_metainfo(
                    {SKIPPED_SAMPLES_KEY: tuple(self._unreported)})
            self._unreported = []
        return data

    def _skip(self, idx: int, error: Exception) -> None:
        """Warn (once per sample and process) and remember a bad sample;
        raise once ``max_refetch + 1`` samples in a row were bad, as
        MMEngine would, but naming them."""
        name = printable(str(self.get_data_info(idx).get('img_path', idx)))
        reason = printable(f'{type(error).__name__}: {error}')
        self._unreported.append((name, reason))
        if name not in self._warned:
            self._warned.add(name)
            print_log(f"on_bad_sample='skip': replacing sample {name} by "
                      f'another one: {reason}', logger='current',
                      level=logging.WARNING)
        if len(self._unreported) > self.max_refetch:
            failed, self._unreported = self._unreported, []
            raise RuntimeError(
                f'{len(failed)} samples in a row could not be loaded '
                f"(on_bad_sample='skip' gives up after max_refetch="
                f'{self.max_refetch} replacements):' +
                listing([f'{n}: {r}' for n, r in failed]))
