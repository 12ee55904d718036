"""Let MMEngine's own distributed launch run where there is no CUDA."""
import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def prepare_distributed(cfg: Config) -> None:
    """Adapt a ``--launcher pytorch`` config to a CPU-only machine.

    MMEngine's pytorch launcher pins ``cuda:LOCAL_RANK`` before it starts
    the process group, and wraps the model in DDP with
    ``device_ids=[LOCAL_RANK]``; without a GPU both fail. There the process
    group is started here with gloo from torchrun's environment (MMEngine
    then skips its own init) and DDP gets no device ids. With CUDA, or
    without a launcher, nothing changes.
    """
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = \
        'gloo'
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    wrapper = dict(type='MMDistributedDataParallel', broadcast_buffers=False,
                   find_unused_parameters=cfg.get('find_unused_parameters',
                                                  False))
    wrapper.update(cfg.get('model_wrapper_cfg') or {})
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
