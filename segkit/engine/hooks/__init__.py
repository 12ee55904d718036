from .bad_sample_hook import BadSampleHook
from .checkpoint_fit_hook import CheckpointFitHook
from .checkpoint_hook import AtomicCheckpointHook
from .nonfinite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .num_class_check_hook import NumClassCheckHook
from .report_hook import ReportHook
from .vis_hook import SegVisHook, configure_show_dir

__all__ = ['AtomicCheckpointHook', 'BadSampleHook', 'CheckpointFitHook',
           'NonFiniteLossError', 'NonFiniteLossHook', 'NumClassCheckHook',
           'ReportHook', 'SegVisHook', 'configure_show_dir']
