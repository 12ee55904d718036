# ISBI 2012 EM membranes (the U-Net paper's data): 30 grey 512x512 slices.
# Membrane (raw 0) is class 1, the one the challenge scores; cells (255) are 0.
# Grey PNGs load as 3 equal channels, so ImageNet-style models work as is.
dataset_type = 'FolderSegDataset'
data_root = '{{$ISBI_ROOT:../shared/data/isbi_membrane}}'
# Where the default is missing (a fresh clone), the tools use the bundled
# 4-slice sample, split 3 + 1, and say so; a root set by ISBI_ROOT or
# data_root= must exist (segkit.apis.data_roots).
data_source = dict(
    env='ISBI_ROOT', default='../shared/data/isbi_membrane',
    sample='data/isbi_sample', layout='images/NN.png and labels/NN.png',
    sample_overrides={
        'train_dataloader.dataset.split_file':
        '{{ fileDirname }}/isbi_splits/sample_train.txt',
        'val_dataloader.dataset.split_file':
        '{{ fileDirname }}/isbi_splits/sample_val.txt',
        'test_dataloader.dataset.split_file':
        '{{ fileDirname }}/isbi_splits/sample_val.txt',
    })
crop_size = (256, 256)
isbi = dict(
    type=dataset_type,
    data_root=data_root,
    data_prefix=dict(img_path='images', seg_map_path='labels'),
    label_map={255: 0, 0: 1},
    metainfo=dict(classes=('cell', 'membrane'),
                  palette=[[0, 0, 0], [255, 255, 255]]))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadSegMap'),
    dict(type='RandomResize', scale=(512, 512), ratio_range=(0.5, 2.0),
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=[0.25, 0.25],
         direction=['horizontal', 'vertical']),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadSegMap'),
    dict(type='PackSegInputs'),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(**isbi, split_file='{{ fileDirname }}/isbi_splits/train.txt',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(**isbi, split_file='{{ fileDirname }}/isbi_splits/val.txt',
                 test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='IoUMetric')
test_evaluator = val_evaluator
