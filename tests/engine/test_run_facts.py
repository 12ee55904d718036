"""Run facts that a config's own numbers decide: the training crop, the
size the model pads it to, and the console's warning where they differ."""
import pytest
from mmengine.config import Config
from mmengine.logging import MessageHub
from torch import nn

from segkit.engine.hooks import ConsoleHook
from segkit.engine.run_facts import FACTS_KEY, padding_facts, train_crop_size
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


def test_the_console_warns_of_a_padded_crop_with_the_numbers_to_fix():
    class Logger:
        def __init__(self):
            self.warnings = []

        def info(self, message, **kwargs):
            pass

        def warning(self, message):
            self.warnings.append(message)

    class Runner:
        message_hub = MessageHub.get_instance('test_padded_crop')
        logger = Logger()

    cfg = Config.fromfile('configs/unet_r18_carvana_quick.py')
    facts = dict(mode='train', precision='fp32', work_dir='w', log_dir='w/1',
                 machine=dict(cpu='a CPU', threads=2, cpus=2),
                 padding=padding_facts(cfg, model_with_divisor(32)))
    Runner.message_hub.update_info(FACTS_KEY, facts)
    ConsoleHook().before_train(Runner())
    assert Runner.logger.warnings == [
        'train_dataloader: RandomCrop crop_size=(176, 240) is padded to '
        "192x256 for the model's size_divisor=32: 14% of every batch is "
        'padding, computed but never learnt from; expected a crop_size that '
        'is a multiple of 32']
