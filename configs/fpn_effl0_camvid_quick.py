# Semantic FPN over ImageNet-pretrained EfficientNet-Lite0 on CamVid in 15
# minutes of training: the recipe of unet_effl0_camvid_quick.py with a
# lighter decoder, so more iterations fit the same minutes.
_base_ = [
    '_base_/models/fpn_effl0.py', '_base_/datasets/camvid_half_crop32.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_2400.py',
    '_base_/losses/ce_dice.py'
]
model = dict(
    decode_head=dict(num_classes=11, loss_decode={{_base_.ce_dice}}))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=800))
train_cfg = dict(type='TimeBudgetTrainLoop', minutes=15)
