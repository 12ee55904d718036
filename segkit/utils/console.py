"""The console of a run: what a researcher reads while it goes.

MMEngine's logger writes every record to the console and to the run's log
file alike: about 400 lines of environment, config and hook order before the
first iteration. :func:`install_console` swaps its console handler for a
:class:`ConsoleHandler` (``segkit.engine.runner.SegRunner`` does it as the
logger is built): the log file keeps everything, the console shows warnings,
errors and the INFO records logged with ``extra=CONSOLE`` (the run summary,
validation tables, where the results went), each behind a short time stamp.
On a terminal :meth:`ConsoleHandler.progress` keeps one progress line
rewritten in place; elsewhere (a pipe, a batch job's log) it prints a line.
"""
import logging
import sys
from typing import Optional, TextIO

# logger.info(message, extra=CONSOLE): the record is shown on the console too.
CONSOLE = {'console': True}
# Deprecation notices that MMEngine's own CheckpointHook raises on every run:
# nothing in the user's config causes them and nothing there can stop them.
MMENGINE_NOTICES = ('"FileClient" will be deprecated',
                    '"HardDiskBackend" is the alias of "LocalBackend"')
_CLEAR_LINE = '\r\033[K'


def shown_on_console(record: logging.LogRecord) -> bool:
    """Warnings and errors, and records logged with ``extra=CONSOLE``."""
    if record.levelno >= logging.WARNING:
        return not str(record.msg).startswith(MMENGINE_NOTICES)
    return getattr(record, 'console', False)


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS message``; ``HH:MM:SS WARNING: message`` above INFO."""

    def __init__(self) -> None:
        super().__init__('%(asctime)s %(message)s', datefmt='%H:%M:%S')

    def formatMessage(self, record: logging.LogRecord) -> str:
        text = super().formatMessage(record)
        if record.levelno <= logging.INFO:
            return text
        stamp, message = text.split(' ', 1)
        return f'{stamp} {record.levelname}: {message}'


class ConsoleHandler(logging.StreamHandler):
    """The console half of a run's logger (see the module docstring).

    Args:
        stream: Where to write; default ``sys.stdout``, as MMEngine.
        level: Records below it are not shown (MMEngine raises it to ERROR
            on ranks other than 0).
    """

    def __init__(self, stream: Optional[TextIO] = None,
                 level: int = logging.INFO) -> None:
        super().__init__(sys.stdout if stream is None else stream)
        self.setLevel(level)
        self.setFormatter(ConsoleFormatter())
        self.addFilter(shown_on_console)
        isatty = getattr(self.stream, 'isatty', None)
        self.interactive = bool(isatty and isatty())
        self._live = False

    def emit(self, record: logging.LogRecord) -> None:
        self.end_progress()
        super().emit(record)

    def progress(self, text: str) -> None:
        """Show ``text`` as the progress line: on a terminal in place of the
        previous one, elsewhere as a line of its own."""
        if self.level > logging.INFO:  # a rank other than 0
            return
        if not self.interactive:
            self.handle(logging.makeLogRecord(dict(
                msg=text, levelno=logging.INFO, levelname='INFO',
                **CONSOLE)))
            return
        with self.lock:
            self.stream.write(_CLEAR_LINE + self.formatter.formatTime(
                logging.makeLogRecord({}), self.formatter.datefmt) + ' '
                + text)
            self.stream.flush()
            self._live = True

    def end_progress(self) -> None:
        """Keep the progress line on screen and move below it."""
        if self._live:
            self._live = False
            self.stream.write('\n')
            self.stream.flush()


def install_console(logger: logging.Logger) -> ConsoleHandler:
    """Replace ``logger``'s console handler (MMLogger's ``StreamHandler`` on
    stdout/stderr) by a :class:`ConsoleHandler` of the same level and
    filters; idempotent. Returns the console handler."""
    for handler in logger.handlers:
        if isinstance(handler, ConsoleHandler):
            return handler
    consoles = [h for h in logger.handlers
                if type(h) is logging.StreamHandler
                and h.stream in (sys.stdout, sys.stderr)]
    console = ConsoleHandler(consoles[0].stream if consoles else None,
                             consoles[0].level if consoles else logging.INFO)
    for handler in consoles:
        for extra in handler.filters:  # MMEngine's duplicate-warning filter
            console.addFilter(extra)
        logger.removeHandler(handler)
    logger.addHandler(console)
    return console


def find_console(logger: logging.Logger) -> Optional[ConsoleHandler]:
    """The :class:`ConsoleHandler` :func:`install_console` put on
    ``logger``, or ``None`` (a plain MMEngine logger)."""
    return next((h for h in logger.handlers
                 if isinstance(h, ConsoleHandler)), None)
