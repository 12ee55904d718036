# Fine-tuning EfficientNet-Lite0 on CamVid, scored on sequences held out of
# training (the proxies of heldout_camvid.py: A holds out 0001TP, dusk; B
# 0006R0). Each variant changes one choice of unet_effl0_camvid_quick.py and
# trains the iterations its cost allows in the same minutes; the table is in
# docs/experiments/.
#   python tools/sweep.py configs/sweeps/finetune_camvid.py --parallel 2
config = 'configs/unet_effl0_camvid_quick.py'

_HELD_OUT = dict(A=(['0006R0', '0016E5'], ['0001TP']),
                 B=(['0001TP', '0016E5'], ['0006R0']))
_ITERS = 1000  # about 13 minutes of the base variant on a 2-core fp32 CPU


def _held_out(split, **options):
    train, val = _HELD_OUT[split]
    return dict({'train_cfg.max_iters': _ITERS}, **options, **{
        'train_dataloader.dataset.sequences': train,
        'val_dataloader.dataset.sequences': val,
        'val_dataloader.dataset.data_prefix': dict(
            img_path='train', seg_map_path='train_labels')})


_NARROW = {'train_cfg.max_iters': 1500,
           'model.decode_head.decoder_channels': (128, 64, 32, 16, 16)}
# The pipeline of camvid_half_crop32.py by position (each key is checked
# against the transform there): RandomResize, RandomCrop.
_SCALE, _CROP = ('train_dataloader.dataset.pipeline.1.ratio_range',
                 'train_dataloader.dataset.pipeline.2.crop_size')
_CHOICES = dict(
    # Round 1: one choice each on the config as first written.
    base={},
    encoder_lr1={'optim_wrapper.paramwise_cfg.custom_keys': {
        'backbone': dict(lr_mult=1.0)}},
    frozen_bn={'model.backbone.norm_eval': True},
    # The decoder is 5/6 of the FLOPs; half its width trains 1.5x faster
    # per iteration.
    narrow_decoder=_NARROW,
    # Round 2: one choice each on the narrow decoder.
    narrow_scale=dict(_NARROW, **{_SCALE: (0.5, 2.0)}),
    narrow_warmup=dict(_NARROW, **{'param_scheduler.0.end': 188,
                                   'param_scheduler.1.begin': 188}),
    # 1.67x the pixels of a 192x256 crop: 1500 / 1.67 iterations.
    narrow_crop256=dict(_NARROW, **{_CROP: (256, 320),
                                    'train_cfg.max_iters': 900}),
    # Lite2's encoder costs 1.5x Lite0's FLOPs (1.08 G against 0.71 G a
    # 192x256 crop), the whole net about 1.3x: 1160 iterations.
    narrow_lite2=dict(_NARROW, **{
        'model.backbone.model_name': 'tf_efficientnet_lite2',
        'model.backbone.init_cfg.checkpoint': 'efficientnet-lite2',
        'train_cfg.max_iters': 1160}),
    # A stride-1 skip (FullResolutionStem, 16 channels) for thin classes:
    # the last up-step concatenates it; about 10 % more per iteration.
    narrow_fullres=dict(_NARROW, **{
        'model.backbone': dict(
            _delete_=True, type='FullResolutionStem',
            backbone=dict(type='TimmBackbone',
                          model_name='tf_efficientnet_lite0',
                          init_cfg=dict(type='Pretrained',
                                        checkpoint='efficientnet-lite0'))),
        'train_cfg.max_iters': 1360}),
)
variants = {
    f'{_name}_{_split}': dict(options=_held_out(_split, **_options))
    for _name, _options in _CHOICES.items() for _split in _HELD_OUT}
