"""Helpers every layer may use: atomic files, messages, user errors,
state-dict fit."""
from .errors import (ConfigValueError, DataError, MissingPathError,
                     SegkitUserError, UnwritablePathError)
from .fileio import atomic_write, dump_json_atomic, ensure_writable_dir
from .messages import MAX_LISTED, listing, printable, root_cause
from .state_dict import (CheckpointMismatchError, LoadReport,
                         compare_state_dicts, enforce_fit)

__all__ = [
    'CheckpointMismatchError', 'ConfigValueError', 'DataError', 'LoadReport',
    'MAX_LISTED', 'MissingPathError', 'SegkitUserError',
    'UnwritablePathError', 'atomic_write', 'compare_state_dicts',
    'dump_json_atomic', 'enforce_fit', 'ensure_writable_dir', 'listing',
    'printable', 'root_cause'
]
