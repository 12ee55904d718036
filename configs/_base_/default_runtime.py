# Runtime shared by every experiment: scope, environment, logging, hooks.
default_scope = 'segkit'

env_cfg = dict(
    cudnn_benchmark=True,
    # fork keeps worker start-up cheap; cv2 threads would fight the workers.
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='Visualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Atomic saves (temporary file + fsync + rename) and a `last_checkpoint`
    # that only ever names a complete file: a killed run loses nothing.
    checkpoint=dict(
        type='AtomicCheckpointHook',
        by_epoch=False,
        interval=1000,
        max_keep_ckpts=2,
        save_best='mIoU',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
custom_hooks = [dict(type='NumClassCheckHook')]

randomness = dict(seed=0)
load_from = None
resume = False
