from .bad_sample_hook import BadSampleHook
from .checkpoint_fit_hook import CheckpointFitHook
from .checkpoint_hook import AtomicCheckpointHook
from .console_hook import ConsoleHook
from .data_check_hook import DataCheckHook
from .device_prefetch_hook import DevicePrefetchHook
from .histogram_hook import HistogramHook
from .hook_config import configure_hook
from .nonfinite_loss_hook import NonFiniteLossError, NonFiniteLossHook
from .num_class_check_hook import NumClassCheckHook
from .preemption_hook import (EXIT_PREEMPTED, PREEMPTED_MARKER_ENV,
                              PreemptionHook, TrainingPreempted)
from .report_hook import ReportHook
from .runtime_info_hook import DeferredRuntimeInfoHook
from .vis_hook import SegVisHook, configure_show_dir

__all__ = ['AtomicCheckpointHook', 'BadSampleHook', 'CheckpointFitHook',
           'ConsoleHook', 'DataCheckHook', 'DeferredRuntimeInfoHook',
           'DevicePrefetchHook',
           'EXIT_PREEMPTED', 'HistogramHook',
           'NonFiniteLossError', 'NonFiniteLossHook',
           'NumClassCheckHook', 'PREEMPTED_MARKER_ENV', 'PreemptionHook',
           'ReportHook', 'SegVisHook', 'TrainingPreempted',
           'configure_hook', 'configure_show_dir']
