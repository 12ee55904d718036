# CamVid at half resolution (240x180) for CPU budgets. Ground truth stays at
# the native 480x360: predictions are resized back and scored there.
_base_ = './camvid.py'

half_scale = (240, 180)
train_pipeline = [
    {{_base_.cached_loading}},
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
