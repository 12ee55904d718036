"""An albumentations pipeline as one segkit transform (albumentations is
optional: ``pip install -e '.[albu]'``)."""
import difflib
import importlib.util
import os
import random
from types import ModuleType
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform

from segkit.registry import TRANSFORMS
from segkit.utils import ConfigValueError
from segkit.utils.extras import import_extra

#: Each call seeds albumentations' generators with
#: ``np.random.randint(SEED_RANGE, dtype=np.uint32)``.
SEED_RANGE = 2**32


def _one_line(error: Exception) -> str:
    """An argument error as one line. albumentations validates arguments
    with pydantic and re-raises its report, several lines long, as a
    ``ValueError``: each refused argument is then named with its value."""
    report = error.__cause__
    if not callable(getattr(report, 'errors', None)):
        return ' '.join(str(error).split())
    refused: Dict[str, List[str]] = {}
    for item in report.errors():
        name = f"{item['loc'][0]}={item['input']!r}" if item['loc'] else ''
        refused.setdefault(name, []).append(item['msg'])
    return '; '.join(f"{name}: {' or '.join(messages)}".lstrip(': ')
                     for name, messages in refused.items())


def _albumentations() -> ModuleType:
    """albumentations, imported without its check for a newer release on
    PyPI (up to 2 s and a warning; segkit pins the version) unless the
    environment asks for it."""
    os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')
    return import_extra('albumentations', 'Albu')


def _transform_classes(albu: ModuleType) -> Dict[str, type]:
    """albumentations' transforms and compositions by class name."""
    return {name: value for name, value in vars(albu).items()
            if isinstance(value, type)
            and issubclass(value, (albu.BasicTransform, albu.BaseCompose))}


def albumentations_class(name: Any) -> Optional[type]:
    """The albumentations class a ``type`` under ``Albu`` names, for the
    config checks; ``None`` if none, or if albumentations is missing."""
    if not isinstance(name, str) or importlib.util.find_spec(
            'albumentations') is None:
        return None
    return _transform_classes(_albumentations()).get(name)


def build_albu(cfg: dict, albu: ModuleType, key: str = 'transforms') -> Any:
    """Build an albumentations transform from ``dict(type=NAME, **args)``.

    ``NAME`` is a class of the ``albumentations`` package; a ``transforms``
    list (``OneOf``, ``SomeOf``, ``Sequential``) is built recursively.
    Transforms are built with ``strict=True``, so an argument albumentations
    does not know is an error, not a warning and a silently dropped value.

    Args:
        cfg: The transform's config.
        albu: The ``albumentations`` module.
        key: Where ``cfg`` sits in the ``Albu`` config, for messages.

    Returns:
        The albumentations transform.

    Raises:
        ConfigValueError: an unknown ``type`` or arguments the transform
            refuses.
    """
    args = dict(cfg)
    name = args.pop('type', None)
    classes = _transform_classes(albu)
    cls = classes.get(name) if isinstance(name, str) else None
    if cls is None:
        hint = difflib.get_close_matches(str(name), list(classes), n=1)
        raise ConfigValueError(
            f'Albu {key}: type={name!r} is not an albumentations '
            f'{albu.__version__} transform; expected a class name such as '
            f"{hint[0] if hint else 'HorizontalFlip'!r}")
    if 'transforms' in args:
        args['transforms'] = [
            build_albu(t, albu, f'{key}.transforms.{i}')
            for i, t in enumerate(args['transforms'])]
    if issubclass(cls, albu.BasicTransform):
        args.setdefault('strict', True)
    try:
        return cls(**args)
    except (TypeError, ValueError) as error:
        raise ConfigValueError(
            f'Albu {key} ({name}): {_one_line(error)}; see the arguments of '
            f'albumentations {albu.__version__} {name}') from None


@TRANSFORMS.register_module()
class Albu(BaseTransform):
    """Run an albumentations ``Compose`` on ``img`` and every
    ``seg_fields`` entry (``gt_seg_map``) together.

    The masks go as albumentations ``mask`` targets: geometric transforms
    move them with nearest-neighbour interpolation and pad them with the
    transform's ``fill_mask`` (set it to the ignore index, 255, where
    padding should not count as a class); colour transforms leave them
    alone. Sets ``img_shape`` from the result; ``ori_shape`` stays the
    file's. A flip or scale done here is not recorded in ``flip`` or
    ``scale_factor``: use it in training pipelines.

    The image is segkit's uint8 BGR, as cv2 reads it, and albumentations
    assumes RGB: per-channel arguments (``RGBShift``'s ``r_shift_limit``,
    ``Normalize``'s ``mean``) apply to the BGR channel at that position,
    and conversions to grey, HSV or LAB (``ToGray``, ``CLAHE``) weigh red
    and blue swapped; ``HueSaturationValue`` shifts hue the other way,
    which a symmetric range makes the same distribution. Channel-symmetric
    transforms (brightness, contrast, gamma, noise, blur) are unaffected.

    albumentations draws from its own generators, not numpy's global one.
    Each call seeds them with one draw from numpy's global generator
    (:data:`SEED_RANGE`), so a run with ``randomness=dict(seed=...)`` is
    reproducible and each dataloader worker (which MMEngine seeds apart)
    draws differently; one generator is shared by all transforms, so their
    draws are independent (``Compose(seed=...)`` seeds each transform
    alike, and two ``p=0.5`` flips then always happen together).

    Args:
        transforms: albumentations transforms as configs,
            ``dict(type='HorizontalFlip', p=0.5)``; see :func:`build_albu`.
    """

    #: How ``--cfg-options`` checks resolve a ``type`` inside an argument
    #: (:mod:`segkit.apis.config_keys`): albumentations' classes, not
    #: segkit's registries (whose ``RandomCrop`` takes other arguments).
    config_types = {'transforms': albumentations_class}

    def __init__(self, transforms: Sequence[dict]) -> None:
        albu = _albumentations()
        self.transforms: List[dict] = [dict(t) for t in transforms]
        self.aug = albu.Compose([
            build_albu(t, albu, f'transforms.{i}')
            for i, t in enumerate(self.transforms)])

    def transform(self, results: dict) -> dict:
        fields = results.get('seg_fields', [])
        self.aug.add_targets({key: 'mask' for key in fields
                              if key not in self.aug.additional_targets})
        seed = int(np.random.randint(SEED_RANGE, dtype=np.uint32))
        self.aug.set_random_state(np.random.default_rng(seed),
                                  random.Random(seed))
        out = self.aug(image=results['img'],
                       **{key: results[key] for key in fields})
        results['img'] = out['image']
        for key in fields:
            results[key] = out[key]
        results['img_shape'] = results['img'].shape[:2]
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(transforms={self.transforms})'
