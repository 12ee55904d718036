# Carvana car masks (Kaggle layout); the split is by car, 16 views per car.
# ../shared/data/carvana_format has Carvana's files and encodings at 480x360;
# with the real 1918x1280 set, set scale=(959, 640) and crop_size to taste.
dataset_type = 'CarvanaDataset'
data_root = '{{$CARVANA_ROOT:../shared/data/carvana_format}}'
# Where the default is missing (a fresh clone), the tools use the bundled
# 3-car sample and say so; a root set by CARVANA_ROOT or data_root= must
# exist (segkit.apis.data_roots).
data_source = dict(
    env='CARVANA_ROOT', default='../shared/data/carvana_format',
    sample='data/carvana_sample',
    layout='train/<car>_<view>.jpg and train_masks/<car>_<view>_mask.gif '
    '(or train_masks.csv)')
scale = (480, 360)  # (w, h)
crop_size = (320, 320)  # (h, w)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadSegMap'),
    dict(type='RandomResize', scale=scale, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadSegMap'),
    dict(type='PackSegInputs'),
]
split = dict(val_ratio=0.2, seed=0)

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 **split, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 **split, test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='DiceMetric')
test_evaluator = val_evaluator
