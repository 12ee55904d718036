# CE + soft Dice for class-imbalanced sets such as CamVid: Dice makes the rare
# classes (pole, sign, pedestrian, bicyclist) pull as hard as road and sky.
# A leaf config takes it as decode_head=dict(loss_decode={{_base_.ce_dice}}).
ce_dice = [
    dict(type='CrossEntropyLoss', ignore_index=255, loss_weight=1.0),
    dict(type='DiceLoss', ignore_index=255, loss_weight=1.0),
]
