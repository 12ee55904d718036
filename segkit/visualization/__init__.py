"""Drawing samples: palettes, the side-by-side panel, the dataset browser."""
from .browse import browse_dataset, packed_to_rgb
from .files import UniqueStems, read_rgb, write_rgb
from .palette import (BINARY_PALETTE, IGNORE_COLOUR, IGNORE_INDEX,
                      class_palette, palette_lut)
from .seg_local_visualizer import SegLocalVisualizer, legend_entries
from .vis_backends import MLflowVisBackend, WandbVisBackend

__all__ = [
    'BINARY_PALETTE', 'IGNORE_COLOUR', 'IGNORE_INDEX', 'MLflowVisBackend',
    'SegLocalVisualizer', 'UniqueStems', 'WandbVisBackend', 'browse_dataset',
    'class_palette', 'legend_entries', 'packed_to_rgb', 'palette_lut',
    'read_rgb', 'write_rgb'
]
