"""One writer at a time on a store, and the clean-up of what a killed writer left.

A local store is locked with ``filelock`` (``flock`` on POSIX, ``LockFileEx`` on Windows):
the operating system releases it when the process dies, so a crash never leaves a store
locked.

An object store has no such lock, so the store holds a lock *object*, ``_braze_sync.lock``
(JSON: its owner, host and process, and how many seconds it lives), with an expiry:

* taking it is a conditional create: S3 ``PutObject`` with ``If-None-Match: *`` (boto3,
  the ``s3`` extra), which only one writer can win;
* it expires ``seconds`` after the store last wrote it (its ``Last-Modified``, compared
  with the store's own clock, the ``Date`` of the answer, so that clients' clocks do not
  matter); the holder renews it every third of that while the sync runs;
* a writer that finds an expired lock (its holder was killed) takes it over with
  ``If-Match: <the ETag it read>``, so that of two writers racing for it only one wins;
* a writer that finds a live lock is refused with :class:`StoreLockedError`, which says who
  holds it and until when;
* a holder whose renewal fails because another writer took the lock over (it was stalled
  longer than the expiry) stops before writing anything more.

Stores without conditional writes here (GCS and Azure through pyarrow's filesystems) get a
best-effort lock (read, then write) and a :class:`StoreLockWarning` saying so.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Final

from .._errors import BrazeError
from .fs import ObjectPath, StorePath, s3_client

__all__ = ["StoreLockWarning", "StoreLockedError"]

_LOCK_NAME: Final = "_braze_sync.lock"

#: How long a lock object lives without renewal: a few minutes, so that a store whose
#: writer was killed is free again soon, and a slow request does not lose the lock.
LOCK_SECONDS = 300.0


class StoreLockedError(BrazeError, RuntimeError):
    """Another sync holds the store's lock (or took it over from this one)."""


class StoreLockWarning(UserWarning):
    """The store cannot be locked safely (no conditional writes): two syncs could collide."""


class _Lease:
    """A held lock: :meth:`check` raises once it is lost (object stores only)."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.lost: str | None = None

    def check(self) -> None:
        if self.lost is not None:
            msg = f"this sync lost the lock on {self.where}: {self.lost}; it stopped before writing more"
            raise StoreLockedError(msg, hint="run the sync again once the other writer is done")


@contextmanager
def _store_lock(root: StorePath, *, seconds: float | None = None) -> Iterator[_Lease]:
    """Hold the store's lock for the duration of the block (``seconds``: its expiry)."""
    if isinstance(root, Path):
        with _local_lock(root) as lease:
            yield lease
        return
    lock = _ObjectLock(root / _LOCK_NAME, LOCK_SECONDS if seconds is None else seconds)
    lock.acquire()
    try:
        yield lock.lease
    finally:
        lock.release()


@contextmanager
def _local_lock(root: Path) -> Iterator[_Lease]:
    from filelock import FileLock, Timeout

    # The lock file stays: deleting it on release would let a writer that opened it just
    # before lock an unlinked file while a third one locks a new one.
    lock = FileLock(root / _LOCK_NAME, timeout=0, preserve_lock_file=True)
    try:
        lock.acquire()
    except Timeout:
        msg = f"another sync is running on {root} (a live process holds {_LOCK_NAME})"
        raise StoreLockedError(msg, hint="wait for it to finish, then run this sync again") from None
    try:
        yield _Lease(str(root))
    finally:
        lock.release()


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class _ObjectLock:
    """The lock object of a store on an object store (see the module docstring)."""

    def __init__(self, path: ObjectPath, seconds: float) -> None:
        self.path = path
        self.seconds = float(seconds)
        self.owner = _owner()
        self.etag: str | None = None
        self.lease = _Lease(str(path.parent))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _body(self) -> bytes:
        return json.dumps({
            "library": "braze_frames", "owner": self.owner, "seconds": self.seconds,
            "written_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }).encode()

    # --- S3 ------------------------------------------------------------------------------

    def _put(self, **condition: str) -> str:
        client = s3_client(self.path.options)
        answer = client.put_object(Bucket=self.path.bucket, Key=self.path.object_key,
                                   Body=self._body(), **condition)
        return str(answer["ETag"])

    def _read(self) -> tuple[str, dict[str, Any], dt.datetime, dt.datetime] | None:
        """(ETag, body, expiry, the store's now), or None when there is no lock object."""
        client = s3_client(self.path.options)
        try:
            answer = client.get_object(Bucket=self.path.bucket, Key=self.path.object_key)
        except client.exceptions.NoSuchKey:
            return None
        raw = answer["Body"].read()
        try:
            body = json.loads(raw)
            seconds = float(body.get("seconds", LOCK_SECONDS))
        except (ValueError, TypeError, AttributeError):
            body, seconds = {"owner": "an unreadable lock object"}, 0.0  # taken over at once
        modified = answer["LastModified"]
        date = answer["ResponseMetadata"]["HTTPHeaders"].get("date")
        now = parsedate_to_datetime(date) if date else dt.datetime.now(dt.timezone.utc)
        return str(answer["ETag"]), body, modified + dt.timedelta(seconds=seconds), now

    def acquire(self) -> None:
        if self.path.scheme != "s3":
            self._acquire_best_effort()
        else:
            self._acquire_s3()
        self._thread = threading.Thread(target=self._renew, name="braze-sync-lock", daemon=True)
        self._thread.start()

    def _acquire_s3(self) -> None:
        from botocore.exceptions import ClientError

        for _ in range(3):
            try:
                self.etag = self._put(IfNoneMatch="*")
                break
            except ClientError as exc:
                if not _precondition_failed(exc):
                    raise
            held = self._read()
            if held is None:
                continue  # released in between: try the create again
            etag, body, expires, now = held
            if now < expires:
                raise self._locked(body, expires)
            try:
                self.etag = self._put(IfMatch=etag)  # take over an expired lock
                break
            except ClientError as exc:
                if not _precondition_failed(exc):
                    raise
                # Another writer took it over first: look again.
        else:
            msg = f"could not take the lock on {self.lease.where}: other writers keep changing it"
            raise StoreLockedError(msg, hint="run the sync again in a minute")

    def _locked(self, body: dict[str, Any], expires: dt.datetime) -> StoreLockedError:
        owner = body.get("owner", "an unknown writer")
        msg = (f"another sync holds the lock on {self.lease.where}: {owner}, until "
               f"{expires.isoformat(timespec='seconds')} (renewed while it runs)")
        hint = ("wait for it to finish; if that process is gone, its lock expires at that time "
                "and the next sync takes it over")
        return StoreLockedError(msg, hint=hint)

    def _renew(self) -> None:
        interval = self.seconds / 3
        if self.path.scheme != "s3":
            while not self._stop.wait(interval):
                self.path.put(self._body())
            return
        from botocore.exceptions import BotoCoreError, ClientError

        last = dt.datetime.now(dt.timezone.utc)
        while not self._stop.wait(interval):
            try:
                self.etag = self._put(IfMatch=str(self.etag))
                last = dt.datetime.now(dt.timezone.utc)
            except ClientError as exc:
                if _precondition_failed(exc):
                    self.lease.lost = "another writer took it over after it expired"
                    return
            except BotoCoreError:
                pass  # a network hiccup: the next tick retries
            if (dt.datetime.now(dt.timezone.utc) - last).total_seconds() > self.seconds:
                self.lease.lost = "it could not be renewed before it expired"
                return

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.path.scheme != "s3":
            self.path.unlink(missing_ok=True)
            return
        held = self._read()
        # Deleted only if it is still ours (another writer may have taken it over). The
        # read and the delete are two requests: a takeover between them is possible only
        # after this lock expired, i.e. after this writer stalled for `seconds`.
        if held is not None and held[0] == self.etag:
            client = s3_client(self.path.options)
            client.delete_object(Bucket=self.path.bucket, Key=self.path.object_key)

    # --- stores without conditional writes ------------------------------------------------

    def _acquire_best_effort(self) -> None:
        warnings.warn(
            f"{self.path.scheme}:// has no conditional write here: the lock on "
            f"{self.lease.where} is best-effort, so never run two syncs on it at once",
            StoreLockWarning,
            stacklevel=4,
        )
        if self.path.is_file():
            try:
                body = json.loads(self.path.read_bytes())
                written = dt.datetime.fromisoformat(body["written_at"])
                expires = written + dt.timedelta(seconds=float(body["seconds"]))
            except (ValueError, TypeError, KeyError):
                body, expires = {}, dt.datetime.now(dt.timezone.utc)
            if dt.datetime.now(dt.timezone.utc) < expires:
                raise self._locked(body, expires)
        self.path.put(self._body())


def _precondition_failed(exc: Any) -> bool:
    error = getattr(exc, "response", {}).get("Error", {})
    status = getattr(exc, "response", {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    # 412: the condition failed; 409: a concurrent conditional write to the same key.
    return error.get("Code") in {"PreconditionFailed", "ConditionalRequestConflict"} or status in (409, 412)


def _remove_temporary_files(root: StorePath) -> None:
    """Delete the temporary files a killed local writer left (``.<name>.<random>.tmp``).

    Object stores have none: their files are written in one request.
    """
    if not isinstance(root, Path):
        return
    for tmp in root.rglob(".*.tmp"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
