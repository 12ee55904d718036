# AdamW with polynomial decay over 10k iterations, validating every 1k.
optim_wrapper = dict(
    # Configs ask for mixed precision; the constructor picks what the machine
    # has (fp16 AMP on CUDA, bf16 autocast on a CPU with native bf16, else
    # fp32) and logs the choice once. precision='fp32' turns it off.
    type='AmpOptimWrapper',
    constructor='PrecisionOptimWrapperConstructor',
    precision='auto',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=1e-4),
    clip_grad=None,
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=200),
    dict(type='PolyLR', eta_min=1e-6, power=0.9, by_epoch=False, begin=200,
         end=10000),
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=10000, val_interval=1000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
