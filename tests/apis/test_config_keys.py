"""The --cfg-options key checker: every key a component accepts passes,
a misspelt one is refused up front with the closest valid name."""
from dataclasses import dataclass
from typing import Optional, Union

import pytest
from mmengine.config import Config
from torch import nn

from segkit.apis.config import apply_overrides
from segkit.apis.component_args import accepted_params
from segkit.apis.config_keys import ConfigKeyError, check_override_key
from segkit.registry import MODELS
from segkit.utils import ConfigValueError, SegkitUserError

PATH = 'toy.py'


@dataclass(frozen=True)
class ToyTestConfig:
    mode: str = 'whole'
    stride: Optional[int] = None

    def __post_init__(self):
        if self.mode not in ('whole', 'slide'):
            raise ValueError(f'test_cfg mode={self.mode!r}: expected one of '
                             "('whole', 'slide')")


class ToyBase(nn.Module):

    def __init__(self, num_classes: int,
                 test_cfg: Union[None, dict, ToyTestConfig] = None):
        super().__init__()


@MODELS.register_module(force=True)
class KeyCheckToyNet(ToyBase):

    def __init__(self, width: int = 8, backbone: Optional[dict] = None,
                 **kwargs):
        super().__init__(**kwargs)


@MODELS.register_module(force=True)
class KeyCheckToyBackbone(nn.Module):

    def __init__(self, depth: int = 4, base_channels: int = 64):
        super().__init__()


@MODELS.register_module(force=True)
class KeyCheckOpenNet(nn.Module):
    """Its **kwargs go to nn.Module and on to object: nothing to resolve."""

    def __init__(self, **kwargs):
        super().__init__()


class OwnStep:
    """A step a component builds itself, named like a registered one."""

    def __init__(self, size: int, steps: tuple = ()):
        pass


@MODELS.register_module(force=True)
class KeyCheckOwnSteps(nn.Module):
    """Builds ``steps`` itself: their ``type`` names an OwnStep, not a
    registered component."""

    config_types = {'steps': {'KeyCheckToyBackbone': OwnStep}.get}

    def __init__(self, steps: tuple = ()):
        super().__init__()


def toy_config(**model) -> Config:
    return Config(dict(
        model=dict(type='KeyCheckToyNet', num_classes=2,
                   backbone=dict(type='KeyCheckToyBackbone', depth=3),
                   **model),
        train_cfg=dict(by_epoch=False, max_iters=10, val_interval=5),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3)),
        param_scheduler=[dict(type='LinearLR', by_epoch=False, end=5)],
        train_dataloader=dict(
            batch_size=2,
            dataset=dict(type='CamVidDataset', data_root='x',
                         data_prefix=dict(img_path='train'))),
        custom_hooks=[dict(type='CheckpointFitHook')]))


def refusal(key, value=None, cfg=None) -> str:
    with pytest.raises(SegkitUserError) as info:
        check_override_key(cfg or toy_config(), key, PATH, value)
    return str(info.value)


@pytest.mark.parametrize('key', [
    'model.width',  # the class's own argument, left at its default
    'model.num_classes',  # the parent's, reached through **kwargs
    'model.test_cfg.stride',  # a field of the config dataclass
    'model.backbone.base_channels',  # a nested component's argument
    'train_cfg.val_begin',  # the loop a typeless train_cfg builds
    'train_dataloader.prefetch_factor',  # torch's DataLoader
    'train_dataloader.dataset.data_prefix.seg_map_path',  # a TypedDict key
    'train_dataloader.dataset.on_bad_sample',  # the dataset's base class
    'optim_wrapper.optimizer.betas',  # torch's AdamW
    'optim_wrapper.paramwise_cfg',  # taken by the optimiser constructor
    'custom_hooks.0.strict',
    'experiment_name',  # a Runner argument the config leaves out
])
def test_every_key_the_component_accepts_passes(key):
    check_override_key(toy_config(), key, PATH, 1)


@pytest.mark.parametrize('key, message', [
    ('model.widht', "model (KeyCheckToyNet) of toy.py has no key 'widht'; "
     "did you mean 'model.width'?"),
    ('model.num_clases', "did you mean 'model.num_classes'?"),
    ('train_cfg.max_iter', "train_cfg (IterBasedTrainLoop) of toy.py has no "
     "key 'max_iter'; did you mean 'train_cfg.max_iters'?"),
    ('model.test_cfg.mdoe', "model.test_cfg (ToyTestConfig) of toy.py has "
     "no key 'mdoe'; did you mean 'model.test_cfg.mode'?"),
    ('train_dataloader.dataset.data_prefix.img_pth',
     "did you mean 'train_dataloader.dataset.data_prefix.img_path'?"),
    ('custom_hooks.0.strit', "did you mean 'custom_hooks.0.strict'?"),
    # moved one level down: the hint names where it went
    ('model.base_channels', "model (KeyCheckToyNet) of toy.py has no key "
     "'base_channels'; did you mean 'model.backbone.base_channels'?"),
])
def test_misspelt_key_is_refused_with_the_closest_name(key, message):
    assert refusal(key).endswith(message)
    assert refusal(key).startswith(f'--cfg-options {key}: ')


def test_key_below_a_value_that_is_not_a_dict_is_refused():
    assert refusal('optim_wrapper.optimizer.betas.x') == (
        '--cfg-options optim_wrapper.optimizer.betas.x: '
        'optim_wrapper.optimizer.betas of toy.py is (0.9, 0.999) by '
        "default, not a dict, so it has no key 'x'")
    assert 'is 10, not a dict' in refusal('train_cfg.max_iters.x')


def test_list_index_out_of_range_is_refused():
    assert refusal('param_scheduler.3.end') == (
        '--cfg-options param_scheduler.3.end: param_scheduler of toy.py is a '
        "list of 1; expected an index 0 to 0, got '3'")


def test_kwargs_that_nothing_resolves_accept_any_key():
    cfg = toy_config()
    cfg.model = dict(type='KeyCheckOpenNet')
    check_override_key(cfg, 'model.anything', PATH, 1)
    assert accepted_params(KeyCheckOpenNet)[1] is False
    params, complete = accepted_params(KeyCheckToyNet)
    assert complete and set(params) == {'width', 'backbone', 'num_classes',
                                        'test_cfg'}
    assert params['test_cfg'].schema is ToyTestConfig


def test_whole_dict_value_has_its_keys_checked():
    check_override_key(toy_config(), 'model.test_cfg', PATH,
                       dict(mode='slide', stride=4))
    assert refusal('model.test_cfg', dict(mdoe='slide')).endswith(
        "did you mean 'model.test_cfg.mode'?")
    # a list of components, each checked against its own type
    assert 'did you mean \'param_scheduler.0.begin\'' in refusal(
        'param_scheduler', [dict(type='LinearLR', begn=0)])


def test_a_component_that_builds_its_configs_resolves_their_types():
    cfg = toy_config()
    cfg.model.backbone = dict(type='KeyCheckOwnSteps', steps=[
        dict(type='KeyCheckToyBackbone', size=3)])
    check_override_key(cfg, 'model.backbone.steps.0.size', PATH, 4)
    # KeyCheckToyBackbone's own argument is not OwnStep's.
    assert refusal('model.backbone.steps.0.depth', 3, cfg).endswith(
        "has no key 'depth'; expected one of: size, steps")
    # The whole list, its types resolved alike and at any depth below;
    # names only the component knows are its to refuse when built.
    step = dict(type='KeyCheckToyBackbone', size=1)
    check_override_key(cfg, 'model.backbone.steps', PATH,
                       [dict(step, steps=[step]), dict(type='KeyCheckNet')])
    assert "no key 'depth'" in refusal('model.backbone.steps', [dict(
        step, steps=[dict(step, depth=2)])], cfg)


def test_unknown_type_is_refused_with_the_closest_registered_name():
    message = refusal('model.type', 'KeyCheckToyNett')
    assert message == ('--cfg-options model.type=KeyCheckToyNett: no '
                       'registered component has that name; did you mean '
                       "'KeyCheckToyNet'?")


def test_a_type_that_names_no_component_passes_unless_misspelt():
    # MMEngine's ProfilerHook takes a handler's name as a nested 'type'.
    hook = dict(type='ProfilerHook', by_epoch=False,
                on_trace_ready=dict(type='log_trace', row_limit=20))
    assert check_override_key(toy_config(), 'custom_hooks', PATH,
                              [hook]) == []
    assert "did you mean 'ProfilerHook'?" in refusal(
        'custom_hooks', [{**hook, 'type': 'ProfilerHok'}])


def test_dataclass_values_are_checked_once_merged():
    cfg = toy_config()
    with pytest.raises(ConfigValueError) as info:
        apply_overrides(cfg, {'model.test_cfg.mode': 'slyde'}, PATH)
    assert str(info.value) == (
        "--cfg-options model.test_cfg of toy.py: test_cfg mode='slyde': "
        "expected one of ('whole', 'slide')")
    apply_overrides(cfg, {'model.test_cfg': dict(mode='slide', stride=2)},
                    PATH)
    assert cfg.model.test_cfg == dict(mode='slide', stride=2)


def test_errors_are_user_errors():
    with pytest.raises(ConfigKeyError):
        check_override_key(toy_config(), 'nope', PATH)
    assert issubclass(ConfigKeyError, (SegkitUserError, KeyError))


@pytest.mark.parametrize('key, value, message', [
    ('optim_wrapper.optimizer.lr', 'abc', "lr='abc': expected a number, "
     'like its value in toy.py, 0.001'),
    ('train_cfg.max_iters', [1, 2], 'expected a number'),
    ('model.width', 'wide', 'expected a number'),  # the class's default
    ('custom_hooks.0.strict', 'yes', 'expected a bool'),
])
def test_a_value_of_another_kind_than_the_key_holds_is_refused(
        key, value, message):
    with pytest.raises(ConfigValueError) as info:
        check_override_key(toy_config(), key, PATH, value)
    assert message in str(info.value)


@pytest.mark.parametrize('key, value', [
    ('optim_wrapper.optimizer.lr', 1),  # an int for a float
    ('optim_wrapper.optimizer.lr', None),
    ('custom_hooks.0.strict', 0),  # a number for a bool
    ('train_cfg.max_iters', 'auto'),  # the word a log interval takes
    ('model.backbone', dict(depth=2)),  # not a scalar: only keys checked
    ('train_dataloader.dataset.data_root', 'y'),
])
def test_a_value_of_the_same_kind_passes(key, value):
    check_override_key(toy_config(), key, PATH, value)
