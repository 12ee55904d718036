"""Precision-aware optimiser-wrapper selection (segkit.engine.optim)."""
import pytest
import torch
import torch.nn as nn
from mmengine.optim import AmpOptimWrapper, OptimWrapper, build_optim_wrapper
from mmengine.registry import DefaultScope

from segkit.engine.optim import precision
from segkit.engine.optim.precision import (CPUAutocastOptimWrapper,
                                           autocast_dtype,
                                           select_optim_wrapper)
from segkit.engine.hooks.nonfinite_loss_hook import skips_steps_on_device
from segkit.registry import OPTIM_WRAPPER_CONSTRUCTORS

SGD = dict(type='SGD', lr=0.1)


@pytest.fixture
def logged(monkeypatch) -> list:
    """Messages select_optim_wrapper logs."""
    messages = []
    monkeypatch.setattr(precision, 'print_log',
                        lambda msg, **kwargs: messages.append(msg))
    return messages


@pytest.fixture
def machine(monkeypatch):
    """Simulate a machine: ``machine(cuda=..., cpu_bf16=...)``."""

    def simulate(cuda: bool, cpu_bf16: bool = False,
                 cuda_bf16: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
        monkeypatch.setattr(torch.cuda, 'is_bf16_supported',
                            lambda including_emulation=True: cuda_bf16)
        monkeypatch.setattr(precision, 'cpu_supports_bf16', lambda: cpu_bf16)

    return simulate


@pytest.mark.parametrize(
    'cfg, cuda, cpu_bf16, wrapper, dtype, logs',
    [
        # CUDA: AMP unless fp32 is asked for ('auto' logs its choice; a GPU
        # without native bf16 gets fp16, see test_auto_on_cuda_...)
        (dict(), True, False, AmpOptimWrapper, 'float16', 1),
        (dict(type='AmpOptimWrapper'), True, False, AmpOptimWrapper,
         'float16', 1),
        (dict(type='AmpOptimWrapper', dtype='bfloat16'), True, False,
         AmpOptimWrapper, 'bfloat16', 1),
        (dict(precision='fp16'), True, False, AmpOptimWrapper, 'float16', 0),
        (dict(precision='bf16', type='AmpOptimWrapper', dtype='float16'),
         True, False, AmpOptimWrapper, 'bfloat16', 0),
        (dict(type='OptimWrapper'), True, False, OptimWrapper, None, 0),
        (dict(precision='fp32', type='AmpOptimWrapper', loss_scale=512.),
         True, False, OptimWrapper, None, 0),
        # CPU: mixed-precision requests get bf16 autocast where the CPU has
        # native bf16 and fp32 elsewhere, with one log line either way
        (dict(), False, True, CPUAutocastOptimWrapper, None, 1),
        (dict(), False, False, OptimWrapper, None, 1),
        (dict(type='AmpOptimWrapper', loss_scale='dynamic', dtype='float16'),
         False, True, CPUAutocastOptimWrapper, None, 1),
        (dict(type='AmpOptimWrapper', loss_scale='dynamic', dtype='float16'),
         False, False, OptimWrapper, None, 1),
        (dict(type='OptimWrapper'), False, True, OptimWrapper, None, 0),
        (dict(precision='fp32'), False, True, OptimWrapper, None, 0),
        (dict(precision='bf16'), False, True, CPUAutocastOptimWrapper, None,
         1),
        (dict(precision='bf16', type='AmpOptimWrapper'), False, False,
         OptimWrapper, None, 1),
    ])
def test_select_optim_wrapper(cfg, cuda, cpu_bf16, wrapper, dtype, logs,
                              logged):
    cfg = dict(cfg, optimizer=SGD, clip_grad=dict(max_norm=1.))
    original = dict(cfg)
    resolved = select_optim_wrapper(cfg, cuda, cpu_bf16)
    assert resolved['type'] is wrapper
    assert resolved.get('dtype') == dtype
    assert 'precision' not in resolved
    if wrapper is not AmpOptimWrapper:  # OptimWrapper rejects AMP kwargs
        assert not {'loss_scale', 'dtype', 'use_fsdp'} & resolved.keys()
    assert resolved['optimizer'] == SGD
    assert resolved['clip_grad'] == dict(max_norm=1.)
    assert cfg == original
    assert len(logged) == logs
    if logs:
        assert ('AMP in ' + dtype if wrapper is AmpOptimWrapper else
                'bf16 autocast' if wrapper is CPUAutocastOptimWrapper else
                'fp32') in logged[0]


@pytest.mark.parametrize('cfg, cuda_bf16, dtype, loss_scale', [
    # a GPU with native bf16 (Ampere, Hopper): bf16, no loss scaler
    (dict(), True, 'bfloat16', dict(enabled=False)),
    (dict(precision='bf16'), False, 'bfloat16', dict(enabled=False)),
    # older GPUs: fp16 with AmpOptimWrapper's dynamic loss scaling
    (dict(), False, 'float16', None),
    (dict(precision='fp16'), True, 'float16', None),
    # what the config spells out wins over the machine
    (dict(dtype='float16'), True, 'float16', None),
    (dict(loss_scale=512.), True, 'bfloat16', 512.),
])
def test_auto_on_cuda_prefers_bf16_where_the_gpu_has_it(
        cfg, cuda_bf16, dtype, loss_scale, logged):
    resolved = select_optim_wrapper(
        dict(cfg, type='AmpOptimWrapper', optimizer=SGD), True, False,
        cuda_bf16)
    assert resolved['type'] is AmpOptimWrapper
    assert resolved['dtype'] == dtype
    assert resolved.get('loss_scale') == loss_scale
    if cfg.get('precision', 'auto') == 'auto':
        scaling = ('dynamic loss scaling' if loss_scale is None else
                   'no loss scaling' if loss_scale == dict(enabled=False)
                   else 'loss_scale=512.0')
        assert logged == [f"optim_wrapper.precision='auto' on CUDA: AMP in "
                          f'{dtype} with {scaling}.']


@pytest.mark.parametrize('cfg, match', [
    (dict(precision='fp16'), 'fp16.*needs CUDA'),
    (dict(precision='fp8'), r"optim_wrapper\.precision='fp8'"),
    (dict(type='ApexOptimWrapper'), r"optim_wrapper\.type='ApexOptimWrapper'"),
])
def test_select_optim_wrapper_rejects(cfg, match):
    with pytest.raises(ValueError, match=match):
        select_optim_wrapper(dict(cfg, optimizer=SGD), False, True)


@pytest.mark.parametrize('precision, device, cpu_bf16, dtype', [
    ('fp32', 'cuda', True, None),
    ('auto', 'cuda', False, torch.float16),
    ('fp16', 'cuda', False, torch.float16),
    ('bf16', 'cuda', False, torch.bfloat16),
    ('fp32', 'cpu', True, None),
    ('auto', 'cpu', True, torch.bfloat16),
    ('bf16', 'cpu', True, torch.bfloat16),
    ('auto', 'cpu', False, None),
    ('bf16', 'cpu', False, None),
    ('fp16', 'cpu', True, None),
])
def test_autocast_dtype(machine, precision, device, cpu_bf16, dtype):
    machine(cuda=device == 'cuda', cpu_bf16=cpu_bf16)
    assert autocast_dtype(precision, device) == dtype


def test_autocast_dtype_rejects_unknown_precision():
    with pytest.raises(ValueError, match="precision='half'"):
        autocast_dtype('half', 'cpu')


def _build(model: nn.Module, **cfg):
    with DefaultScope.overwrite_default_scope('segkit'):
        return build_optim_wrapper(
            model,
            dict(constructor='PrecisionOptimWrapperConstructor', **cfg))


def _train_step(wrapper: OptimWrapper, model: nn.Module) -> None:
    with wrapper.optim_context(model):
        loss = model(torch.randn(4, 3)).float().pow(2).mean()
    wrapper.update_params(loss)


def test_cpu_amp_request_builds_fp32_wrapper_that_steps(machine, logged):
    machine(cuda=False)
    model = nn.Linear(3, 2)
    wrapper = _build(model, type='AmpOptimWrapper', optimizer=SGD)
    assert type(wrapper) is OptimWrapper
    assert len(logged) == 1 and 'no CUDA' in logged[0]
    before = model.weight.detach().clone()
    _train_step(wrapper, model)
    assert not torch.equal(model.weight, before)


@pytest.mark.parametrize('cuda_bf16, auto_dtype',
                         [(False, 'float16'), (True, 'bfloat16')])
def test_simulated_cuda_resolves_to_amp(machine, cuda_bf16, auto_dtype):
    machine(cuda=True, cuda_bf16=cuda_bf16)
    for asked, dtype in [('auto', auto_dtype), ('fp16', 'float16'),
                         ('bf16', 'bfloat16')]:
        constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
            dict(
                type='PrecisionOptimWrapperConstructor',
                optim_wrapper_cfg=dict(
                    type='AmpOptimWrapper', precision=asked, optimizer=SGD)))
        assert constructor.optim_wrapper_cfg['type'] is AmpOptimWrapper
        assert constructor.optim_wrapper_cfg['dtype'] == dtype


def test_cpu_bf16_wrapper_runs_forward_in_bf16(machine):
    machine(cuda=False, cpu_bf16=True)
    model = nn.Linear(3, 2)
    wrapper = _build(model, precision='bf16', optimizer=SGD)
    assert type(wrapper) is CPUAutocastOptimWrapper
    with wrapper.optim_context(model):
        assert model(torch.randn(4, 3)).dtype == torch.bfloat16
    assert model(torch.randn(4, 3)).dtype == torch.float32
    before = model.weight.detach().clone()
    _train_step(wrapper, model)
    assert model.weight.dtype == torch.float32  # master weights stay fp32
    assert not torch.equal(model.weight, before)


@pytest.mark.parametrize('optimizer, fused', [
    (dict(type='AdamW', lr=1e-3), True),
    (dict(type='SGD', lr=0.1, momentum=0.9), True),
    (dict(type='SGD', lr=0.1, foreach=True), None),  # the config's choice
    (dict(type='AdamW', lr=1e-3, fused=False), False),
    (dict(type='RMSprop', lr=1e-3), None),  # no fused kernel
])
def test_adam_adamw_and_sgd_are_fused_unless_the_config_chooses(
        machine, optimizer, fused):
    """Fused kernels take ``found_inf``: NonFiniteLossHook withholds a step
    on the device with them instead of reading a flag every iteration."""
    machine(cuda=False, cpu_bf16=False)
    wrapper = _build(nn.Linear(3, 2), precision='fp32', optimizer=optimizer)
    assert wrapper.optimizer.param_groups[0].get('fused') == fused
    assert skips_steps_on_device(wrapper) == bool(fused)


def test_cpu_without_bf16_falls_back_to_fp32(machine, logged):
    machine(cuda=False, cpu_bf16=False)
    wrapper = _build(nn.Linear(3, 2), precision='bf16', optimizer=SGD)
    assert type(wrapper) is OptimWrapper
    assert len(logged) == 1 and 'no native bf16' in logged[0]


def test_runner_trains_with_the_constructor(machine, make_runner):
    machine(cuda=False, cpu_bf16=True)
    runner = make_runner(
        optim_wrapper=dict(
            constructor='PrecisionOptimWrapperConstructor',
            type='AmpOptimWrapper',
            precision='bf16',
            optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=2, val_interval=100),
        val_dataloader=None,
        val_cfg=None,
        val_evaluator=None,
        default_hooks=dict(checkpoint=None))
    before = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    assert type(runner.optim_wrapper) is CPUAutocastOptimWrapper
    assert runner.iter == 2
    assert not torch.equal(runner.model.conv.weight, before['conv.weight'])
