# Seed 001's recipe, milesial/Pytorch-UNet's train.py, on unet_carvana.py:
# RMSprop (lr 1e-5, weight decay 1e-8, momentum 0.999), gradients clipped to
# norm 1.0, and ReduceLROnPlateau('max', patience=5) on the validation Dice:
# the learning rate is cut tenfold after 5 validations without a better
# Dice (DiceMetric's 'Dice', the per-image Kaggle score).
_base_ = './unet_carvana.py'
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='RMSprop', lr=1e-5, weight_decay=1e-8,
                   momentum=0.999),
    clip_grad=dict(_delete_=True, max_norm=1.0))
# Stepped by ParamSchedulerHook after each validation with its scores, not
# by iterations: MMEngine requires by_epoch=True (its default) even in an
# iteration-based run, and a train_cfg.max_iters override leaves it alone.
param_scheduler = [
    dict(type='ReduceOnPlateauLR', monitor='Dice', rule='greater',
         factor=0.1, patience=5),
]
