# A U-Net over ImageNet-pretrained EfficientNet-Lite0 on Carvana at the
# native size: BCE + soft Dice per image (the Kaggle Dice), the encoder at a
# tenth of the decoder's learning rate; best checkpoint by that Dice.
_base_ = [
    '_base_/models/unet_effl0.py', '_base_/datasets/carvana.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_10k.py'
]
model = dict(decode_head=dict(loss_decode=[
    dict(type='BCEWithLogitsLoss', loss_weight=1.0),
    dict(type='DiceLoss', loss_weight=1.0, per_image=True),
]))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
default_hooks = dict(checkpoint=dict(save_best='Dice'))
