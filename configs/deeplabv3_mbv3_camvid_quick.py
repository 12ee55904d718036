# A few CPU-minutes of DeepLabV3-MobileNetV3 on CamVid, at half resolution,
# scored against the native-size masks.
_base_ = [
    '_base_/models/deeplabv3_mbv3.py', '_base_/datasets/camvid.py',
    '_base_/default_runtime.py', '_base_/schedules/schedule_10k.py'
]
model = dict(num_classes=11)
half_scale = (240, 180)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadSegMap'),
    dict(type='RandomResize', scale=half_scale, ratio_range=(0.75, 1.5),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(176, 240), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=half_scale, keep_ratio=True),
    dict(type='LoadSegMap'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=4, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

max_iters = 600
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, by_epoch=False, begin=50,
         end=max_iters),
]
train_cfg = dict(max_iters=max_iters, val_interval=300)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=300))
