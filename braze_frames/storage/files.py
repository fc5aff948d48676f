"""Files written whole or not at all: a temporary file beside the target, fsync, rename.

A crash leaves the old file as it was; the temporary file (``.<name>.<random>.tmp``, which
every reader here skips) is removed on any error.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Final

import pyarrow as pa
import pyarrow.parquet as pq

from .arrow import METADATA_KEY, TIDY_ARROW_SCHEMA, Kind, _encode

__all__ = []


def _schema_of(path: Path) -> pa.Schema:
    if not path.exists():
        msg = f"no such file or directory: {path}"
        raise FileNotFoundError(msg)
    return pq.read_schema(path)


#: Rows per row group: big enough for good compression and few footers, small enough that
#: readers can skip row groups of a large file by their date statistics.
_ROW_GROUP_ROWS = 1 << 20
_ZSTD_LEVEL: Final = 3

class _WriteOptions:
    def __init__(self, compression: object, level: int | None) -> None:
        if not isinstance(compression, str):
            msg = f"compression must be a codec name such as 'zstd', not {compression!r}"
            raise TypeError(msg)
        self.compression: str = compression
        self.level = _ZSTD_LEVEL if level is None and compression.lower() == "zstd" else level


def _check_parent(target: Path) -> None:
    parent = target.parent
    if not parent.is_dir():
        msg = f"cannot write {target}: the directory {parent} does not exist; create it first"
        raise FileNotFoundError(msg)


def _atomic_write(target: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write through a temporary file in the same directory, fsync, then rename over."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    # os.open with a mode (not mkstemp's 0600) so the file gets the usual umask permissions.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; directories cannot be opened this way on Windows.
    if os.name != "posix":
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_table_file(
    table: pa.Table, target: Path, schema: pa.Schema, options: _WriteOptions
) -> None:
    table = _encode(table, schema)

    def write(fh: IO[bytes]) -> None:
        writer = pq.ParquetWriter(
            fh, schema, compression=options.compression, compression_level=options.level
        )
        try:
            for start in range(0, table.num_rows, _ROW_GROUP_ROWS):
                writer.write_table(table.slice(start, _ROW_GROUP_ROWS))
        finally:
            writer.close()

    _atomic_write(target, write)


def _file_schema(table: pa.Table, kind: Kind, meta: bytes, drop: Sequence[str] = ()) -> pa.Schema:
    base = TIDY_ARROW_SCHEMA if kind == "tidy" else table.schema
    fields = [f for f in base if f.name not in drop]
    return pa.schema(fields, metadata={METADATA_KEY: meta})
