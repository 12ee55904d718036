# About 11.5 minutes for the quick U-Net on 2 CPU cores (0.27 s per bf16
# iteration): short warm-up, poly decay, 3 validations, so a slower machine
# still has a scored checkpoint well inside a 15-minute budget.
_base_ = './schedule_cpu_600.py'

max_iters = 2400
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, by_epoch=False, begin=100,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=800)
