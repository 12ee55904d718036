"""The confusion matrix picture: nothing drawn around the matrix (title,
class names, colour bar and its label) is cut off by the picture's edge."""
import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from segkit.visualization.confusion import render_confusion_png

COLOUR_BAR_LABEL = 'share of the ground-truth class'


def text_size(text: str, **style) -> tuple:
    """``text``'s ``(width, height)`` in pixels as matplotlib draws it at
    100 dpi, measured by its own renderer."""
    fig = Figure(dpi=100)
    FigureCanvasAgg(fig)
    box = fig.text(0, 0, text, **style).get_window_extent(
        fig.canvas.get_renderer())
    return box.width, box.height


@pytest.mark.parametrize('classes, title', [
    # A binary task with the report's title: the title was wider than the
    # picture and lost both ends.
    (('background', 'car'), 'confusion matrix (validation at iteration 4)'),
    # Long class names squeezed the matrix and pushed the colour bar's
    # label past the right edge.
    (('a class with a very long name indeed', 'and another long name'),
     'confusion matrix (test)'),
    (tuple(f'class {i}' for i in range(30)), 'confusion matrix (test)'),
])
def test_nothing_around_the_matrix_is_cut(classes, title):
    n = len(classes)
    counts = np.random.default_rng(0).integers(0, 100, (n, n))
    png = render_confusion_png(counts, classes, title)
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert('L'))
    height, width = pixels.shape
    # Ink on the picture's edge is text or a drawing cut by it.
    edge = np.concatenate([pixels[:3].ravel(), pixels[-3:].ravel(),
                           pixels[:, :3].ravel(), pixels[:, -3:].ravel()])
    assert edge.min() > 250, 'something touches the edge of the picture'
    # The whole title fits, and the colour bar's label, drawn vertically,
    # fits the height.
    assert width > text_size(title, fontsize='large')[0]
    assert height > text_size(COLOUR_BAR_LABEL, rotation=90)[1]
    # The title is drawn: dark text along the top.
    assert (pixels[:40] < 100).sum() > 50, 'no title at the top'
