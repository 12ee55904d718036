"""Decode each training file once per worker instead of once per epoch."""
import copy
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.dataset import Compose

from segkit.registry import TRANSFORMS


def _differs(new: Any, old: Any) -> bool:
    """Whether a loading step set ``new`` where the sample had ``old``;
    arrays always count as set (they are what loading produces)."""
    if isinstance(new, np.ndarray) or isinstance(old, np.ndarray):
        return True
    try:
        return bool(new != old)
    except Exception:  # values that cannot be compared: keep the new one
        return True


def _nbytes(values: Dict[str, Any]) -> int:
    return sum(v.nbytes for v in values.values() if isinstance(v, np.ndarray))


@TRANSFORMS.register_module()
class CachedLoading(BaseTransform):
    """Run the loading ``transforms`` once per sample and process; serve
    every later request for the same files from memory.

    Use it with persistent workers on a data set that fits in memory:
    decoding is most of the pipeline's time (``docs/performance.md``). Wrap
    only steps whose output depends on the sample's files alone
    (``LoadImageFromFile``, ``LoadSegMap``); random augmentations come after.
    A hit returns fresh copies of the keys the loading steps set; the rest
    (e.g. ``sample_idx``) comes from the incoming sample.

    Args:
        transforms: The loading steps, as pipeline configs.
        max_mb: Per-process memory budget in MiB; samples beyond it are
            decoded every time.
    """

    def __init__(self, transforms: List[dict], max_mb: float = 1024) -> None:
        if not transforms:
            raise ValueError('CachedLoading needs the loading transforms to '
                             'cache, got none')
        if max_mb < 0:
            raise ValueError(f'CachedLoading max_mb={max_mb}: expected >= 0')
        # Built from segkit's registry, as the datasets build pipelines:
        # Compose alone would look in MMEngine's root registry.
        self.loading = Compose([TRANSFORMS.build(t) for t in transforms])
        self.max_bytes = int(max_mb * 2**20)
        self.cached_bytes = 0
        self._cache: Dict[Tuple[Optional[str], Optional[str]],
                          Dict[str, Any]] = {}

    def transform(self, results: dict) -> Optional[dict]:
        key = (results.get('img_path'), results.get('seg_map_path'))
        hit = self._cache.get(key)
        if hit is not None:
            return {**results, **copy.deepcopy(hit)}
        before = copy.deepcopy(results)
        loaded = self.loading(results)
        if loaded is None:
            return None
        produced = {
            k: v
            for k, v in loaded.items()
            if k not in before or _differs(v, before[k])
        }
        size = _nbytes(produced)
        if self.cached_bytes + size <= self.max_bytes:
            self._cache[key] = copy.deepcopy(produced)
            self.cached_bytes += size
        return loaded

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(transforms={self.loading}, '
                f'max_mb={self.max_bytes / 2**20:g})')
