"""The errors that are the user's to fix, told apart from bugs by type.

Tools print a :class:`SegkitUserError` as one line, without a traceback
(``segkit.apis.cli``); every other exception is a bug and keeps its
traceback. Each subclass is also the builtin type callers already catch
(``ValueError``, ``FileNotFoundError``, ...), so raising one instead of the
builtin changes nothing for them. Raise one where the user's input first
enters (a config value, a path, a file's content, a checkpoint), with a
message that names the file, key or value, what was expected and what to do.
"""


class SegkitUserError(Exception):
    """Base of the errors a user fixes by changing an input, not the code."""


class ConfigValueError(SegkitUserError, ValueError):
    """A config value (or command-line option) a component refuses."""


class DataError(SegkitUserError, ValueError):
    """Data that exists but cannot be used: unreadable, malformed, empty."""


class MissingPathError(SegkitUserError, FileNotFoundError):
    """A file or folder the user named, or the data needs, is not there."""


class UnwritablePathError(SegkitUserError, OSError):
    """A folder the user named (a work dir, an output folder) that cannot
    be created or written to."""
