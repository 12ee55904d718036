"""Throughput of a config on this machine; ``tools/benchmark.py`` is the
command line and ``docs/performance.md`` the method."""
from .report import format_report
from .run import EXTRA_PARTS, PARTS, run_benchmark
from .runner import profile_runner, runner_config
from .timing import Settings, repeat_rates, timed_rates

__all__ = ['EXTRA_PARTS', 'PARTS', 'Settings', 'format_report', 'repeat_rates',
           'profile_runner', 'run_benchmark', 'runner_config',
           'timed_rates']
