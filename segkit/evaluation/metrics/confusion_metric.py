"""What IoUMetric and DiceMetric share: one confusion matrix per image,
kept with the image's path, so that the dataset and each of its images are
scored from the same counts."""
from abc import abstractmethod
from typing import Any, List, Optional, Sequence, Tuple

import torch
from mmengine.evaluator import BaseMetric
from torch import Tensor

from ..functional import confusion_matrix, seg_maps

#: One processed sample: its ``img_path`` (``None`` if it has none) and its
#: ``(C, C)`` confusion matrix.
ImageResult = Tuple[Optional[str], Tensor]


class ConfusionMetric(BaseMetric):
    """A metric counted as one CPU confusion matrix per sample (rows: ground
    truth, columns: prediction); pixels labelled ``ignore_index`` are left
    out.

    One entry per sample (not per batch) lets ``collect_results`` drop the
    samples a distributed sampler padded in. After scoring, ``confusion``
    holds the dataset's ``(C, C)`` total, ``image_confusion`` the ``(N, C,
    C)`` matrices of its images and ``image_paths`` their ``img_path`` s, in
    the order the results were collected; :meth:`score_images` scores each
    image by the subclass's rule, which :attr:`score_rule` says in words.

    Args:
        ignore_index: ground-truth value of pixels left out.
        collect_device, prefix, collect_dir: see ``BaseMetric``. Keys have
            no prefix unless one is given.
    """

    default_prefix = ''  # not None: no "prefix not set" warning, no prefix
    #: How :meth:`score_images` scores one image, for the report.
    score_rule = ''

    def __init__(self,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix,
                         collect_dir=collect_dir)
        self.ignore_index = ignore_index
        self.confusion: Optional[Tensor] = None
        self.image_confusion: Optional[Tensor] = None
        self.image_paths: List[Optional[str]] = []

    @abstractmethod
    def counted_classes(self) -> int:
        """``C``, the side of each confusion matrix."""

    @abstractmethod
    def score_images(self, confusion: Tensor) -> Tensor:
        """Each image's score from its matrix.

        Args:
            confusion: ``(N, C, C)`` per-image confusion matrices.

        Returns:
            ``(N,)`` float64 scores in ``[0, 1]``, higher is better; NaN for
            an image the rule cannot score.
        """

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Store each sample's ``(img_path, confusion matrix)``."""
        num_classes = self.counted_classes()
        for sample in data_samples:
            pred, label = seg_maps(sample)
            self.results.append(
                (sample.get('img_path'),
                 confusion_matrix(pred, label, num_classes,
                                  self.ignore_index).cpu()))

    def collect(self, results: List[ImageResult]) -> Tensor:
        """Keep the paths and matrices of ``results`` (every rank's) and
        their total; return the ``(N, C, C)`` matrices."""
        if not results:
            raise ValueError(f'{type(self).__name__}: no samples processed')
        paths, matrices = zip(*results)
        self.image_paths = list(paths)
        self.image_confusion = torch.stack(matrices)
        self.confusion = self.image_confusion.sum(0)
        return self.image_confusion
