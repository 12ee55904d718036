"""segkit: config-driven semantic segmentation experiments on MMEngine."""
__version__ = '0.1.0'

# Checkpoint safety must hold for every load in the process, however segkit
# got imported: the weights-only allow-list, the refusing CheckpointLoader
# schemes and the atomic file backend are installed on import of
# segkit.engine.checkpoint, and MMEngine imports ``segkit.registry`` (hence
# this file) as soon as a Runner runs with ``default_scope='segkit'``.
from .engine import checkpoint as _checkpoint  # noqa: E402,F401
