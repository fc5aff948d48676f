"""One writer at a time on a store, and the clean-up of what a killed writer left."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Final

__all__: list[str] = []

_LOCK_NAME: Final = "_braze_sync.lock"


@contextmanager
def _store_lock(root: Path) -> Iterator[None]:
    """Hold the store's lock (POSIX ``flock``; released by the OS if the process dies)."""
    if os.name != "posix":
        yield
        return
    import fcntl

    fd = os.open(root / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            msg = f"another sync is running on {root}; wait for it to finish"
            raise RuntimeError(msg) from None
        yield
    finally:
        os.close(fd)


def _remove_temporary_files(root: Path) -> None:
    """Delete the temporary files a killed writer left (``.<name>.<random>.tmp``)."""
    for tmp in root.rglob(".*.tmp"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
