"""torch.hub entry points of a local segkit checkout.

``torch.hub.load('path/to/segkit', 'segkit', config=..., checkpoint=...,
source='local')``; weights come from the local ``checkpoint``, nothing is
downloaded.
"""
import os.path as osp
# Modules and private names only: torch.hub lists every public callable.
import typing

from segkit.apis import init_model as _init_model
from segkit.models import BaseSegmentor as _BaseSegmentor

# Import names, checked by torch.hub before an entry point runs.
dependencies = ['cv2', 'mmcv', 'mmengine', 'numpy', 'torch', 'torchvision']

_REPO = osp.dirname(osp.abspath(__file__))


def segkit(config: str,
           checkpoint: typing.Optional[str] = None,
           **kwargs: typing.Any) -> _BaseSegmentor:
    """A segmentor in eval mode with the checkpoint's weights, ready for
    ``segkit.apis.inference``.

    Args:
        config: A config file: absolute, relative to the current directory,
            or relative to this repository (``configs/unet_camvid.py``).
        checkpoint: A ``.pth`` file that ``tools/train.py`` wrote; ``None``
            keeps the initial weights.
        **kwargs: ``device``, ``cfg_options``, ``strict`` of
            :func:`segkit.apis.init_model`.

    Returns:
        The model of :func:`segkit.apis.init_model`.
    """
    path = config if osp.isfile(config) else osp.join(_REPO, config)
    return _init_model(path, checkpoint, **kwargs)
