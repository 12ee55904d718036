# DeepLabV3-MobileNetV3 on CamVid in 15 minutes of training, from scratch:
# half-size frames, CE + soft Dice (rare classes), scored at 480x360. The
# time budget fits the schedule, written for 1400 iterations, to what the
# machine does in 15 minutes (TimeBudgetTrainLoop).
_base_ = [
    '_base_/models/deeplabv3_mbv3.py', '_base_/datasets/camvid_half.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_cpu_1400.py',
    '_base_/losses/ce_dice.py'
]
model = dict(
    decode_head=dict(num_classes=11, loss_decode={{_base_.ce_dice}}))
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=500))
train_cfg = dict(type='TimeBudgetTrainLoop', minutes=15)
