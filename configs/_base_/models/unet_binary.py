# The U-Net with one sigmoid output, trained with BCE + soft Dice (what the
# best Carvana entries used), for one-object tasks.
_base_ = './unet.py'
model = dict(
    decode_head=dict(
        num_classes=1,
        loss_decode=[
            dict(type='BCEWithLogitsLoss', loss_weight=1.0),
            dict(type='DiceLoss', loss_weight=1.0),
        ]))
