# 1000 iterations for a CPU budget of about 15 minutes (see the quick configs
# that use it): short warm-up, poly decay, validation every 500 iterations.
_base_ = './schedule_cpu_600.py'

max_iters = 1000
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, by_epoch=False, begin=100,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=500)
