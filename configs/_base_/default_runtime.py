# Runtime shared by every experiment: scope, environment, logging, hooks.
default_scope = 'segkit'
# SegRunner: the environment/config dump goes to the log file only (the
# console gets ConsoleHook's summary, progress and scores), checkpoints
# record their model so --resume never takes another model's, and a run
# that fails to start leaves no empty run folder.
runner_type = 'SegRunner'

env_cfg = dict(
    cudnn_benchmark=True,
    # fork keeps worker start-up cheap; cv2 threads would fight the workers.
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

# LocalVisBackend keeps scalars.json and the config in <timestamp>/vis_data;
# add dict(type='TensorboardVisBackend') (or 'WandbVisBackend') to get the
# scalars and SegVisHook's panels there too. No fixed `name`: the Runner
# names the visualizer after the experiment, so a second Runner in the same
# process gets its own instead of reusing the first one's backends.
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends)
log_processor = dict(by_epoch=False)
log_level = 'INFO'

default_hooks = dict(
    # The losses stay on the device between log points: MMEngine's
    # RuntimeInfoHook reads every one back every iteration, waiting for
    # the GPU each time. Logged values and averages are the same.
    runtime_info=dict(type='DeferredRuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    # 'auto': ~50 points per curve (every iteration below 100, at most 50).
    logger=dict(type='LoggerHook', interval='auto',
                log_metric_by_epoch=False),
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
    # A NaN/inf loss never reaches the weights or a checkpoint: training
    # stops naming the iteration, or with skip_nonfinite=True skips the batch.
    nonfinite_loss=dict(type='NonFiniteLossHook', skip_nonfinite=False),
    # The console: run summary, a progress line with ETA, validation scores,
    # where the results went.
    console=dict(type='ConsoleHook'),
    # On CUDA, the next batch is copied and preprocessed on a side stream
    # while the current step runs.
    device_prefetch=dict(type='DevicePrefetchHook'),
    # SIGTERM/SIGUSR1 (Slurm, Kubernetes preemption): finish the iteration,
    # save its checkpoint, exit with status 75 for the requeue to --resume.
    preemption=dict(type='PreemptionHook'),
)
# SegVisHook: panels (input | ground truth | prediction | overlay) of the first
# max_samples validation images at every validation, in
# <timestamp>/vis_data/<iter>/<image>.png, and of test runs in vis_data/test/.
custom_hooks = [
    dict(type='NumClassCheckHook'),
    dict(type='SegVisHook', max_samples=8),
    # report.html in the run folder: config, scores, curves, panels; for a
    # test run also the `worst` lowest-scored images and, for a binary task,
    # the empty frames with false positives (tools/test.py --worst N).
    dict(type='ReportHook', worst=8),
    # load_from (tools/test.py, fine-tuning) must fit the model: MMEngine
    # alone only warns and leaves mismatched layers random. Fine-tuning from
    # another head: dict(type='CheckpointFitHook', strict=False).
    dict(type='CheckpointFitHook'),
    # Samples replaced under on_bad_sample='skip', counted in the log.
    dict(type='BadSampleHook'),
    # Before the first iteration, a sample of the masks: values or colours
    # that map to no class stop the run naming the fix; absent classes and
    # almost wholly ignored first batches are warned.
    dict(type='DataCheckHook'),
]

# deterministic=True: deterministic cuDNN and torch algorithms only (slower
# on GPU). Spelt out so --cfg-options randomness.deterministic=True is taken.
randomness = dict(seed=0, deterministic=False)
load_from = None
resume = False
# torch.compile of the network (backbone, neck, heads; SegRunner), not of
# MMEngine's whole train step: True, or a dict of torch.compile arguments
# such as dict(mode='max-autotune'). A part that fails to compile runs eager
# after one warning line. Off: on 2 CPU cores compiling cost more minutes
# than it saved (docs/performance.md).
compile = False
