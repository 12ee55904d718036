# smp's Unet('resnet18') on CamVid-11 with the schedule a GPU user would run;
# CE + soft Dice, so rare classes pull as hard as road and sky.
_base_ = [
    '_base_/models/unet_r18.py', '_base_/datasets/camvid.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_10k.py',
    '_base_/losses/ce_dice.py'
]
model = dict(
    decode_head=dict(num_classes=11, loss_decode={{_base_.ce_dice}}))
