"""The worst images and the empty-frame false positives, from scripted
scores and hand-made confusion matrices."""
import math
import tracemalloc

import torch

from segkit.evaluation.failures import (empty_frame_false_positives,
                                        empty_frames, worst_images)

NAN = math.nan


def test_the_n_lowest_scores_lowest_first_ties_in_order_nan_never():
    scores = [0.9, 0.2, NAN, 0.5, 0.2, 0.0, 1.0]
    assert worst_images(scores, 3) == [(5, 0.0), (1, 0.2), (4, 0.2)]
    assert worst_images(scores, 4) == [(5, 0.0), (1, 0.2), (4, 0.2),
                                       (3, 0.5)]
    # more asked than scored: every scored image, NaN still left out
    assert [i for i, _ in worst_images(scores, 10)] == [5, 1, 4, 3, 0, 6]
    assert worst_images(scores, 0) == []
    assert worst_images(torch.tensor([0.5, 0.25]).tolist(), 1) == [(1, 0.25)]


def test_a_stream_of_scores_is_read_keeping_n_of_them():
    n, total = 3, 200_000

    def stream():
        for i in range(total):  # lowest at 7, 150_000, 199_999
            yield {7: 0.01, 150_000: 0.02, total - 1: 0.0}.get(
                i, 0.5 + (i % 1000) / 4000)

    tracemalloc.start()
    try:
        worst = worst_images(stream(), n)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert worst == [(total - 1, 0.0), (7, 0.01), (150_000, 0.02)]
    # A list of every (score, index) would take some 20 MB.
    assert peak < 100_000, peak


# rows: ground truth (background, object); columns: prediction
MATRICES = torch.tensor([
    [[5, 1], [2, 8]],   # 0: an object: not an empty frame
    [[7, 3], [0, 0]],   # 1: empty, 3 object pixels predicted
    [[10, 0], [0, 0]],  # 2: empty, nothing predicted: right
    [[1, 9], [0, 0]],   # 3: empty, 9 predicted
    [[0, 0], [0, 0]],   # 4: every pixel ignored: empty, nothing predicted
    [[2, 3], [0, 0]],   # 5: empty, 3 predicted (as many as 1)
])


def test_empty_frames_are_those_without_object_pixels_in_the_truth():
    assert empty_frames(MATRICES).tolist() == [False, True, True, True,
                                               True, True]


def test_false_positives_on_empty_frames_most_pixels_first():
    assert empty_frame_false_positives(MATRICES) == [(3, 9), (1, 3), (5, 3)]
    assert empty_frame_false_positives(MATRICES[:1]) == []
