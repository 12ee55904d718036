# carvana_half.py with a 192x256 training crop, a multiple of 32, for models
# whose deepest stride is 32 (they would pad a 176x240 crop to 192x256 and
# compute that border without learning from it).
_base_ = './carvana_half.py'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadSegMap'),
    dict(type='RandomResize', scale={{_base_.half_scale}},
         ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(192, 256)),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
