# The smp recipe on Carvana: Unet('resnet18') trained with BCE + soft Dice and
# gradient accumulation over 2 batches; best checkpoint by the Kaggle Dice.
_base_ = [
    '_base_/models/unet_r18.py', '_base_/datasets/carvana.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_10k.py'
]
optim_wrapper = dict(accumulative_counts=2)
default_hooks = dict(checkpoint=dict(save_best='Dice'))
