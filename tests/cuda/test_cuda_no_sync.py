"""A default training iteration on a GPU never waits for it: the steady
iterations between two log points run under
``torch.cuda.set_sync_debug_mode('error')``, which raises at any
synchronising CUDA call (issue 25; tests/engine/test_no_device_sync.py
counts the same reads on the CPU)."""
import pytest
import torch
from mmengine.hooks import Hook

from segkit.registry import RUNNERS

pytestmark = pytest.mark.cuda

FIRST, LAST = 3, 15  # iterations (0-based) run in 'error' mode


class _Done(Exception):
    """Ends the run after the checked iterations."""


class ErrorOnSync(Hook):
    """``set_sync_debug_mode('error')`` from before every hook of iteration
    ``FIRST`` to after every hook of iteration ``LAST - 1``."""

    priority = 'HIGHEST'

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        if runner.iter == LAST:
            raise _Done
        if runner.iter >= FIRST:
            torch.cuda.set_sync_debug_mode('error')


class Relax(Hook):
    priority = 'LOWEST'

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        torch.cuda.set_sync_debug_mode('default')


@pytest.mark.parametrize('precision', ['fp32', 'bf16'])
def test_steady_iterations_do_not_synchronise(camvid_config, precision):
    if precision == 'bf16' and not torch.cuda.is_bf16_supported(
            including_emulation=False):
        pytest.skip('no native bf16 on this GPU')
    cfg = camvid_config(
        'configs/unet_camvid_quick.py', **{
            'model.backbone.base_channels': 4,
            'optim_wrapper.precision': precision,
            'train_cfg.max_iters': 1000,
            'train_cfg.val_interval': 1000,
            'default_hooks.logger.interval': 50,
            'default_hooks.checkpoint.interval': 1000,
        })
    runner = RUNNERS.build(cfg)
    runner.register_hook(ErrorOnSync())
    runner.register_hook(Relax())
    try:
        with pytest.raises(_Done):
            runner.train()
    finally:
        torch.cuda.set_sync_debug_mode('default')
