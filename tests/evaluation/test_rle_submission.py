import numpy as np
import pytest
import torch

from segkit.datasets.rle import read_rle_csv, rle_decode
from segkit.evaluation.metrics import RLESubmission


def sample(name: str, pred: np.ndarray) -> dict:
    return dict(img_path=f'/data/test/{name}',
                pred_sem_seg=dict(data=torch.from_numpy(pred)[None]))


def test_rows_decode_back_to_the_predictions(tmp_path):
    rng = np.random.default_rng(0)
    preds = {'a_01.jpg': rng.integers(0, 2, (7, 11)),
             'a_02.jpg': np.zeros((7, 11), np.int64)}
    out = tmp_path / 'sub' / 'submission.csv'
    metric = RLESubmission(out_file=str(out))
    metric.process({}, [sample(n, p) for n, p in preds.items()])
    assert metric.compute_metrics(metric.results) == {'submission_rows': 2.0}
    rows = read_rle_csv(str(out))
    assert list(rows) == list(preds)  # dataset order
    assert rows['a_02.jpg'] == ''
    for name, pred in preds.items():
        np.testing.assert_array_equal(rle_decode(rows[name], pred.shape),
                                      pred)
    assert out.read_text().splitlines()[0] == 'img,rle_mask'
    assert [p.name for p in out.parent.iterdir()] == ['submission.csv']


def test_out_file_must_be_a_csv():
    with pytest.raises(ValueError, match="'sub.json' should be a .csv"):
        RLESubmission(out_file='sub.json')
