# unet_r18_camvid.py trained with smp's own augmentation: the training list
# of segmentation_models.pytorch's CamVid example (examples/cars
# segmentation (camvid).ipynb), in albumentations 2's argument names, with
# masks padded with the ignore index 255 instead of class 0.
# Needs the [albu] extra: pip install -e '.[albu]'.
_base_ = './unet_r18_camvid.py'

smp_train_augmentation = [
    dict(type='HorizontalFlip', p=0.5),
    # ShiftScaleRotate(scale_limit=0.5, rotate_limit=0, shift_limit=0.1,
    # p=1, border_mode=0): in albumentations 2 it is an Affine that scales
    # width and height apart; keep_ratio=True keeps albumentations 1's one
    # scale.
    dict(type='Affine', scale=(0.5, 1.5), keep_ratio=True,
         translate_percent=(-0.1, 0.1), rotate=0, border_mode=0,
         fill_mask=255, p=1),
    # always_apply=True is p=1, the default of both.
    dict(type='PadIfNeeded', min_height=320, min_width=320, border_mode=0,
         fill_mask=255),
    dict(type='RandomCrop', height=320, width=320),
    # albumentations 1's default variance 10-50 (std 3.2-7.1 of 255).
    dict(type='GaussNoise', std_range=(0.0124, 0.0277), p=0.2),
    dict(type='Perspective', fill_mask=255, p=0.5),
    dict(type='OneOf', transforms=[
        dict(type='CLAHE', p=1),
        dict(type='RandomBrightnessContrast', p=1),
        dict(type='RandomGamma', p=1),
    ], p=0.9),
    dict(type='OneOf', transforms=[
        dict(type='Sharpen', p=1),
        dict(type='Blur', blur_limit=3, p=1),
        dict(type='MotionBlur', blur_limit=3, p=1),
    ], p=0.9),
    dict(type='OneOf', transforms=[
        dict(type='RandomBrightnessContrast', p=1),
        dict(type='HueSaturationValue', p=1),
    ], p=0.9),
]
train_pipeline = [
    {{_base_.cached_loading}},
    dict(type='Albu', transforms=smp_train_augmentation),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
