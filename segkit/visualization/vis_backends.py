"""MMEngine's experiment trackers, checked when built, with images that
MLflow accepts and histograms for TensorBoard and W&B.

``dict(type='WandbVisBackend', ...)`` or ``dict(type='MLflowVisBackend',
...)`` in a segkit config builds these classes (segkit's registry is
searched first); everything else is MMEngine's.
"""
import os
from typing import Any, Mapping

import numpy as np
from mmengine.config import Config
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


#: Folders of the run's starting folder whose ``.py`` files are not the
#: project's code: W&B's own and segkit's run folders (hidden folders, such
#: as ``.venv`` and ``.git``, and virtual environments are left out too).
NOT_CODE_FOLDERS = ('wandb', 'work_dirs')


def not_project_code(path: str, root: str) -> bool:
    """Whether W&B's code artifact leaves out ``path`` (a file under
    ``root``): it lies in a hidden folder, a virtual environment or one of
    :data:`NOT_CODE_FOLDERS`."""
    folder = root
    for part in os.path.relpath(path, root).split(os.sep)[:-1]:
        folder = os.path.join(folder, part)
        if part.startswith('.') or part in NOT_CODE_FOLDERS or \
                os.path.isfile(os.path.join(folder, 'pyvenv.cfg')):
            return True
    return False


@VISBACKENDS.register_module()
class WandbVisBackend(MMEngineWandb):
    """:class:`mmengine.visualization.WandbVisBackend`, refused when the
    Runner builds it if wandb is not installed (MMEngine would fail at the
    first log line, after the model and data were set up), whose code
    artifact holds the project's code only. Arguments as MMEngine's.

    MMEngine logs every ``.py`` file under the folder the run started in:
    with the ``.venv`` that ``tools/setup_env.sh`` makes in the checkout,
    some 15,000 files of installed packages, copied into each run (20 s).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        check_extra('wandb', 'WandbVisBackend')
        super().__init__(*args, **kwargs)

    @force_init_env
    def add_config(self, config: Config, **kwargs: Any) -> None:
        """Record ``config`` as MMEngine does, and the code under the
        current folder less what :func:`not_project_code` leaves out."""
        self._wandb.config.update(config.to_dict(), allow_val_change=(
            self._init_kwargs.get('allow_val_change', False)))
        self._wandb.run.log_code(name=self._log_code_name,
                                 exclude_fn=not_project_code)


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
