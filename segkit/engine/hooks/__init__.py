from segkit.engine.model_loading import CheckpointFitHook
from .bad_sample_hook import BadSampleHook
from .nonfinite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .num_class_check_hook import NumClassCheckHook
from .report_hook import ReportHook
from .vis_hook import SegVisHook, configure_show_dir

__all__ = ['BadSampleHook', 'CheckpointFitHook', 'NonFiniteLossError',
           'NonFiniteLossHook', 'NumClassCheckHook', 'ReportHook',
           'SegVisHook', 'configure_show_dir']
