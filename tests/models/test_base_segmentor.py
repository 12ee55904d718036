"""BaseSegmentor's post-processing and loss plumbing, checked exactly.

An echo segmentor (logits = inputs) lets each test craft the logits, so
crop, un-flip and resize can be compared pixel for pixel.
"""
import pytest
import torch
import torch.nn.functional as F

from segkit.models import BaseSegmentor
from segkit.structures import SegDataSample


class Echo(BaseSegmentor):

    def forward_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs


def one_hot_logits(class_map: torch.Tensor, num_classes: int) -> torch.Tensor:
    return F.one_hot(class_map, num_classes).permute(2, 0, 1).float() * 10


@pytest.mark.parametrize('direction, dims', [
    ('horizontal', (-1, )), ('vertical', (-2, )), ('diagonal', (-2, -1))])
def test_predict_crops_padding_then_undoes_flip(direction, dims):
    torch.manual_seed(0)
    class_map = torch.randint(0, 3, (9, 13))
    logits = one_hot_logits(class_map, 3).flip(dims)
    padded = torch.zeros(1, 3, 16, 16)
    padded[:, 1] = 100  # padding confidently says class 1
    padded[0, :, :9, :13] = logits
    sample = SegDataSample(metainfo=dict(
        img_shape=(9, 13), ori_shape=(9, 13), flip=True,
        flip_direction=direction))
    result = Echo(num_classes=3)(padded, [sample], mode='predict')[0]
    assert torch.equal(result.pred_sem_seg.data, class_map[None])
    assert torch.equal(result.seg_logits.data, one_hot_logits(class_map, 3))


def test_predict_resizes_to_original_shape():
    class_map = torch.zeros(6, 8, dtype=torch.long)
    class_map[:, 4:] = 1
    sample = SegDataSample(metainfo=dict(img_shape=(6, 8),
                                         ori_shape=(12, 16)))
    result = Echo(num_classes=2)(one_hot_logits(class_map, 2)[None],
                                 [sample], mode='predict')[0]
    pred = result.pred_sem_seg.data[0]
    assert pred.shape == (12, 16)
    assert (pred[:, :7] == 0).all() and (pred[:, 9:] == 1).all()


def test_predict_without_samples_uses_input_size():
    inputs = torch.randn(2, 4, 5, 7)
    results = Echo(num_classes=4)(inputs, mode='predict')
    assert [r.pred_sem_seg.data.shape for r in results] == [(1, 5, 7)] * 2
    assert torch.equal(results[1].pred_sem_seg.data,
                       inputs[1].argmax(0, keepdim=True))


def test_a_segmentor_without_heads_says_how_to_train():
    with pytest.raises(NotImplementedError, match='train an EncoderDecoder'):
        Echo(num_classes=3)(torch.zeros(1, 3, 2, 2), [], mode='loss')


def test_data_preprocessor_config_builds_without_default_scope():
    model = Echo(num_classes=3,
                 data_preprocessor=dict(type='SegDataPreProcessor'))
    assert type(model.data_preprocessor).__name__ == 'SegDataPreProcessor'
