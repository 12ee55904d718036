"""Training on a real GPU: a step in each precision, the GradScaler's state
through a checkpoint and a resume, channels_last batches, cuDNN's
autotuner, pinned batches copied without blocking, batches prefetched on a
side stream."""
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.optim import AmpOptimWrapper, OptimWrapper, build_optim_wrapper
from mmengine.registry import DefaultScope
from mmengine.runner import Runner
from torch import nn

from segkit.apis import init_model
from segkit.benchmark.machine import conv_dtypes
from segkit.registry import RUNNERS

pytestmark = pytest.mark.cuda


def _model_and_batch(cfg):
    """The config's model on the GPU, in training mode, and one real
    training batch (the config's pipeline, pinned)."""
    model = init_model(cfg, device='cuda').train()
    with DefaultScope.overwrite_default_scope('segkit'):
        loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
        return model, next(iter(loader))


@pytest.mark.parametrize('precision, wrapper_type, dtype, scaling', [
    ('fp32', OptimWrapper, torch.float32, None),
    ('fp16', AmpOptimWrapper, torch.float16, True),
    ('bf16', AmpOptimWrapper, torch.bfloat16, False),
])
def test_train_step_in_each_precision(camvid_config, precision,
                                      wrapper_type, dtype, scaling):
    cfg = camvid_config(**{'optim_wrapper.precision': precision})
    model, batch = _model_and_batch(cfg)
    with DefaultScope.overwrite_default_scope('segkit'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert type(wrapper) is wrapper_type
    if scaling is not None:  # fp16 scales the loss, bf16 needs not
        assert wrapper.loss_scaler.is_enabled() is scaling
    before = [p.detach().clone() for p in model.parameters()]
    with conv_dtypes(model) as seen:
        log_vars = model.train_step(batch, wrapper)
    assert seen[0] == dtype
    assert torch.isfinite(torch.as_tensor(log_vars['loss']))
    params = list(model.parameters())
    assert all(p.dtype == torch.float32 and p.is_cuda for p in params)
    assert any(not torch.equal(p, b) for p, b in zip(params, before))


def test_auto_precision_is_bf16_without_scaler_where_the_gpu_has_bf16(
        camvid_config):
    cfg = camvid_config()  # the schedules ask for precision='auto'
    model, _ = _model_and_batch(cfg)
    with DefaultScope.overwrite_default_scope('segkit'):
        wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    native_bf16 = torch.cuda.get_device_capability()[0] >= 8
    assert wrapper.cast_dtype == (torch.bfloat16 if native_bf16 else
                                  torch.float16)
    assert wrapper.loss_scaler.is_enabled() is not native_bf16


class RecordScaler(Hook):
    """The loss scaler's state when training starts (after a resume)."""

    def before_train(self, runner) -> None:
        self.state = runner.optim_wrapper.loss_scaler.state_dict()


def test_grad_scaler_state_is_checkpointed_and_resumed(camvid_config):
    # A scale that grows every step, so that its state moves.
    options = {'optim_wrapper.precision': 'fp16',
               'optim_wrapper.loss_scale': dict(init_scale=1024.,
                                                growth_interval=1),
               'train_cfg.max_iters': 2, 'train_cfg.val_interval': 100,
               'default_hooks.checkpoint.interval': 2}
    cfg = camvid_config(**options)
    RUNNERS.build(cfg).train()
    checkpoint = f'{cfg.work_dir}/iter_2.pth'
    saved = torch.load(checkpoint)['optimizer']['loss_scaler']
    assert saved['scale'] != 1024. and saved['growth_interval'] == 1

    resumed_cfg = camvid_config(**dict(options, **{'train_cfg.max_iters': 3}))
    resumed_cfg.resume, resumed_cfg.load_from = True, checkpoint
    runner = RUNNERS.build(resumed_cfg)
    record = RecordScaler()
    runner.register_hook(record)
    runner.train()
    assert record.state == saved
    assert runner.iter == 3


def test_batches_reach_the_network_channels_last(camvid_config):
    cfg = camvid_config()
    assert cfg.model.data_preprocessor.channels_last
    model, batch = _model_and_batch(cfg)
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    inputs = []
    conv.register_forward_hook(lambda m, args, out: inputs.append(args[0]))
    data = model.data_preprocessor(batch, True)
    model(**data, mode='loss')
    assert inputs[0].is_cuda
    assert inputs[0].is_contiguous(memory_format=torch.channels_last)


def test_runner_turns_on_cudnn_benchmark_unless_deterministic(
        camvid_config):
    torch.backends.cudnn.benchmark = False
    RUNNERS.build(camvid_config())
    assert torch.backends.cudnn.benchmark
    try:
        RUNNERS.build(camvid_config(**{'randomness.deterministic': True}))
        assert not torch.backends.cudnn.benchmark
        assert torch.backends.cudnn.deterministic
    finally:  # process-wide switches the later tests must not inherit
        torch.backends.cudnn.deterministic = False
        torch.use_deterministic_algorithms(False)


def test_pinned_batches_are_copied_without_blocking(camvid_config):
    cfg = camvid_config()
    assert cfg.train_dataloader.pin_memory is True
    model, batch = _model_and_batch(cfg)
    assert all(image.is_pinned() for image in batch['inputs'])
    preprocessor = model.data_preprocessor
    assert preprocessor._non_blocking is True
    fast = preprocessor(batch, True)
    preprocessor._non_blocking = False
    reference = preprocessor(batch, True)
    torch.cuda.synchronize()
    assert torch.equal(fast['inputs'], reference['inputs'])
    for a, b in zip(fast['data_samples'], reference['data_samples']):
        assert a.gt_sem_seg.data.is_cuda
        assert torch.equal(a.gt_sem_seg.data, b.gt_sem_seg.data)


def test_batches_prefetched_on_a_side_stream_reach_the_network_unchanged(
        camvid_config):
    """DevicePrefetchHook is on by default here: each batch after the first
    is copied and preprocessed on a side stream during the step before.
    The network gets the same inputs, iteration by iteration, as without
    it (weights are not compared: cuDNN's backward is not deterministic)."""
    seen = {}
    for enabled in (None, False):
        cfg = camvid_config(
            'configs/unet_camvid_quick.py', **{
                'model.backbone.base_channels': 8,
                'train_cfg.max_iters': 6,
                'train_cfg.val_interval': 7,
                'default_hooks.checkpoint.interval': 7,
                'default_hooks.device_prefetch.enabled': enabled,
            })
        cfg.work_dir += f'_{enabled}'
        runner = RUNNERS.build(cfg)
        inputs = seen[enabled] = []
        runner.model.backbone.register_forward_pre_hook(
            lambda module, args: inputs.append(args[0].detach().clone()))
        runner.train()
        prefetcher = runner.train_loop.dataloader_iterator
        assert (type(prefetcher).__name__ == 'DevicePrefetcher') == (
            enabled is None)
    assert len(seen[None]) == len(seen[False]) == 6
    for ahead, plain in zip(seen[None], seen[False]):
        assert ahead.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(ahead, plain)
