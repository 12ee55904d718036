from types import SimpleNamespace

import pytest

from segkit.engine.hooks import NumClassCheckHook
from segkit.utils import ConfigValueError


def runner_with(num_classes: int, classes: tuple) -> SimpleNamespace:
    loader = SimpleNamespace(dataset=SimpleNamespace(
        metainfo=dict(classes=classes)))
    return SimpleNamespace(model=SimpleNamespace(num_classes=num_classes),
                           train_dataloader=loader, val_dataloader=loader,
                           test_dataloader=loader)


@pytest.mark.parametrize('num_classes,classes', [
    (3, ('a', 'b', 'c')), (1, ('background', 'car')), (2, ('bg', 'car'))])
def test_matching_model_and_dataset_pass(num_classes, classes):
    runner = runner_with(num_classes, classes)
    hook = NumClassCheckHook()
    hook.before_train(runner)
    hook.before_val(runner)
    hook.before_test(runner)


def test_mismatch_names_both_counts_and_the_fix():
    with pytest.raises(ConfigValueError,
                       match=r'model.num_classes=5 but the train '
                       r"dataset .* has 11 classes .*'Sky'.*set "
                       r'model.num_classes=11'):
        NumClassCheckHook().before_train(
            runner_with(5, ('Sky', ) + tuple('bcdefghijk')))


def test_encoder_decoder_mismatch_names_the_decode_head_key():
    runner = runner_with(5, ('a', 'b', 'c'))
    runner.model.decode_head = object()
    with pytest.raises(ValueError, match=r'model.decode_head.num_classes=5 '
                       r'.*set model.decode_head.num_classes=3$'):
        NumClassCheckHook().before_test(runner)


def test_binary_mismatch_suggests_a_sigmoid_head():
    with pytest.raises(ValueError, match='or 1 for a single sigmoid'):
        NumClassCheckHook().before_val(runner_with(3, ('bg', 'car')))
