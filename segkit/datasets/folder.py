"""Any image/index-mask folder pair, described by a config instead of a
dataset class."""
import os
from typing import Dict, Optional, Union

from segkit.registry import DATASETS
from segkit.utils import ConfigValueError
from .base import BaseSegDataset
from .transforms.label_maps import BINARY_LABEL_MAP, check_label_map


@DATASETS.register_module()
class FolderSegDataset(BaseSegDataset):
    """Images and single-channel index masks (PNG, GIF, or MATLAB ``.mat``)
    in two folders, paired by name as in :class:`BaseSegDataset`.

    Folders are given as ``data_prefix=dict(img_path=..., seg_map_path=...)``
    relative to ``data_root``, as for every segkit dataset. Mask values are
    class ids, or raw values that ``label_map`` maps to class ids. Classes
    come from ``metainfo``, and every ``label_map`` class is checked
    against them here rather than at the first batch.

    ISBI 2012 (``images/NN.png``, ``labels/NN.png``; 255 = cell, 0 =
    membrane) reads as::

        dict(type='FolderSegDataset', data_root='.../isbi_membrane',
             data_prefix=dict(img_path='images', seg_map_path='labels'),
             label_map={255: 0, 0: 1},
             metainfo=dict(classes=('cell', 'membrane'),
                           palette=[[255, 255, 255], [0, 0, 0]]))

    making the membrane, the structure the challenge scores, class 1, the
    foreground of binary losses and metrics.

    With two classes, no ``label_map`` and ``ignore_index=255``, masks read
    as binary masks: 0 is class 0, and 1 or 255 class 1 (``label_map``
    ``{0: 0, 1: 1, 255: 1}``, as Carvana's), since 0/255 is how most binary
    masks are saved and reading 255 as ``ignore_index`` would leave nothing
    to learn. ``default_label_map`` is then ``True``, and ``DataCheckHook``
    says so in the run's log when the masks hold 255. Binary masks whose
    255 marks void pixels need ``label_map={0: 0, 1: 1}``.

    Args:
        data_root, ignore_index: as :class:`BaseSegDataset`.
        metainfo: must hold ``classes`` (class i is named ``classes[i]``);
            ``palette`` (RGB per class) is used for visualisation.
        label_map: raw mask value (0..65535) -> class id, e.g.
            ``{255: 0, 0: 1}``. Values not in it load as ``ignore_index``
            (so an unexpected value is void, never a wrong class). ``None``:
            the mask values are the class ids, or, for two classes, the
            binary reading above.
        mat_key: the variable holding the mask in ``.mat`` masks.
        **kwargs: the rest of :class:`BaseSegDataset`'s arguments
            (``data_prefix``, the suffixes, ``split_file``, ...).
    """

    def __init__(self,
                 data_root: Union[str, os.PathLike],
                 metainfo: Optional[dict] = None,
                 label_map: Optional[Dict[int, int]] = None,
                 mat_key: Optional[str] = None,
                 ignore_index: int = 255,
                 **kwargs) -> None:
        classes = (metainfo or {}).get('classes')
        if not classes:
            raise ConfigValueError(
                'FolderSegDataset needs metainfo=dict(classes=(...)): the '
                'class names, in class-id order')
        if label_map is not None:
            check_label_map(label_map, ignore_index)
            unknown = sorted({c for c in label_map.values()
                              if c >= len(classes) and c != ignore_index})
            if unknown:
                raise ConfigValueError(
                    f'label_map {label_map} maps to class ids {unknown}, but '
                    f'there are {len(classes)} classes {tuple(classes)}: '
                    f'expected ids below {len(classes)} or ignore_index '
                    f'{ignore_index}')
        self.default_label_map = (label_map is None and len(classes) == 2
                                  and ignore_index == 255)
        self.label_map = (dict(BINARY_LABEL_MAP) if self.default_label_map
                          else label_map)
        self.mat_key = mat_key
        super().__init__(data_root=data_root, metainfo=metainfo,
                         ignore_index=ignore_index, **kwargs)

    def loader_info(self) -> dict:
        """Adds ``label_map`` and ``mat_key`` when given."""
        info = super().loader_info()
        if self.label_map is not None:
            info['label_map'] = dict(self.label_map)
        if self.mat_key is not None:
            info['mat_key'] = self.mat_key
        return info
