# CamVid, SegNet's 11-class release (Kaggle layout), 480x360 frames.
dataset_type = 'CamVidDataset'
# Relative to the repository root (where tools/ are run from); the full set
# sits in ../shared. Elsewhere: CAMVID_ROOT=/path, or --cfg-options
# data_root=/path (tools/train.py points every dataloader at it).
data_root = '{{$CAMVID_ROOT:../shared/data/camvid}}'
# Where the default is missing (a fresh clone), the tools use the bundled
# 16-frame sample and say so; a root set by CAMVID_ROOT or data_root= must
# exist (segkit.apis.data_roots).
data_source = dict(
    env='CAMVID_ROOT', default='../shared/data/camvid',
    sample='data/camvid_sample',
    layout='train/, train_labels/, val/, val_labels/ and class_dict.csv')
native_scale = (480, 360)  # (w, h), as mmcv's Resize takes it
crop_size = (352, 480)  # (h, w)

# Each worker decodes a frame once and keeps it (CamVid: 0.66 MiB a frame,
# 240 MiB per worker for the 367 training frames): decoding is 2/3 of the
# pipeline's CPU time.
cached_loading = dict(
    type='CachedLoading',
    transforms=[dict(type='LoadImageFromFile'),
                dict(type='LoadSegMap')])
train_pipeline = [
    cached_loading,
    dict(type='RandomResize', scale=native_scale, ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
# Ground truth is loaded after the resize: metrics are computed against the
# native-resolution masks, and predictions are resized back to them.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=native_scale, keep_ratio=True),
    dict(type='LoadSegMap'),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='train', seg_map_path='train_labels'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='val', seg_map_path='val_labels'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric')
test_evaluator = val_evaluator
