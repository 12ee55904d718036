from .base import BaseSegmentor

__all__ = ['BaseSegmentor']
