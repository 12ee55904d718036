from .config import ConfigKeyError, load_config

__all__ = ['ConfigKeyError', 'load_config']
