# Ronneberger et al. 2015: base 64 channels, 4 down-steps, transposed-conv up,
# as an EncoderDecoder (31.0 M parameters). channels_last batches and
# mixed-precision inference ('auto': bf16 on a CPU with native bf16, fp16 on
# CUDA) are the fast paths; precision='fp32' gives exact fp32 scores.
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    size_divisor=16,  # 2 ** depth
    pad_val=0,
    seg_pad_val=255,
    channels_last=True)
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(type='UNetEncoder', in_channels=3, base_channels=64,
                  depth=4),
    decode_head=dict(
        type='UNetHead',
        upsample='deconv',
        num_classes=2,
        loss_decode=dict(type='CrossEntropyLoss', ignore_index=255,
                         loss_weight=1.0)),
    test_cfg=dict(precision='auto'))
