"""segkit: config-driven semantic segmentation experiments on MMEngine."""
__version__ = '0.1.0'
