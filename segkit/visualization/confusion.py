"""A confusion matrix as a picture: which classes the model mistakes for
which, the one view per-class scores cannot give."""
import io
from typing import List, Optional, Sequence, Tuple

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

# Up to this many classes, each cell is labelled with its percentage.
ANNOTATED_CLASSES = 20


def row_normalised(matrix: Sequence[Sequence[float]]) -> np.ndarray:
    """Each ground-truth row divided by its pixel count (the diagonal is
    the class's recall, ``Acc``); a class with no pixels is a row of NaN."""
    counts = np.asarray(matrix, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(totals > 0, counts / totals, np.nan)


def most_confused(matrix: Sequence[Sequence[float]]
                  ) -> List[Optional[Tuple[int, float]]]:
    """For each ground-truth class, the other class its pixels are most
    often predicted as.

    Args:
        matrix: ``(C, C)`` pixel counts, rows ground truth, ``C >= 2``.

    Returns:
        Per class, ``(other class, share of the class's pixels predicted as
        it)``; the share is 0 for a class never mistaken (the other class is
        then the first one), and the entry ``None`` for a class without
        ground-truth pixels. Equal shares go to the lower class id.
    """
    shares = row_normalised(matrix)
    labelled = ~np.isnan(shares).all(axis=1)
    np.fill_diagonal(shares, -1.0)  # never the class itself
    return [(int(row.argmax()), float(row.max())) if has_pixels else None
            for row, has_pixels in zip(shares, labelled)]


def render_confusion_png(matrix: Sequence[Sequence[float]],
                         classes: Sequence[str], title: str) -> bytes:
    """The row-normalised matrix as a heatmap (rows: ground truth, columns:
    prediction), drawn on a private Agg canvas.

    Args:
        matrix: ``(C, C)`` pixel counts, rows ground truth.
        classes: The ``C`` class names.
        title: Drawn above the matrix.

    Returns:
        PNG bytes.
    """
    shares = row_normalised(matrix)
    n = len(classes)
    if shares.shape != (n, n):
        raise ValueError(f'confusion matrix of shape {shares.shape} for '
                         f'{n} classes')
    # The matrix gets a fixed share of the figure; the title, tick labels
    # and colour bar go around it and the saved picture is cut to all of
    # them ('tight'), so a long title or class name widens the picture
    # instead of being clipped or squeezing the matrix.
    side = min(12.0, 1.5 + 0.4 * n)
    fig = Figure(figsize=(side, side), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
    image = ax.imshow(shares, cmap='Blues', vmin=0.0, vmax=1.0)
    colour_bar = fig.add_axes((1.03, 0.0, 0.05, 1.0))
    fig.colorbar(image, cax=colour_bar,
                 label='share of the ground-truth class')
    labels = [name.replace('$', r'\$') for name in classes]
    ax.set_xticks(range(n), labels, rotation=90, fontsize='small')
    ax.set_yticks(range(n), labels, fontsize='small')
    ax.set_xlabel('prediction')
    ax.set_ylabel('ground truth')
    ax.set_title(title.replace('$', r'\$'))
    if n <= ANNOTATED_CLASSES:
        for (row, col), share in np.ndenumerate(shares):
            if not np.isnan(share) and share >= 0.005:
                ax.text(col, row, f'{100 * share:.0f}', ha='center',
                        va='center', fontsize='x-small',
                        color='white' if share > 0.5 else 'black')
    buf = io.BytesIO()
    fig.savefig(buf, format='png', metadata={'Software': None},
                bbox_inches='tight', pad_inches=0.1)
    return buf.getvalue()
