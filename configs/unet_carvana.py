# The U-Net paper's recipe on Carvana: one sigmoid output, BCE + soft Dice,
# best checkpoint by the Kaggle per-image Dice.
_base_ = [
    '_base_/models/unet_binary.py', '_base_/datasets/carvana.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_10k.py'
]
default_hooks = dict(checkpoint=dict(save_best='Dice'))
