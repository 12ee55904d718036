"""A bar chart of how often each class occurs, in the dataset's colours."""
import io
from typing import Optional, Sequence, Tuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .palette import class_palette


def render_class_frequencies(
        classes: Sequence[str], shares: Sequence[float],
        palette: Optional[Sequence[Sequence[int]]] = None,
        extra: Sequence[Tuple[str, float]] = (),
        title: str = 'class frequencies') -> bytes:
    """PNG bytes of one horizontal bar per class (its share of the pixels,
    in percent, written beside it so that rare classes read too), coloured
    as the visualiser colours the class, then grey bars for ``extra``.

    Args:
        classes: Class names, top to bottom.
        shares: Fraction of all pixels of each class.
        palette: RGB per class; the visualiser's default colours if None.
        extra: ``(label, share)`` of what is no class, e.g. void.
        title: The chart's title.
    """
    if len(classes) != len(shares):
        raise ValueError(f'{len(classes)} classes for {len(shares)} shares')
    labels = list(classes) + [label for label, _ in extra]
    colours = np.full((len(labels), 3), 160, np.uint8)
    colours[:len(classes)] = class_palette(list(classes), palette)
    percent = 100 * np.array(list(shares) + [s for _, s in extra],
                             dtype=np.float64)
    fig = Figure(figsize=(7, 0.35 * len(labels) + 1.2), dpi=100,
                 layout='constrained')
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    rows = np.arange(len(labels))
    ax.barh(rows, percent, color=colours / 255, edgecolor='black',
            linewidth=0.5)
    for row, value in zip(rows, percent):
        ax.text(value, row, f' {value:.2f}%', va='center', fontsize='small')
    ax.set_yticks(rows, [name.replace('$', r'\$') for name in labels])
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15 * max(percent.max(), 1e-9))  # room for the labels
    ax.set_xlabel('share of pixels (%)')
    ax.set_title(title.replace('$', r'\$'))
    ax.grid(axis='x', alpha=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format='png', metadata={'Software': None})
    return buf.getvalue()
