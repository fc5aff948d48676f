"""The store's manifest: per campaign, which days the store holds for certain, and its names.

See :mod:`braze_frames.storage.store` for what the fields mean and how a sync uses them.
A Parquet store keeps it in ``_braze_sync.json`` (written whole or not at all, locally or on
an object store); a Delta store keeps it in the metadata of the commit that wrote the data
it certifies. The manifest never holds the API key, nor anything else from the environment.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Final

from .files import _atomic_write
from .fs import StorePath

__all__ = ["MANIFEST_NAME", "utc_now"]

#: The manifest's file name inside a Parquet store.
MANIFEST_NAME: Final = "_braze_sync.json"

_FORMAT: Final = "braze_frames.sync"

#: Version 2 adds the names (``name``, ``variations``) and the store's ``layout``; version 1
#: manifests are read as they are (no names; the campaign x month layout).
_VERSION: Final = 2

#: The layouts of a Parquet store: month alone (version 2), campaign x month (version 1).
LAYOUT_MONTH: Final = "month"
LAYOUT_CAMPAIGN_MONTH: Final = "campaign_id/month"

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
    #: The campaign's latest name, and its variations' (``variation`` -> name).
    name: str | None = None
    variations: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": _iso(self.start),
            "first": _iso(self.first),
            "last": _iso(self.last),
            "synced_at": None if self.synced_at is None
            else self.synced_at.isoformat(timespec="seconds"),
        }
        if self.name is not None:
            out["name"] = self.name
        if self.variations:
            out["variations"] = dict(sorted(self.variations.items()))
        return out

    @classmethod
    def from_json(cls, value: object, where: str) -> _Record:
        if not isinstance(value, Mapping):
            msg = f"{where} is not an object"
            raise TypeError(msg)
        stamp = value.get("synced_at")
        name = value.get("name")
        variations = value.get("variations") or {}
        if not isinstance(variations, Mapping) or (name is not None and not isinstance(name, str)):
            msg = f"{where} has names of the wrong type"
            raise TypeError(msg)
        return cls(
            start=_date_or_none(value.get("start"), where),
            first=_date_or_none(value.get("first"), where),
            last=_date_or_none(value.get("last"), where),
            synced_at=None if stamp is None else dt.datetime.fromisoformat(str(stamp)),
            name=name,
            variations={str(k): str(v) for k, v in variations.items()},
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
    """The store's manifest, loaded once and saved whole.

    ``path`` is where a Parquet store keeps it; a Delta store has none (``path=None``): its
    manifest is :meth:`dumps`-ed into each commit.
    """

    def __init__(
        self, path: StorePath | None, records: dict[str, _Record], layout: str = LAYOUT_MONTH
    ) -> None:
        self.path = path
        self.records = records
        self.layout = layout
        self.dirty = False
        self._saved_at = time.monotonic()

    @classmethod
    def load(cls, root: StorePath) -> _Manifest:
        path = root / MANIFEST_NAME
        if not path.is_file():
            return cls(path, {})
        return cls.loads(path.read_text(encoding="utf-8"), str(path), path)

    @classmethod
    def loads(cls, text: str, where: str, path: StorePath | None = None) -> _Manifest:
        try:
            records, layout = _parse_manifest(json.loads(text))
        except (ValueError, TypeError) as exc:
            msg = (
                f"{where} is not a manifest this library can read ({exc}); delete it to "
                "have the next sync fetch every campaign again from start="
            )
            raise ValueError(msg) from exc
        return cls(path, records, layout)

    def earliest_start(self) -> dt.date | None:
        starts = [r.start for r in self.records.values() if r.start is not None]
        return min(starts) if starts else None

    def names(self) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
        """The latest names: campaign -> name, and (campaign, variation) -> name."""
        campaigns = {cid: r.name for cid, r in self.records.items() if r.name is not None}
        variations = {(cid, vid): name for cid, r in self.records.items()
                      for vid, name in r.variations.items()}
        return campaigns, variations

    def dumps(self) -> str:
        data = {
            "format": _FORMAT,
            "version": _VERSION,
            "layout": self.layout,
            "updated_at": utc_now().isoformat(timespec="seconds"),
            "campaigns": {cid: rec.to_json() for cid, rec in sorted(self.records.items())},
        }
        return json.dumps(data, indent=1, ensure_ascii=False)

    def save(self, *, throttle: bool = False) -> None:
        if not self.dirty or self.path is None:
            return
        if throttle and time.monotonic() - self._saved_at < _SAVE_EVERY:
            return
        text = self.dumps().encode()

        def write(fh: IO[bytes]) -> None:
            fh.write(text)

        _atomic_write(self.path, write)
        self.dirty = False
        self._saved_at = time.monotonic()


def _parse_manifest(data: object) -> tuple[dict[str, _Record], str]:
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        msg = f"not a {_FORMAT} manifest"
        raise TypeError(msg)
    version = data.get("version")
    if version not in (1, _VERSION):
        msg = f"manifest version {version!r}; this library reads 1 and {_VERSION}"
        raise TypeError(msg)
    campaigns = data.get("campaigns")
    if not isinstance(campaigns, dict):
        msg = "no campaigns object"
        raise TypeError(msg)
    layout = LAYOUT_CAMPAIGN_MONTH if version == 1 else data.get("layout", LAYOUT_MONTH)
    if layout not in (LAYOUT_MONTH, LAYOUT_CAMPAIGN_MONTH):
        msg = f"unknown layout {layout!r}"
        raise TypeError(msg)
    records = {str(cid): _Record.from_json(value, f"campaign {cid!r}") for cid, value in campaigns.items()}
    return records, str(layout)
