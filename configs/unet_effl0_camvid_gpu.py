# unet_effl0_camvid.py for one GPU, in 5 minutes of training: batch 16 of
# full-size crops, AMP ('auto': bf16 where the GPU has it, else fp16 with
# loss scaling), the workers of a 16-core GPU machine. The time budget fits
# the schedule, written for 4000 iterations, to what the GPU does in 5
# minutes (TimeBudgetTrainLoop).
_base_ = './unet_effl0_camvid.py'
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
train_cfg = dict(type='TimeBudgetTrainLoop', minutes=5, max_iters=max_iters,
                 val_interval=500)
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(interval=1000))
