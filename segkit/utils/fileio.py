"""Writes that a killed process can never leave half done, and folders
checked for writing before any work."""
import contextlib
import os
import os.path as osp
import tempfile
import uuid
from pathlib import Path
from typing import Any, Union

import mmengine

from .errors import UnwritablePathError


def ensure_writable_dir(path: Union[str, Path], what: str,
                        option: str) -> None:
    """Create the folder ``path`` if needed and write a file in it.

    Args:
        path: The folder.
        what: What it is, for the message (``'the work dir'``).
        option: The option that chooses another, for the message.

    Raises:
        UnwritablePathError: naming the folder and the reason (a folder the
            user may not write, a path through a file, a full or read-only
            disk), where the first write would stop with a traceback.
    """
    created = not osp.exists(path)
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        if created and osp.isdir(path):
            os.rmdir(path)
        reason = ('it is a file' if osp.exists(path)
                  and not osp.isdir(path) else error.strerror or error)
        raise UnwritablePathError(
            f'cannot write {what} {osp.abspath(path)}: {reason}; choose '
            f'another with {option}') from None


def atomic_write(filepath: Union[str, Path], data: bytes) -> None:
    """Replace ``filepath`` with ``data``, all or nothing.

    Writes a temporary file beside the target, fsyncs it, renames it over
    the target and fsyncs the folder. The temporary name starts with a dot,
    so checkpoint globs skip it.

    Args:
        filepath: The file to create or replace; its folder is created.
        data: The whole new content.
    """
    path = osp.abspath(os.fspath(filepath))
    directory, name = osp.split(path)
    os.makedirs(directory, exist_ok=True)
    tmp = osp.join(directory, f'.{name}.{os.getpid()}.{uuid.uuid4().hex}.tmp')
    try:
        # 'x' never clobbers, and unlike mkstemp's 0600 honours the umask.
        with open(tmp, 'xb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    dir_fd = os.open(directory, os.O_RDONLY)  # make the rename durable
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def dump_json_atomic(obj: Any, filepath: Union[str, Path]) -> None:
    """Write ``obj`` as indented JSON with :func:`atomic_write`.

    Args:
        obj: Anything ``mmengine.dump`` serialises (numpy values included).
        filepath: The JSON file.
    """
    atomic_write(filepath,
                 mmengine.dump(obj, file_format='json', indent=2).encode())
