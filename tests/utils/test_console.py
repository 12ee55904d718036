"""The console handler: what reaches the console, in what form, and that
the log file beside it still gets everything."""
import io
import logging
import re
import uuid

from mmengine.logging import MMLogger

from segkit.utils.console import (CONSOLE, MMENGINE_NOTICES, ConsoleHandler,
                                  find_console, install_console)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def mmlogger(tmp_path) -> MMLogger:
    """A logger as MMEngine's Runner builds it: console and log file."""
    return MMLogger.get_instance(f'console-{uuid.uuid4().hex}',
                                 log_file=str(tmp_path / 'run.log'),
                                 log_level='INFO')


def test_console_shows_marked_lines_and_warnings_the_file_keeps_all(
        tmp_path):
    logger = mmlogger(tmp_path)
    stream = io.StringIO()
    console = install_console(logger)
    console.setStream(stream)
    assert install_console(logger) is console  # idempotent
    assert find_console(logger) is console
    assert [type(h) for h in logger.handlers].count(logging.StreamHandler) \
        == 0  # MMEngine's console handler is gone, the file handler stays

    logger.info('Config:\nlots of lines')
    logger.info('training configs/x.py', extra=CONSOLE)
    logger.warning('the data has 3 unreadable files')
    logger.warning(MMENGINE_NOTICES[0] + ' in future.')
    shown = stream.getvalue().splitlines()
    assert [re.sub(r'^\d\d:\d\d:\d\d ', '', line) for line in shown] == [
        'training configs/x.py',
        'WARNING: the data has 3 unreadable files']
    kept = (tmp_path / 'run.log').read_text()
    for text in ('Config:\nlots of lines', 'training configs/x.py',
                 'the data has 3 unreadable files', MMENGINE_NOTICES[0]):
        assert text in kept


def test_progress_rewrites_one_line_on_a_terminal_and_prints_elsewhere():
    terminal = ConsoleHandler(Terminal())
    terminal.progress('iter 1/3')
    terminal.progress('iter 2/3')
    terminal.handle(logging.makeLogRecord(
        dict(msg='val: mIoU: 0.5', levelno=logging.INFO, **CONSOLE)))
    screen = terminal.stream.getvalue()
    # \r and erase-to-end-of-line: the second progress replaces the first;
    # a logged line ends the progress line first.
    assert re.fullmatch(r'\r\x1b\[K\d\d:\d\d:\d\d iter 1/3'
                        r'\r\x1b\[K\d\d:\d\d:\d\d iter 2/3\n'
                        r'\d\d:\d\d:\d\d val: mIoU: 0\.5\n', screen), screen

    piped = ConsoleHandler(io.StringIO())
    piped.progress('iter 1/3')
    piped.progress('iter 2/3')
    assert re.fullmatch(r'\d\d:\d\d:\d\d iter 1/3\n\d\d:\d\d:\d\d iter 2/3\n',
                        piped.stream.getvalue())


def test_other_ranks_show_no_progress():
    rank1 = ConsoleHandler(Terminal(), level=logging.ERROR)
    rank1.progress('iter 1/3')
    assert rank1.stream.getvalue() == ''
