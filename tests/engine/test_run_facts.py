"""Run facts that a config's own numbers decide: the training crop and the
batch size the model pads it to."""
import pytest
from mmengine.config import Config
from torch import nn

from segkit.engine.run_facts import padding_facts, train_crop_size
from segkit.models import SegDataPreProcessor


def model_with_divisor(divisor: int) -> nn.Module:
    model = nn.Module()
    model.data_preprocessor = SegDataPreProcessor(size_divisor=divisor)
    return model


def test_the_crop_is_the_last_random_crop_of_the_training_pipeline():
    cfg = Config.fromfile('configs/unet_r18_carvana_quick.py')
    assert train_crop_size(cfg) == (176, 240)
    assert train_crop_size(Config(dict(train_dataloader=dict(dataset=dict(
        pipeline=[dict(type='RandomCrop', crop_size=64)]))))) == (64, 64)
    assert train_crop_size(Config(dict())) is None


@pytest.mark.parametrize('divisor, padded', [(16, None), (32, (192, 256))])
def test_a_crop_off_the_model_divisor_is_reported_with_its_waste(
        divisor, padded):
    cfg = Config.fromfile('configs/unet_r18_carvana_quick.py')
    facts = padding_facts(cfg, model_with_divisor(divisor))
    if padded is None:
        assert facts is None
    else:
        assert facts['crop'] == [176, 240] and facts['padded'] == [*padded]
        assert facts['share'] == pytest.approx(1 - 176 * 240 / (192 * 256))
