"""CamVid in the Kaggle layout, with its classes read from class_dict.csv."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

from segkit.registry import DATASETS
from segkit.utils import ConfigValueError, DataError

from .base import BaseSegDataset, check_dir
from .csv_table import csv_rows

RGB = Tuple[int, int, int]
CSV_HEADER = ['name', 'r', 'g', 'b']


def read_class_dict(path: str) -> List[Tuple[str, RGB]]:
    """``(name, (r, g, b))`` per row of a ``name,r,g,b`` csv, in file order.

    Raises ``FileNotFoundError`` or ``ValueError`` naming the file and line
    for a missing file, a wrong header, a bad row or a repeated name or
    colour: a typo here would otherwise silently turn a class into void.
    """
    rows: List[Tuple[str, RGB]] = []
    seen_names: Dict[str, int] = {}
    seen_colours: Dict[RGB, Tuple[str, int]] = {}
    for line, fields in csv_rows(
            path, CSV_HEADER, 'class_dict file',
            "copy the release's class_dict.csv there, or set the dataset's "
            'class_dict to the path of yours'):
        where = f'{path}, line {line}'
        name = fields[0].strip()
        try:
            colour = tuple(int(v) for v in fields[1:])
        except ValueError:
            raise DataError(f'{where}: expected integer r,g,b, got '
                            f'{fields[1:]}') from None
        if not all(0 <= v <= 255 for v in colour):
            raise DataError(
                f'{where}: r,g,b must be in 0..255, got {colour}')
        if name in seen_names:
            raise DataError(f'{where}: class {name!r} already defined '
                            f'on line {seen_names[name]}')
        if colour in seen_colours:
            other, other_line = seen_colours[colour]
            raise DataError(
                f'{where}: colour {colour} of {name!r} is already used by '
                f'{other!r} on line {other_line}')
        seen_names[name] = line
        seen_colours[colour] = (name, line)
        rows.append((name, colour))
    if not rows:
        raise DataError(f'{path}: no classes after the header')
    return rows


def _check_sequences(
        sequences: Optional[Union[str, Sequence[str]]]
) -> Optional[Tuple[str, ...]]:
    """``sequences`` as a tuple of names (one name may be given bare), or
    ``None``; :class:`~segkit.utils.ConfigValueError` for anything else."""
    if sequences is None:
        return None
    if isinstance(sequences, str):
        sequences = [sequences]
    if (not isinstance(sequences, (list, tuple)) or not sequences
            or not all(isinstance(name, str) for name in sequences)):
        raise ConfigValueError(
            f'sequences={sequences!r}: expected one or more sequence names '
            "as strings, e.g. ['0006R0', '0016E5'] (on the command line "
            'quote each name, or --cfg-options may read 0016E5 as a number)')
    return tuple(sequences)


@DATASETS.register_module()
class CamVidDataset(BaseSegDataset):
    """CamVid road scenes: ``<id>.png`` frames with ``<id>_L.png`` colour
    masks, laid out as the Kaggle release (``train/``, ``train_labels/``,
    ``val/``, ``val_labels/``, ``class_dict.csv``).

    Classes and palette come from ``class_dict.csv`` (rows in class order)
    rather than from code, so a relabelled copy of the data needs no code
    change. Void classes are dropped from ``metainfo``; their colours, and
    any colour not in the csv, load as ``ignore_index``.

    Args:
        data_root: the CamVid folder.
        data_prefix: image and mask folders; the training split by default.
        class_dict: the csv, relative to ``data_root`` unless absolute.
        void_classes: names in the csv that are not learnt or scored.
        sequences: keep only the frames of these sequences, the part of a
            frame's name before its first ``_`` (``'0001TP'``, ``'0006R0'``,
            ``'0016E5'``, ``'Seq05VD'``); all frames by default. Training on
            some sequences and scoring on another measures what a model
            does on footage it never saw
            (docs/experiments/2026-11-27-unseen-sequence.md).
        **kwargs: the rest of :class:`BaseSegDataset`'s arguments.
    """

    def __init__(self,
                 data_root: Union[str, os.PathLike],
                 data_prefix: Optional[Dict[str, str]] = None,
                 img_suffix: str = '.png',
                 seg_map_suffix: str = '_L.png',
                 class_dict: str = 'class_dict.csv',
                 void_classes: Sequence[str] = ('Unlabelled',),
                 sequences: Optional[Union[str, Sequence[str]]] = None,
                 metainfo: Optional[dict] = None,
                 **kwargs) -> None:
        data_root = os.fspath(data_root)
        check_dir(data_root, 'data_root')
        csv_path = osp.join(data_root, class_dict)
        rows = read_class_dict(csv_path)
        missing = set(void_classes) - {name for name, _ in rows}
        if missing:
            raise ConfigValueError(
                f'void_classes {sorted(missing)} are not in {csv_path}: '
                'expected names from its rows')
        if metainfo and {'classes', 'palette'} & set(metainfo):
            raise ConfigValueError(
                f'CamVidDataset reads classes and palette from {csv_path}; '
                'edit that file or pass another class_dict instead of '
                'metainfo classes/palette')
        kept = [(name, colour) for name, colour in rows
                if name not in void_classes]
        self.class_dict = csv_path
        self.sequences = _check_sequences(sequences)
        self.void_classes = tuple(void_classes)
        # Colours of the void classes: deliberately unlabelled, unlike a
        # colour missing from the csv (dataset analysis tells them apart).
        self.void_palette = [list(colour) for name, colour in rows
                             if name in void_classes]
        super().__init__(
            data_root=data_root,
            data_prefix=data_prefix or dict(img_path='train',
                                            seg_map_path='train_labels'),
            img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
            metainfo=dict(metainfo or {},
                          classes=tuple(name for name, _ in kept),
                          palette=[list(colour) for _, colour in kept]),
            **kwargs)

    @staticmethod
    def sequence_of(img_path: str) -> str:
        """The sequence a frame belongs to: its file name up to the first
        ``_`` (``0001TP_006690.png`` is from ``0001TP``)."""
        return osp.basename(img_path).split('_', 1)[0]

    def find_pairs(self) -> List[Tuple[str, str]]:
        """The image/mask pairs, only those of ``sequences`` if it is set.

        Raises :class:`~segkit.utils.ConfigValueError` naming a sequence
        that has no frame in the image folder, and the sequences it has.
        """
        pairs = super().find_pairs()
        if self.sequences is None:
            return pairs
        present = sorted({self.sequence_of(img) for img, _ in pairs})
        absent = [name for name in self.sequences if name not in present]
        if absent:
            raise ConfigValueError(
                f'sequences {absent} have no frames in '
                f"{self.data_prefix['img_path']!r}: expected some of "
                f'{present}')
        return [(img, seg) for img, seg in pairs
                if self.sequence_of(img) in self.sequences]

    def loader_info(self) -> dict:
        """Adds the RGB ``palette`` that ``LoadSegMap`` maps to classes."""
        return dict(super().loader_info(), palette=self.metainfo['palette'])
