from .formatting import PackSegInputs

__all__ = ['PackSegInputs']
