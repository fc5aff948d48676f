"""Files written whole or not at all.

Locally: a temporary file beside the target, fsync, rename. A crash leaves the old file as
it was; the temporary file (``.<name>.<random>.tmp``, which every reader here skips) is
removed on any error. On an object store: the file is built in memory and sent in one
request (:meth:`~braze_frames.storage.fs.ObjectPath.put`), so the object is the old one or
the new one, whole.
"""

from __future__ import annotations

import io
import os
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Final

import pyarrow as pa
import pyarrow.parquet as pq

from .arrow import CANVAS_ARROW_SCHEMA, METADATA_KEY, TIDY_ARROW_SCHEMA, Kind, _encode
from .fs import ObjectPath, StorePath

__all__: list[str] = []


def _schema_of(path: StorePath) -> pa.Schema:
    if not path.exists():
        msg = f"no such file or directory: {path}"
        raise FileNotFoundError(msg)
    return _read_schema(path)


def _read_schema(path: StorePath) -> pa.Schema:
    """A Parquet file's schema (with its key-value metadata), local or on an object store."""
    if isinstance(path, ObjectPath):
        return pq.read_schema(path.key, filesystem=path.filesystem)
    return pq.read_schema(path)


#: Rows per row group of a single file: big enough for good compression and few footers,
#: small enough that readers can skip row groups of a large file by their date statistics.
_ROW_GROUP_ROWS = 1 << 20

#: Rows per row group in a dataset's files, which are sorted by campaign then date: small
#: enough that a reader looking for a few campaigns skips most row groups by their
#: ``campaign_id`` statistics (a month of a 500-campaign store spans a dozen row groups).
_DATASET_ROW_GROUP_ROWS = 1 << 16

_ZSTD_LEVEL: Final = 3

class _WriteOptions:
    def __init__(self, compression: object, level: int | None) -> None:
        if not isinstance(compression, str):
            msg = f"compression must be a codec name such as 'zstd', not {compression!r}"
            raise TypeError(msg)
        self.compression: str = compression
        self.level = _ZSTD_LEVEL if level is None and compression.lower() == "zstd" else level


def _check_parent(target: StorePath) -> None:
    if isinstance(target, ObjectPath):
        return  # no directories on object stores
    parent = target.parent
    if not parent.is_dir():
        msg = f"cannot write {target}: the directory {parent} does not exist; create it first"
        raise FileNotFoundError(msg)


def _atomic_write(target: StorePath, write: Callable[[IO[bytes]], None]) -> None:
    """Write whole or not at all: through a temporary file and a rename, or in one request."""
    if isinstance(target, ObjectPath):
        buffer = io.BytesIO()
        write(buffer)
        target.put(buffer.getvalue())
        return
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
    table: pa.Table,
    target: StorePath,
    schema: pa.Schema,
    options: _WriteOptions,
    *,
    dataset: bool = False,
) -> None:
    table = _encode(table, schema)
    step = _DATASET_ROW_GROUP_ROWS if dataset else _ROW_GROUP_ROWS

    def write(fh: IO[bytes]) -> None:
        writer = pq.ParquetWriter(
            fh, schema, compression=options.compression, compression_level=options.level
        )
        try:
            for start in range(0, table.num_rows, step):
                writer.write_table(table.slice(start, step))
        finally:
            writer.close()

    _atomic_write(target, write)


def _file_schema(table: pa.Table, kind: Kind, meta: bytes, drop: Sequence[str] = ()) -> pa.Schema:
    base = {"tidy": TIDY_ARROW_SCHEMA, "canvas": CANVAS_ARROW_SCHEMA}.get(kind, table.schema)
    fields = [f for f in base if f.name not in drop]
    return pa.schema(fields, metadata={METADATA_KEY: meta})
