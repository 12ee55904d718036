"""Pieces of error and log messages that every layer writes alike."""
from typing import Sequence

#: Items an error message lists before "... and N more".
MAX_LISTED = 8


def listing(items: Sequence[str], limit: int = MAX_LISTED,
            indent: str = '  ') -> str:
    """Indented lines for a message: the first ``limit`` items, then a count.

    Args:
        items: One line per item.
        limit: How many to show.
        indent: What each line starts with.

    Returns:
        ``'\\n  a\\n  b\\n  ... and 3 more'``: a newline, then each shown
        item on its own indented line.
    """
    lines = [f'{indent}{item}' for item in items[:limit]]
    if len(items) > limit:
        lines.append(f'{indent}... and {len(items) - limit} more')
    return ''.join('\n' + line for line in lines)


def printable(text: str) -> str:
    """``text`` that any stream or log file can write.

    ``os.listdir`` returns the undecodable bytes of a non-UTF-8 file name as
    lone surrogates (``b'\\xff'`` -> ``'\\udcff'``), which a UTF-8 console
    refuses with ``UnicodeEncodeError``, hiding the error that names the
    file. They become ``\\xff`` escapes, as Python shows those bytes.

    Args:
        text: Any string, typically a path.

    Returns:
        ``text`` unchanged unless it holds surrogates.
    """
    try:
        raw = text.encode('utf-8', 'surrogateescape')
    except UnicodeEncodeError:  # a surrogate no file name decodes to
        return text.encode('utf-8', 'backslashreplace').decode('utf-8')
    return raw.decode('utf-8', 'backslashreplace')


def root_cause(error: BaseException) -> str:
    """``Type: first line`` of the innermost exception ``error`` was
    raised from: a message's one-line cause.

    Args:
        error: Any exception; a wrapper's ``inner_exception`` (Dynamo wraps
            a backend's error so) or ``__cause__`` is followed inwards.

    Returns:
        e.g. ``'RuntimeError: no C++ compiler'``.
    """
    while True:
        inner = getattr(error, 'inner_exception', None) or error.__cause__
        if inner is None:
            break
        error = inner
    lines = str(error).strip().splitlines()
    return f'{type(error).__name__}: {lines[0] if lines else ""}'
