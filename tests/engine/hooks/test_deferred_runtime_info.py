"""DeferredRuntimeInfoHook logs what MMEngine's RuntimeInfoHook logs: the
same values in the message hub, the same averages in the log file and in
scalars.json, the same checkpointed history, with the losses read back
only at the log points."""
import json
import re

import pytest
import torch

from segkit.engine.hooks import DeferredRuntimeInfoHook

TIMES = ('time', 'data_time', 'eta')


def _train(make_runner, tiny_model_cls, work_dir, **default_hooks):
    """7 iterations, logged every 3, validated and checkpointed every 2."""
    torch.manual_seed(0)
    runner = make_runner(
        model=tiny_model_cls(),
        work_dir=work_dir,
        log_level='INFO',
        log_processor=dict(by_epoch=False),
        default_hooks=dict(
            logger=dict(type='LoggerHook', interval=3,
                        log_metric_by_epoch=False),
            checkpoint=dict(type='CheckpointHook', by_epoch=False,
                            interval=2),
            **default_hooks),
        train_cfg=dict(by_epoch=False, max_iters=7, val_interval=2))
    runner.train()
    return runner


def _logged(runner, work_dir) -> tuple:
    """scalars.json records and the log file's training lines, times
    left out."""
    records = [{k: v for k, v in json.loads(line).items() if k not in TIMES}
               for line in next(work_dir.glob('*/vis_data/scalars.json'))
               .read_text().splitlines()]
    log = next(work_dir.glob('*/*.log')).read_text()
    lines = [re.sub(r'(eta|time|data_time): \S+', '', line)
             for line in log.splitlines() if '(train)' in line]
    return records, [line.split(' - ', 2)[-1] for line in lines]


@pytest.mark.slow  # a real training run
def test_logs_what_runtime_info_hook_logs(make_runner, tiny_model_cls,
                                          tmp_path):
    stock = _train(make_runner, tiny_model_cls, tmp_path / 'stock')
    deferred = _train(make_runner, tiny_model_cls, tmp_path / 'deferred',
                      runtime_info=dict(type='DeferredRuntimeInfoHook'))
    assert any(isinstance(hook, DeferredRuntimeInfoHook)
               for hook in deferred.hooks)

    for key in ('train/loss', 'train/lr'):
        got = deferred.message_hub.log_scalars[key].data
        want = stock.message_hub.log_scalars[key].data
        assert all(map(torch.equal, map(torch.as_tensor, got),
                       map(torch.as_tensor, want))), key
    records, lines = _logged(deferred, tmp_path / 'deferred')
    assert (records, lines) == _logged(stock, tmp_path / 'stock')
    assert len(lines) >= 2 and all('loss:' in line for line in lines)

    for run in ('stock', 'deferred'):
        saved = torch.load(tmp_path / run / 'iter_6.pth')
        history = saved['message_hub']['log_scalars']['train/loss']
        assert len(history.data[0]) == 6, run


def test_losses_wait_on_the_device_until_read(make_runner, tiny_model_cls,
                                              tmp_path):
    hook = DeferredRuntimeInfoHook()
    runner = _train(make_runner, tiny_model_cls, tmp_path / 'run',
                    runtime_info=hook)
    hub = runner.message_hub
    # after_train emptied the queue; queue one iteration by hand.
    loss = torch.tensor(0.25)
    hook.after_train_iter(runner, 7, outputs=dict(loss=loss, acc=3))
    assert hub.log_scalars['train/loss'].current() != 0.25
    assert hub.log_scalars['train/acc'].current() == 3  # not a tensor
    hub.get_scalar('train/time')  # not queued: the queue stays
    assert hub.log_scalars['train/loss'].current() != 0.25
    assert hub.get_scalar('train/loss').current() == 0.25
