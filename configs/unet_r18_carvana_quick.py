# The smp recipe (unet_r18_carvana: ResNet-18 U-Net, BCE + soft Dice,
# gradient accumulation over 2 batches) in about 15 CPU-minutes on half-size
# frames; best checkpoint by the Kaggle Dice, scored at the native size.
_base_ = [
    '_base_/models/unet_r18.py', '_base_/datasets/carvana_half.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_2000.py'
]
optim_wrapper = dict(accumulative_counts=2)
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=500, save_best='Dice'))
