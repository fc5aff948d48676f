"""The store's manifest: per campaign, which days the store holds for certain.

See :mod:`braze_frames.storage.store` for what the fields mean and how a sync uses them.
The manifest never holds the API key, nor anything else from the environment.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from .files import _atomic_write

__all__ = ["MANIFEST_NAME", "utc_now"]

#: The manifest's file name inside the store.
MANIFEST_NAME: Final = "_braze_sync.json"

_FORMAT: Final = "braze_frames.sync"

_VERSION: Final = 1

#: Seconds between manifest saves while a batch is written (it is also saved after each
#: batch and on the way out): a crash re-fetches at most what was written in this time, and
#: a batch of many small campaigns does not rewrite the manifest once per campaign.
_SAVE_EVERY: Final = 0.2


@dataclass(frozen=True)
class _Record:
    """One campaign's entry in the manifest."""

    start: dt.date | None = None
    first: dt.date | None = None
    last: dt.date | None = None
    synced_at: dt.datetime | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "start": _iso(self.start),
            "first": _iso(self.first),
            "last": _iso(self.last),
            "synced_at": None if self.synced_at is None
            else self.synced_at.isoformat(timespec="seconds"),
        }

    @classmethod
    def from_json(cls, value: object, where: str) -> _Record:
        if not isinstance(value, Mapping):
            msg = f"{where} is not an object"
            raise TypeError(msg)
        stamp = value.get("synced_at")
        return cls(
            start=_date_or_none(value.get("start"), where),
            first=_date_or_none(value.get("first"), where),
            last=_date_or_none(value.get("last"), where),
            synced_at=None if stamp is None else dt.datetime.fromisoformat(str(stamp)),
        )



def utc_now() -> dt.datetime:
    """Now, in UTC (the manifest's timestamps)."""
    return dt.datetime.now(dt.timezone.utc)

def _iso(day: dt.date | None) -> str | None:
    return None if day is None else day.isoformat()


def _date_or_none(value: object, where: str) -> dt.date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        msg = f"{where} holds {value!r} where a date belongs"
        raise TypeError(msg)
    return dt.date.fromisoformat(value)


class _Manifest:
    """The store's ``_braze_sync.json``, loaded once and saved atomically."""

    def __init__(self, root: Path, records: dict[str, _Record]) -> None:
        self.path = root / MANIFEST_NAME
        self.records = records
        self.dirty = False
        self._saved_at = time.monotonic()

    @classmethod
    def load(cls, root: Path) -> _Manifest:
        path = root / MANIFEST_NAME
        if not path.exists():
            return cls(root, {})
        try:
            records = _parse_manifest(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            msg = (
                f"{path} is not a manifest this library can read ({exc}); delete it to "
                "have the next sync fetch every campaign again from start="
            )
            raise ValueError(msg) from exc
        return cls(root, records)

    def earliest_start(self) -> dt.date | None:
        starts = [r.start for r in self.records.values() if r.start is not None]
        return min(starts) if starts else None

    def save(self, *, throttle: bool = False) -> None:
        if not self.dirty:
            return
        if throttle and time.monotonic() - self._saved_at < _SAVE_EVERY:
            return
        data = {
            "format": _FORMAT,
            "version": _VERSION,
            "updated_at": utc_now().isoformat(timespec="seconds"),
            "campaigns": {cid: rec.to_json() for cid, rec in sorted(self.records.items())},
        }
        text = json.dumps(data, indent=1, ensure_ascii=False).encode()

        def write(fh: IO[bytes]) -> None:
            fh.write(text)

        _atomic_write(self.path, write)
        self.dirty = False
        self._saved_at = time.monotonic()


def _parse_manifest(data: object) -> dict[str, _Record]:
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        msg = f"not a {_FORMAT} manifest"
        raise TypeError(msg)
    if data.get("version") != _VERSION:
        msg = f"manifest version {data.get('version')!r}; this library reads {_VERSION}"
        raise TypeError(msg)
    campaigns = data.get("campaigns")
    if not isinstance(campaigns, dict):
        msg = "no campaigns object"
        raise TypeError(msg)
    return {str(cid): _Record.from_json(value, f"campaign {cid!r}") for cid, value in campaigns.items()}
