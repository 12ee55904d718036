# Semantic FPN over ImageNet-pretrained EfficientNet-Lite0 on CamVid-11 at
# the native 480x360: unet_effl0_camvid.py's recipe with the FPN decoder.
_base_ = [
    '_base_/models/fpn_effl0.py', '_base_/datasets/camvid.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_10k.py',
    '_base_/losses/ce_dice.py'
]
model = dict(
    decode_head=dict(num_classes=11, loss_decode={{_base_.ce_dice}}))
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))
