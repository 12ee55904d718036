"""Before a run trains: what a split's masks hold that would make it learn
nothing, or less than it seems, found on a sample of the masks by the
analysis ``tools/analyze_dataset.py`` prints (:mod:`.analysis`).

Refused, as one line naming the values, a file and the fix: raw values or
colours that map to no class (they would load as ``ignore_index``, never
learnt or scored), and masks of only 0 and 255 whose 255 is
``ignore_index`` (every foreground pixel void). Said in the log:
``FolderSegDataset``'s binary reading of 255, and classes no mask read
holds. ``DataCheckHook`` runs :func:`check_masks` on the training and
validation sets.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

import numpy as np

from segkit.utils import DataError
from .analysis import SplitStats, analyze_split
from .base import SKIPPABLE_ERRORS, BaseSegDataset

#: Masks read at least, then until every class has been seen ...
MIN_MASKS = 16
#: ... or this many have been read.
MAX_MASKS = 100
#: Values or colours a message names before "and N more".
SHOWN_VALUES = 4


@dataclass
class MaskCheck:
    """What :func:`check_masks` found that does not stop the run.

    Attributes:
        notes: How masks are read where that is a default, for the log.
        warnings: What may be wrong: absent classes, an ambiguous 255.
        masks_read: How many masks were read.
    """
    notes: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    masks_read: int = 0


def check_masks(dataset: BaseSegDataset, split: str) -> MaskCheck:
    """Read a sample of ``dataset``'s masks as its loader would and refuse
    what would leave pixels unlearnt by mistake.

    At least :data:`MIN_MASKS` masks are read, spread over the set by a
    fixed permutation, then more until every class has been seen, at most
    :data:`MAX_MASKS`.

    Args:
        dataset: A segkit dataset (any pipeline; it is not run).
        split: ``'train'`` or ``'val'``, for messages.

    Returns:
        The notes and warnings for the log.

    Raises:
        DataError: values or colours that map to no class, or 0/255 masks
            whose 255 is ``ignore_index``; the message names the values,
            a file and the fix. An unreadable mask raises as in training,
            unless the dataset skips bad samples (a warning then).
    """
    if not len(dataset):
        return MaskCheck()
    order = np.random.default_rng(0).permutation(len(dataset))[:MAX_MASKS]
    try:
        stats = analyze_split(
            dataset, order.tolist(),
            stop_when=lambda s: (s.num_images >= MIN_MASKS
                                 and bool(s.class_images.all())))
    except SKIPPABLE_ERRORS as error:
        if dataset.on_bad_sample != 'skip':
            raise
        return MaskCheck(warnings=[
            f"{split} masks not checked: {error} (on_bad_sample='skip' "
            'will replace that sample)'])
    info = dataset.get_data_info(0)
    _refuse_unmapped(stats, dataset, info, split)
    _refuse_void_foreground(stats, dataset, info, split)
    result = MaskCheck(masks_read=stats.num_images)
    if getattr(dataset, 'default_label_map', False) and (
            255 in stats.value_pixels):
        foreground = stats.classes[1]
        if 1 in stats.value_pixels:
            result.warnings.append(
                f'{split} masks hold 0, 1 and 255: {type(dataset).__name__} '
                f'reads both 1 and 255 as class 1 ({foreground!r}), its '
                'default for 2 classes; if 255 marks void pixels, set '
                'label_map={0: 0, 1: 1}')
        else:
            result.notes.append(
                f'{split} masks hold 0 and 255: {type(dataset).__name__} '
                f'reads 255 as class 1 ({foreground!r}), its default for 2 '
                'classes without a label_map')
    absent = stats.absent_classes()
    if absent:
        effect = ('never learnt' if split == 'train' else
                  'left out of the mean scores, or scored 0 where the model '
                  'predicts it')
        result.warnings.append(
            f'{_plural(len(absent), "class", "classes")} '
            f'{", ".join(map(repr, absent))} '
            f'{"has" if len(absent) == 1 else "have"} no pixels in the '
            f'{stats.num_images} {split} masks read' +
            (f' (of {len(dataset)})' if stats.num_images < len(dataset)
             else '') + f': {effect}')
    return result


def _refuse_unmapped(stats: SplitStats, dataset: BaseSegDataset, info: dict,
                     split: str) -> None:
    """Raise for raw values or colours that map to no class."""
    unmapped = sorted((r for r in stats.raw_values.values()
                       if r.kind == 'unmapped'), key=lambda r: -r.pixels)
    if not unmapped:
        return
    noun = 'colour' if stats.colour_masks else 'value'
    what = (f'{split} masks hold {_plural(len(unmapped), noun)} '
            f'{_values([r.value for r in unmapped])} (e.g. in '
            f'{unmapped[0].files[0]}) that')
    lost = 'they would load as ignore_index, never learnt or scored'
    ignore = info.get('ignore_index', 255)
    if stats.colour_masks:
        source = getattr(dataset, 'class_dict', "the dataset's palette")
        rows = ', '.join(f"'<name>,{r},{g},{b}'"
                         for r, g, b in (u.value for u in unmapped[:2]))
        raise DataError(
            f'{what} no row of {source} names: {lost}; add a row for each '
            f'({rows}{", ..." if len(unmapped) > 2 else ""}) with a new '
            'class name, or the name of a void class to ignore it')
    label_map = info.get('label_map')
    if label_map is not None:
        fixed = {**label_map, **{u.value: ignore for u in unmapped}}
        whose = (f" ({type(dataset).__name__}'s default for 2 classes)"
                 if getattr(dataset, 'default_label_map', False) else '')
        raise DataError(
            f'{what} label_map {label_map}{whose} does not map: {lost}; map '
            f'each to a class id, or to {ignore} to ignore it on purpose: '
            f'label_map={_dict_text(fixed)}')
    classes = stats.classes
    seen = sorted(stats.value_pixels)
    if len(seen) != len(classes) and ignore in seen:
        seen.remove(ignore)
    fix = (f'label_map={_dict_text({v: i for i, v in enumerate(seen)})}'
           if len(seen) == len(classes) else
           f'a label_map from each value to a class id 0..{len(classes) - 1}'
           ', or more classes')
    raise DataError(
        f'{what} are no class id of the {len(classes)} classes '
        f'{tuple(classes)}: {lost}; expected ids 0..{len(classes) - 1} or '
        f'{ignore} (ignore_index): set {fix}' + _folder_hint(dataset))


def _refuse_void_foreground(stats: SplitStats, dataset: BaseSegDataset,
                            info: dict, split: str) -> None:
    """Raise for 0/255 masks whose 255 loads as ``ignore_index`` because
    nothing maps it (no ``label_map``), not because a config said so."""
    if (stats.colour_masks or 'label_map' in info
            or info.get('ignore_index', 255) != 255
            or set(stats.value_pixels) != {0, 255}):
        return
    raise DataError(
        f'{split} masks hold only 0 and 255 (all {stats.num_images} read, '
        f'e.g. {stats.raw_values[255].files[0]}), and 255 is ignore_index: '
        'every pixel that is not 0 would be ignored, never learnt or '
        'scored. For 0/255 binary masks, set label_map={0: 0, 255: 1} with '
        '2 classes' + _folder_hint(dataset))


def _folder_hint(dataset: BaseSegDataset) -> str:
    return ('' if hasattr(dataset, 'label_map') else
            f" (a label_map needs type='FolderSegDataset', not "
            f'{type(dataset).__name__})')


def _values(values: Sequence) -> str:
    shown = ', '.join(str(v) for v in values[:SHOWN_VALUES])
    more = len(values) - SHOWN_VALUES
    return shown + (f' and {more} more' if more > 0 else '')


def _dict_text(mapping: Dict) -> str:
    return '{' + ', '.join(f'{k}: {v}' for k, v in mapping.items()) + '}'


def _plural(count: int, word: str, plural: str = '') -> str:
    return word if count == 1 else (plural or word + 's')
