"""Small annotation csv files (class_dict.csv, train_masks.csv), read with
errors that name the file and the line, and written atomically."""
import csv
import io
import os
import os.path as osp
from typing import Iterator, List, Sequence, Tuple, Union

from segkit.utils import DataError, MissingPathError
from segkit.utils.fileio import atomic_write


def csv_rows(path: str, header: Sequence[str], what: str,
             remedy: str = '') -> Iterator[Tuple[int, List[str]]]:
    """Yield ``(line number, fields)`` per non-blank row after the header.

    A missing file (:class:`~segkit.utils.MissingPathError`, ending with
    ``remedy``, what the user can do), another header (compared
    case-insensitively, a BOM allowed) or a row with another number of
    fields (:class:`~segkit.utils.DataError`) is an error here.
    """
    if not osp.isfile(path):
        raise MissingPathError(
            f'{what} {path!r} does not exist: expected a csv with the header '
            f'{",".join(header)}' + (f'; {remedy}' if remedy else ''))
    with open(path, newline='', encoding='utf-8-sig') as f:
        reader = csv.reader(f)
        found = next(reader, [])
        if [field.strip().lower() for field in found] != list(header):
            raise DataError(f'{path}, line 1: expected the header '
                            f'{",".join(header)!r}, got {found}')
        for fields in reader:
            if not any(field.strip() for field in fields):
                continue
            if len(fields) != len(header):
                raise DataError(
                    f'{path}, line {reader.line_num}: expected '
                    f'{len(header)} fields {",".join(header)}, got '
                    f'{len(fields)}: {fields}')
            yield reader.line_num, fields


def write_csv(path: Union[str, os.PathLike], header: Sequence[str],
              rows: Sequence[Sequence[str]]) -> None:
    """Write ``header`` then ``rows`` as a csv file, atomically (a killed
    run leaves the previous file or none, never a truncated one)."""
    text = io.StringIO()
    writer = csv.writer(text, lineterminator='\n')
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write(path, text.getvalue().encode())
