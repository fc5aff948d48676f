"""The store's manifest: per object, which days the store holds for certain, and its names.

See :mod:`braze_frames.storage.store` for what the fields mean and how a sync uses them.
Each table of a store (``storage.tables``) has its own manifest, in its folder, its records
under the table's section (``"campaigns"``, ``"canvases"``). A Parquet store keeps it in
``_braze_sync.json`` (written whole or not at all, locally or on an object store); a Delta
store keeps it in the metadata of the commit that wrote the data it certifies. The manifest
never holds the API key, nor anything else from the environment.
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


#: The fields of a record that are not names of its parts.
_FIELDS: Final = frozenset({"start", "first", "last", "synced_at", "name"})


@dataclass(frozen=True)
class _Record:
    """One campaign's (or Canvas's) entry in the manifest."""

    start: dt.date | None = None
    first: dt.date | None = None
    last: dt.date | None = None
    synced_at: dt.datetime | None = None
    #: The object's latest name.
    name: str | None = None
    #: Its parts' latest names, by key column: ``{"variation": {id: name}}`` for a campaign,
    #: ``{"variant": ..., "step": ...}`` for a Canvas; in JSON under ``"variations"``...
    parts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @property
    def variations(self) -> Mapping[str, str]:
        """A campaign's variation names (``variation`` -> name)."""
        return self.parts.get("variation", {})

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
        for column, names in sorted(self.parts.items()):
            if names:
                out[f"{column}s"] = dict(sorted(names.items()))
        return out

    @classmethod
    def from_json(cls, value: object, where: str) -> _Record:
        if not isinstance(value, Mapping):
            msg = f"{where} is not an object"
            raise TypeError(msg)
        stamp = value.get("synced_at")
        name = value.get("name")
        parts = {key[:-1]: names for key, names in value.items()
                 if key not in _FIELDS and key.endswith("s")}
        if not all(isinstance(v, Mapping) for v in parts.values()) or (
                name is not None and not isinstance(name, str)):
            msg = f"{where} has names of the wrong type"
            raise TypeError(msg)
        return cls(
            start=_date_or_none(value.get("start"), where),
            first=_date_or_none(value.get("first"), where),
            last=_date_or_none(value.get("last"), where),
            synced_at=None if stamp is None else dt.datetime.fromisoformat(str(stamp)),
            name=name,
            parts={c: {str(k): str(v) for k, v in names.items()} for c, names in parts.items()},
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
        self, path: StorePath | None, records: dict[str, _Record], layout: str = LAYOUT_MONTH,
        section: str = "campaigns",
    ) -> None:
        self.path = path
        self.records = records
        self.layout = layout
        self.section = section
        self.dirty = False
        self._saved_at = time.monotonic()

    @classmethod
    def load(cls, root: StorePath, section: str = "campaigns") -> _Manifest:
        path = root / MANIFEST_NAME
        if not path.is_file():
            return cls(path, {}, section=section)
        return cls.loads(path.read_text(encoding="utf-8"), str(path), path, section=section)

    @classmethod
    def loads(
        cls, text: str, where: str, path: StorePath | None = None, *, section: str = "campaigns"
    ) -> _Manifest:
        try:
            records, layout = _parse_manifest(json.loads(text), section)
        except (ValueError, TypeError) as exc:
            msg = (
                f"{where} is not a manifest this library can read ({exc}); delete it to "
                f"have the next sync fetch every one of its {section} again from start="
            )
            raise ValueError(msg) from exc
        return cls(path, records, layout, section)

    def earliest_start(self) -> dt.date | None:
        starts = [r.start for r in self.records.values() if r.start is not None]
        return min(starts) if starts else None

    def names(self) -> tuple[dict[str, str], dict[str, dict[tuple[str, str], str]]]:
        """The latest names: id -> name, and per key column, (id, part) -> name."""
        own = {oid: r.name for oid, r in self.records.items() if r.name is not None}
        parts: dict[str, dict[tuple[str, str], str]] = {}
        for oid, record in self.records.items():
            for column, names in record.parts.items():
                parts.setdefault(column, {}).update(((oid, k), v) for k, v in names.items())
        return own, parts

    def dumps(self) -> str:
        data = {
            "format": _FORMAT,
            "version": _VERSION,
            "layout": self.layout,
            "updated_at": utc_now().isoformat(timespec="seconds"),
            self.section: {oid: rec.to_json() for oid, rec in sorted(self.records.items())},
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


def _parse_manifest(data: object, section: str = "campaigns") -> tuple[dict[str, _Record], str]:
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        msg = f"not a {_FORMAT} manifest"
        raise TypeError(msg)
    version = data.get("version")
    if version not in (1, _VERSION):
        msg = f"manifest version {version!r}; this library reads 1 and {_VERSION}"
        raise TypeError(msg)
    campaigns = data.get(section)
    if not isinstance(campaigns, dict):
        msg = f"no {section} object"
        raise TypeError(msg)
    layout = LAYOUT_CAMPAIGN_MONTH if version == 1 else data.get("layout", LAYOUT_MONTH)
    if layout not in (LAYOUT_MONTH, LAYOUT_CAMPAIGN_MONTH):
        msg = f"unknown layout {layout!r}"
        raise TypeError(msg)
    records = {str(cid): _Record.from_json(value, f"{section} {cid!r}") for cid, value in campaigns.items()}
    return records, str(layout)
