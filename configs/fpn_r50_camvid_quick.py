# Semantic FPN on ResNet-50 on CamVid in 15 minutes of training, from
# scratch: half-size frames cropped to a multiple of its stride 32, CE + soft
# Dice (rare classes), scored at 480x360. The time budget fits the schedule,
# written for 1000 iterations, to the machine (TimeBudgetTrainLoop).
_base_ = [
    '_base_/models/fpn_r50.py', '_base_/datasets/camvid_half_crop32.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_1000.py',
    '_base_/losses/ce_dice.py'
]
model = dict(
    decode_head=dict(num_classes=11, loss_decode={{_base_.ce_dice}}))
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500))
train_cfg = dict(type='TimeBudgetTrainLoop', minutes=15)
