# The CamVid quick recipes scored on sequences held out of training
# (docs/experiments/2026-11-27-heldout-recipes.md): A holds out
# train's 0001TP frames (dusk), B its 0006R0 frames (daylight, another
# route); each trains on the other two sequences of train/. The table there
# came from these variants on an H100, eight at a time, in bf16 with 3 data
# workers each (run by the harness this tool replaces):
#   python tools/sweep.py configs/sweeps/heldout_camvid.py --parallel 8 \
#     --cfg-options optim_wrapper.precision=bf16 train_dataloader.num_workers=3
# On this CPU one variant takes the quick config's 12-15 minutes.
config = 'configs/unet_r18_camvid_quick.py'

_HELD_OUT = dict(A=(['0006R0', '0016E5'], ['0001TP']),
                 B=(['0001TP', '0016E5'], ['0006R0']))
_PAPER_UNET = 'configs/unet_camvid_quick.py'
_RESNET18 = {
    'model.backbone.backbone': dict(
        _delete_=True, type='TorchvisionBackbone', name='resnet18',
        out_indices=(0, 1, 2, 3)),
    'train_cfg.max_iters': 3000,  # ResNet-18 is cheaper per iteration
}
_WEIGHT_DECAY = {'optim_wrapper.optimizer.weight_decay': 0.05}
_DEEPLABV3 = 'configs/deeplabv3_mbv3_camvid_quick.py'


# Overrides of camvid_half.py's training pipeline by position (each key is
# checked against the transform there): RandomResize and the colour jitter.
_SCALE_JITTER = {'train_dataloader.dataset.pipeline.1.ratio_range': (0.5, 2.0)}
_COLOUR_JITTER = {
    'train_dataloader.dataset.pipeline.4.brightness_delta': 64,
    'train_dataloader.dataset.pipeline.4.contrast_range': (0.3, 1.7),
    'train_dataloader.dataset.pipeline.4.saturation_range': (0.3, 1.7),
}


def _held_out(split, **options):
    train, val = _HELD_OUT[split]
    return dict(options, **{
        'train_dataloader.dataset.sequences': train,
        'val_dataloader.dataset.sequences': val,
        'val_dataloader.dataset.data_prefix': dict(
            img_path='train', seg_map_path='train_labels')})


variants = {}
for _split in _HELD_OUT:
    variants.update({
        f'paper_unet_{_split}': dict(config=_PAPER_UNET,
                                     options=_held_out(_split)),
        f'r18d_{_split}': dict(options=_held_out(_split)),
        f'r18_{_split}': dict(options=_held_out(_split, **_RESNET18)),
        f'r18d_wd_{_split}': dict(options=_held_out(_split, **_WEIGHT_DECAY)),
        f'r18d_jitter_{_split}': dict(
            options=_held_out(_split, **_COLOUR_JITTER)),
        f'r18d_scale_{_split}': dict(
            options=_held_out(_split, **_SCALE_JITTER)),
        f'deeplabv3_mbv3_{_split}': dict(config=_DEEPLABV3,
                                         options=_held_out(_split)),
        # A 128-channel ASPP head trains 1.3x faster on this CPU: the
        # iterations of the same minutes (run on the CPU only, for B).
        f'deeplabv3_mbv3_c128_{_split}': dict(
            config=_DEEPLABV3, options=_held_out(
                _split, **{'model.decode_head.channels': 128,
                           'train_cfg.max_iters': 1800})),
    })
