# The U-Net paper's recipe on Carvana: one sigmoid output, BCE + soft Dice
# (what the best Carvana entries trained with), scored by the Kaggle Dice.
_base_ = [
    '_base_/models/unet.py', '_base_/datasets/carvana.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_10k.py'
]
model = dict(
    num_classes=1,
    loss_decode=[
        dict(type='BCEWithLogitsLoss', loss_weight=1.0),
        dict(type='DiceLoss', loss_weight=1.0),
    ])
default_hooks = dict(checkpoint=dict(save_best='Dice'))
