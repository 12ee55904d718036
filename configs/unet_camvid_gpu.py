# The paper U-Net on CamVid-11 for one GPU: full-size crops, batch 16, AMP
# ('auto': bf16 where the GPU has it, else fp16 with loss scaling), CE + Dice
# so that the rare classes pull as hard as road and sky, and the workers of a
# 16-core GPU machine (CachedLoading keeps the frames each one decoded).
# 4000 iterations as written; --cfg-options train_cfg.max_iters=N rescales
# the whole schedule, so one N fits a time budget (tools/gpu_check.sh sizes
# it from the measured images/s for its 5-minute time-to-quality run).
_base_ = [
    '_base_/models/unet.py', '_base_/datasets/camvid.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_10k.py',
    '_base_/losses/ce_dice.py'
]
model = dict(
    decode_head=dict(num_classes=11, loss_decode={{_base_.ce_dice}}))
train_dataloader = dict(batch_size=16, num_workers=10)
val_dataloader = dict(num_workers=4)
test_dataloader = val_dataloader

max_iters = 4000
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=200),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, by_epoch=False, begin=200,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=500)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1000))
