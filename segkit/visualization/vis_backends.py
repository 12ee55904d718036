"""MMEngine's experiment trackers, checked when built, with images that
MLflow accepts and histograms for TensorBoard and W&B.

``dict(type='WandbVisBackend', ...)`` or ``dict(type='MLflowVisBackend',
...)`` in a segkit config builds these classes (segkit's registry is
searched first); everything else is MMEngine's.
"""
from typing import Any, Mapping

import numpy as np
from mmengine.visualization import BaseVisBackend
from mmengine.visualization import MLflowVisBackend as MMEngineMLflow
from mmengine.visualization import TensorboardVisBackend
from mmengine.visualization import WandbVisBackend as MMEngineWandb
from mmengine.visualization.vis_backend import force_init_env

from segkit.registry import VISBACKENDS
from segkit.utils.extras import check_extra

#: The backends :func:`add_histograms` writes to (segkit's
#: :class:`WandbVisBackend` subclasses MMEngine's).
HISTOGRAM_BACKENDS = (TensorboardVisBackend, MMEngineWandb)


@VISBACKENDS.register_module()
class WandbVisBackend(MMEngineWandb):
    """:class:`mmengine.visualization.WandbVisBackend`, refused when the
    Runner builds it if wandb is not installed (MMEngine would fail at the
    first log line, after the model and data were set up). Arguments as
    MMEngine's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        check_extra('wandb', 'WandbVisBackend')
        super().__init__(*args, **kwargs)


@VISBACKENDS.register_module()
class MLflowVisBackend(MMEngineMLflow):
    """:class:`mmengine.visualization.MLflowVisBackend`, checked when built
    as :class:`WandbVisBackend` is, whose ``add_image`` logs each panel as
    an image series under its name, one entry per step.

    MMEngine passes the name as MLflow's ``artifact_file``, which must end
    in an image suffix: SegVisHook's ``val/<image>`` names are refused
    (``unknown file extension``), and every validation would overwrite the
    last one's file. ``log_image(key=..., step=...)`` keeps them all, and
    the MLflow UI shows them on a step slider.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        check_extra('mlflow', 'MLflowVisBackend')
        super().__init__(*args, **kwargs)

    @force_init_env
    def add_image(self, name: str, image: np.ndarray, step: int = 0,
                  **kwargs: Any) -> None:
        """Record an RGB uint8 ``image`` as ``name`` at ``step``."""
        self._mlflow.log_image(image, key=name, step=step)


def add_histograms(backend: BaseVisBackend,
                   histograms: Mapping[str, np.ndarray], step: int) -> None:
    """Record a histogram of each array in ``histograms`` under its name.

    MMEngine's backends have no histogram API, so this writes through the
    backend's ``experiment``: TensorBoard's ``SummaryWriter.add_histogram``
    at ``step``; for W&B one ``wandb.log`` row of ``wandb.Histogram`` s with
    ``iter=step``, as MMEngine's rows of scalars carry it (W&B counts its
    own steps).

    Args:
        backend: One of :data:`HISTOGRAM_BACKENDS`.
        histograms: Name to values, of any shape.
        step: The training iteration.

    Raises:
        TypeError: ``backend`` takes no histograms.
    """
    if isinstance(backend, TensorboardVisBackend):
        for name, values in histograms.items():
            backend.experiment.add_histogram(name, values, step)
    elif isinstance(backend, MMEngineWandb):
        wandb = backend.experiment
        wandb.log({'iter': step, **{name: wandb.Histogram(values)
                                    for name, values in histograms.items()}})
    else:
        raise TypeError(f'{type(backend).__name__} takes no histograms: '
                        f'expected one of {HISTOGRAM_BACKENDS}')
