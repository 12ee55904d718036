"""One picture per sample: input, ground truth, prediction and overlay."""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.dist import master_only
from mmengine.visualization import LocalVisBackend, Visualizer

from segkit.registry import VISUALIZERS
from segkit.structures import SegDataSample

from .files import write_rgb
from .palette import (RGBArray, check_mask, class_palette, paint,
                      palette_lut)

LegendEntry = Tuple[str, Tuple[int, int, int]]

FONT = cv2.FONT_HERSHEY_SIMPLEX
FONT_SCALE = 0.45
LINE_HEIGHT = 20  # pixels per caption or legend row
SWATCH = 12
PAD = 6
BAND_COLOUR = (32, 32, 32)
TEXT_COLOUR = (255, 255, 255)
SWATCH_BORDER = (160, 160, 160)  # shows black and white swatches alike


def legend_entries(counts: np.ndarray, classes: Sequence[str],
                   lut: RGBArray) -> List[LegendEntry]:
    """``(name, colour)`` of each id with pixels in ``counts`` (per-id
    pixel counts, summed over the drawn masks), in id order; ignore pixels
    appear as ``'ignore'``."""
    present = np.flatnonzero(counts)
    return [(classes[i] if i < len(classes) else 'ignore',
             tuple(int(c) for c in lut[i])) for i in present]


def draw_band(width: int, captions: Sequence[Tuple[int, str]],
              entries: Sequence[LegendEntry]) -> np.ndarray:
    """The strip under the tiles: one caption row (``(x, text)`` pairs),
    then the legend's swatches and names, wrapped to ``width``."""
    rows: List[List[Tuple[int, LegendEntry]]] = [[]]
    x = PAD
    for name, colour in entries:
        entry_w = SWATCH + 4 + cv2.getTextSize(name, FONT, FONT_SCALE,
                                               1)[0][0] + 2 * PAD
        if x + entry_w > width and rows[-1]:
            rows.append([])
            x = PAD
        rows[-1].append((x, (name, colour)))
        x += entry_w
    band = np.empty((LINE_HEIGHT * (1 + len(rows)) + PAD, width, 3),
                    np.uint8)
    band[:] = BAND_COLOUR
    baseline = LINE_HEIGHT - PAD
    for x, text in captions:
        cv2.putText(band, text, (x + PAD, baseline), FONT, FONT_SCALE,
                    TEXT_COLOUR, 1, cv2.LINE_AA)
    for row, placed in enumerate(rows, start=1):
        top = row * LINE_HEIGHT + (LINE_HEIGHT - SWATCH) // 2
        for x, (name, colour) in placed:
            cv2.rectangle(band, (x - 1, top - 1), (x + SWATCH, top + SWATCH),
                          SWATCH_BORDER, 1)
            band[top:top + SWATCH, x:x + SWATCH] = colour
            cv2.putText(band, name, (x + SWATCH + 4, top + SWATCH - 1), FONT,
                        FONT_SCALE, TEXT_COLOUR, 1, cv2.LINE_AA)
    return band


def _class_map(sample: SegDataSample, key: str) -> np.ndarray:
    """The ``(H, W)`` class map of ``gt_sem_seg`` or ``pred_sem_seg``."""
    data = getattr(sample, key).data
    if hasattr(data, 'cpu'):
        data = data.cpu().numpy()
    return np.asarray(data).reshape(data.shape[-2:])


@VISUALIZERS.register_module()
class SegLocalVisualizer(Visualizer):
    """Draws a segmentation sample as one side-by-side panel and sends it to
    every configured backend (local files, TensorBoard, W&B...).

    Panel layout, left to right, each tile the image's ``H x W``: input |
    ground truth | prediction | prediction over the input at opacity
    ``alpha``; tiles whose mask is not drawn (``draw_gt``/``draw_pred``
    off, or absent from the sample) are left out, so the panel is
    ``k * W`` wide with ``k`` in 1..4. Under the tiles a dark band holds
    each tile's caption and a legend of the ids present in the drawn masks
    (colour swatch and class name). Masks are painted with
    ``dataset_meta['palette']``; see :mod:`segkit.visualization.palette`
    for binary datasets and the ignore colour (255 → white).
    """

    def class_colours(self) -> Tuple[Sequence[str], RGBArray]:
        """``(classes, id → colour table)`` from ``dataset_meta``."""
        meta = self.dataset_meta or {}
        if 'classes' not in meta:
            raise KeyError(
                f"{type(self).__name__}.dataset_meta has no 'classes' (got "
                f'{sorted(meta)}): set it to the dataset\'s metainfo')
        classes = meta['classes']
        return classes, palette_lut(class_palette(classes,
                                                  meta.get('palette')))

    def draw_panel(self, image: np.ndarray, data_sample: SegDataSample,
                   draw_gt: bool = True, draw_pred: bool = True,
                   alpha: float = 0.5) -> np.ndarray:
        """The RGB uint8 panel of ``image`` (RGB ``(H, W, 3)`` uint8, the
        size of the masks) and the sample's masks."""
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f'image: expected RGB uint8 (H, W, 3), got '
                             f'{image.dtype} {image.shape}')
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha={alpha}: expected 0..1')
        classes, lut = self.class_colours()
        height, width = image.shape[:2]
        tiles = [(image, 'input')]
        counts = np.zeros(lut.shape[0], np.int64)
        for key, wanted, caption in (('gt_sem_seg', draw_gt, 'ground truth'),
                                     ('pred_sem_seg', draw_pred,
                                      'prediction')):
            if not wanted or key not in data_sample:
                continue
            mask = _class_map(data_sample, key)
            if mask.shape != (height, width):
                raise ValueError(
                    f'{key} of {data_sample.metainfo.get("img_path")} is '
                    f'{mask.shape}, the image {(height, width)}: expected '
                    'masks at the image size')
            counts += check_mask(mask, len(classes), key)
            painted = paint(mask, lut)
            tiles.append((painted, caption))
            if key == 'pred_sem_seg':
                blend = cv2.addWeighted(image, 1 - alpha, painted, alpha, 0)
                tiles.append((blend, f'overlay ({alpha:g})'))
        band = draw_band(
            width * len(tiles),
            [(i * width, caption) for i, (_, caption) in enumerate(tiles)],
            legend_entries(counts, classes, lut))
        return np.concatenate(
            [np.concatenate([tile for tile, _ in tiles], axis=1), band])

    @master_only
    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample: Optional[SegDataSample] = None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       step: int = 0,
                       out_file: Optional[str] = None,
                       alpha: float = 0.5) -> np.ndarray:
        """Draw the panel (:meth:`draw_panel`) and record it under ``name``
        at ``step`` in every backend.

        With ``out_file`` the panel is written there (PNG, atomically) and
        :class:`LocalVisBackend` s skip it, as their copy
        (``vis_image/<name>_<step>.png``) would duplicate the file; the
        other backends still receive it. Returns the panel (``None`` on
        ranks other than 0, where nothing is drawn).
        """
        panel = self.draw_panel(image, data_sample or SegDataSample(),
                                draw_gt, draw_pred, alpha)
        if out_file is not None:
            write_rgb(out_file, panel)
        for backend in self._vis_backends.values():
            if out_file is None or not isinstance(backend, LocalVisBackend):
                backend.add_image(name, panel, step)
        return panel
