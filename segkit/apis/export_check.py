"""Does an exported ONNX file compute what the PyTorch model computes?
Logits and classes compared on real images, at two sizes when the export
is dynamic."""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from mmengine.dataset import pseudo_collate

from segkit.models import BaseSegmentor
from segkit.models.segmentors.ort_segmentor import ort_session
from .export import EXAMPLE_STEPS, ExportOptions
from .inference import _test_pipeline

# Targets: pixels whose class agrees, and the largest logit difference.
MIN_AGREEMENT = 0.9999
MAX_LOGIT_DIFF = 1e-3
# The second size of a dynamic check, as a fraction of the first.
SECOND_SCALE = 0.75


@dataclass(frozen=True)
class ParityRow:
    """One image at one size: ``max_diff`` is None for a class output."""
    image: str
    size: Tuple[int, int]
    max_diff: Optional[float]
    agreement: float


def _classes(model: BaseSegmentor, logits: torch.Tensor) -> np.ndarray:
    return torch.stack([model.logits_to_classes(item)[0]
                        for item in logits]).numpy()


def _views(image: torch.Tensor, options: ExportOptions,
           divisor: int) -> List[torch.Tensor]:
    """The test pipeline's uint8 ``(3, H, W)`` image as the export takes
    it: as is and at a second size when dynamic, else resized to
    ``options.shape`` (the raw size with preprocessing, else the padded
    one)."""
    hwc = np.ascontiguousarray(image.permute(1, 2, 0).numpy())
    if options.dynamic and options.shape is None:
        height, width = hwc.shape[:2]
        sizes = [None, (max(1, round(width * SECOND_SCALE)),
                        max(1, round(height * SECOND_SCALE)))]
    else:
        height, width = options.shape or tuple(divisor * s
                                               for s in EXAMPLE_STEPS)
        sizes = [(width, height)]
    return [image if size is None else torch.from_numpy(
        cv2.resize(hwc, size, interpolation=cv2.INTER_AREA).reshape(
            size[1], size[0], -1)).permute(2, 0, 1) for size in sizes]


def check_parity(model: BaseSegmentor, onnx_file: str,
                 images: Sequence[Tuple[str, np.ndarray]],
                 options: ExportOptions) -> List[ParityRow]:
    """Run each ``(name, BGR uint8 image)`` through the config's test
    pipeline (then :func:`_views`) and data preprocessor, then PyTorch's
    fp32 ``tensor`` forward and the ONNX file in onnxruntime, and compare.

    With ``--with-preprocess`` onnxruntime gets the pipeline's uint8 image
    and its output is compared with PyTorch's unpadded logits. Classes
    are argmax (or the threshold) of either side's logits, or the graph's
    own output with ``--with-argmax``.
    """
    session = ort_session(onnx_file)
    input_name = session.get_inputs()[0].name
    pipeline = _test_pipeline(model.cfg, from_array=True)
    divisor = model.data_preprocessor.pad_size_divisor
    rows = []
    for name, image in images:
        item = pipeline(dict(img=image, img_index=0))
        for view in _views(item['inputs'], options, divisor):
            batch = [dict(item, inputs=view)] * options.batch
            with torch.inference_mode():
                inputs = model.data_preprocessor(pseudo_collate(batch),
                                                 False)['inputs']
                reference = model(inputs.contiguous(), mode='tensor').float()
            height, width = view.shape[-2:]
            if options.with_preprocess:
                feed = np.stack([x['inputs'].permute(1, 2, 0).numpy()
                                 for x in batch])
                reference = reference[..., :height, :width]
            else:
                feed = inputs.contiguous().numpy()
            output = session.run(None, {input_name: feed})[0]
            expected = _classes(model, reference)
            if options.with_argmax:
                diff, got = None, output
            else:
                diff = float(np.abs(output - reference.numpy()).max())
                got = _classes(model, torch.from_numpy(output))
            rows.append(ParityRow(name, (int(height), int(width)), diff,
                                  float((got == expected).mean())))
    return rows


def parity_ok(rows: Sequence[ParityRow]) -> bool:
    """Every row meets :data:`MIN_AGREEMENT` and :data:`MAX_LOGIT_DIFF`."""
    return all(r.agreement >= MIN_AGREEMENT and
               (r.max_diff is None or r.max_diff < MAX_LOGIT_DIFF)
               for r in rows)


def format_parity(rows: Sequence[ParityRow]) -> str:
    """A row per image and size, then the verdict against the targets."""
    width = max([len(r.image) for r in rows] + [5])
    lines = [f'{"image":{width}}  {"HxW":>9}  {"max |logit diff|":>16}  '
             f'{"argmax agreement":>16}']
    for r in rows:
        diff = '-' if r.max_diff is None else f'{r.max_diff:.2e}'
        lines.append(f'{r.image:{width}}  {r.size[0]:>4}x{r.size[1]:<4}  '
                     f'{diff:>16}  {100 * r.agreement:>15.4f}%')
    verdict = 'OK' if parity_ok(rows) else 'FAILED'
    lines.append(f'{verdict}: targets argmax agreement >= '
                 f'{100 * MIN_AGREEMENT:.2f}% and max |logit diff| < '
                 f'{MAX_LOGIT_DIFF:g} vs PyTorch fp32')
    return '\n'.join(lines)
