"""Reading back what an offline W&B run recorded, for tests of the
trackers."""
import json
import struct
from pathlib import Path
from typing import Iterator, List


def wandb_records(run_file: Path) -> Iterator:
    """The protobuf ``Record``s of a ``.wandb`` file.

    The file is W&B's record log (LevelDB's log format after a 7-byte
    header: 32 KiB blocks of CRC32, length, type-framed chunks holding
    protobuf ``Record``s); wandb >= 0.19 ships no Python reader for it.
    """
    from wandb.proto import wandb_internal_pb2
    data = run_file.read_bytes()
    assert data[:4] == b':W&B'
    block, pos, chunk = 32768, 7, b''
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack('<IHB', data[pos:pos + 7])
        if not length and not kind:
            break
        chunk += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # FULL or LAST
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            chunk = b''
            yield record


def wandb_history(run_file: Path) -> List[dict]:
    """The history rows of a ``.wandb`` file, as dicts of Python values."""
    return [{item.key or '/'.join(item.nested_key):
             json.loads(item.value_json) for item in record.history.item}
            for record in wandb_records(run_file)
            if record.WhichOneof('record_type') == 'history']


def wandb_code_files(run_file: Path) -> List[str]:
    """The paths in the code artifacts a ``.wandb`` file records."""
    return [entry.path for record in wandb_records(run_file)
            if record.WhichOneof('record_type') == 'artifact'
            and record.artifact.type == 'code'
            for entry in record.artifact.manifest.contents]
