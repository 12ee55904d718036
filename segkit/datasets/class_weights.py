"""Class weights against imbalance, from a split's pixel counts, and the
``class_weights.json`` that carries them to a loss.

``tools/analyze_dataset.py`` writes the file; ``CrossEntropyLoss`` takes its
path as ``class_weight``. The methods are the three that segmentation
papers use.
"""
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Sequence, Union

import numpy as np

from segkit.utils import (ConfigValueError, DataError, MissingPathError,
                          dump_json_atomic)

WEIGHT_METHODS = ('inverse', 'median_frequency', 'enet_log')
# ENet's constant: weights stay within 1 / ln(1 + ENET_C) ~ 50 for a class
# that is almost never seen.
ENET_C = 1.02


def compute_class_weights(pixels: Sequence[int],
                          image_pixels: Sequence[int],
                          method: str = 'median_frequency') -> List[float]:
    """One loss weight per class, from what a split holds.

    - ``inverse``: ``total / (C * pixels_c)``, mean 1 over the classes
      present (scikit-learn's "balanced").
    - ``median_frequency`` (Eigen & Fergus 2015, SegNet):
      ``median(f) / f_c`` with ``f_c = pixels_c / image_pixels_c``, the
      class's share of the images it appears in.
    - ``enet_log`` (Paszke et al. 2016, ENet): ``1 / ln(1.02 + p_c)`` with
      ``p_c`` the class's share of all labelled pixels.

    A class absent from the split gets the largest weight of the others:
    it does not change a loss on this split, and if it appears elsewhere it
    is treated as the rarest class rather than dropped.

    Args:
        pixels: Labelled pixels of each class.
        image_pixels: Pixels (void included) of the images each class
            appears in.
        method: One of :data:`WEIGHT_METHODS`.

    Returns:
        ``len(pixels)`` positive weights.
    """
    if method not in WEIGHT_METHODS:
        raise ConfigValueError(f'class weight method {method!r}: expected '
                               f'one of {WEIGHT_METHODS}')
    pixels = np.asarray(pixels, dtype=np.float64)
    image_pixels = np.asarray(image_pixels, dtype=np.float64)
    present = pixels > 0
    if not present.any():
        raise DataError('no class has any labelled pixel: expected masks '
                        'with classes to weigh')
    weights = np.zeros_like(pixels)
    if method == 'inverse':
        weights[present] = pixels.sum() / (present.sum() * pixels[present])
    elif method == 'median_frequency':
        freq = pixels[present] / image_pixels[present]
        weights[present] = np.median(freq) / freq
    else:
        weights[present] = 1 / np.log(ENET_C + pixels[present] /
                                      pixels.sum())
    weights[~present] = weights[present].max()
    return weights.tolist()


def dump_class_weights(path: Union[str, Path], weights: Sequence[float],
                       classes: Sequence[str], method: str,
                       source: Dict[str, Any]) -> None:
    """Write ``class_weights.json`` atomically: ``class_weight`` (what the
    loss reads), the classes they belong to, the method and ``source``
    (config, split); for two classes also ``pos_weight``, the
    foreground/background ratio that ``BCEWithLogitsLoss`` takes."""
    if len(weights) != len(classes):
        raise ValueError(f'{len(weights)} weights for {len(classes)} '
                         'classes: expected one per class')
    content = dict(method=method, classes=list(classes),
                   class_weight=[float(w) for w in weights], **source)
    if len(weights) == 2:
        content['pos_weight'] = float(weights[1] / weights[0])
    dump_json_atomic(content, path)


def load_class_weights(path: Union[str, os.PathLike]) -> List[float]:
    """The ``class_weight`` list of a ``class_weights.json``.

    Raises ``FileNotFoundError`` or ``ValueError`` naming the file when it
    is missing, not JSON, or has no list of positive numbers under
    ``class_weight``.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingPathError(
            f'class_weight file {path!r} does not exist: expected the '
            'class_weights.json that tools/analyze_dataset.py --out DIR '
            'writes, or a list of weights')
    try:
        with open(path, encoding='utf-8') as f:
            content = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f'class_weight file {path}: not JSON ({e})') from e
    weights = content.get('class_weight') if isinstance(content,
                                                        dict) else None
    if (not isinstance(weights, list) or not weights or not all(
            isinstance(w, (int, float)) and not isinstance(w, bool)
            and w > 0 for w in weights)):
        raise DataError(f'class_weight file {path}: expected a JSON object '
                        'whose "class_weight" is a list of positive '
                        f'numbers, one per class; got {weights!r}')
    return [float(w) for w in weights]
