"""Write predictions as a Kaggle RLE submission instead of scoring them."""
import os.path as osp
from typing import Any, Dict, List, Sequence, Tuple

from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from segkit.datasets.csv_table import write_csv
from segkit.datasets.rle import CSV_HEADER, rle_encode
from segkit.registry import METRICS


@METRICS.register_module()
class RLESubmission(BaseMetric):
    """Collect each image's predicted foreground as Kaggle RLE (``img,
    rle_mask``, one row per image in dataset order) and write the csv once,
    atomically, on the main process.

    Predictions arrive at the original image size (the segmentor undoes the
    test pipeline's resize), which is what Kaggle scores. Used by
    ``tools/test.py --format-only --out submission.csv``.
    """

    default_prefix = ''

    def __init__(self, out_file: str, **kwargs) -> None:
        super().__init__(**kwargs)
        if not str(out_file).endswith('.csv'):
            raise ValueError(f'RLESubmission: out_file {out_file!r} should '
                             'be a .csv file')
        self.out_file = out_file

    def process(self, data_batch: Any, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'][0].cpu().numpy()
            self.results.append(
                (osp.basename(sample['img_path']), rle_encode(pred == 1)))

    def compute_metrics(self, results: List[Tuple[str, str]]
                        ) -> Dict[str, float]:
        """Runs on the main process only, after MMEngine gathered all ranks."""
        write_csv(self.out_file, CSV_HEADER, results)
        print_log(f'wrote {len(results)} rows to {self.out_file}',
                  logger='current')
        return dict(submission_rows=float(len(results)))
