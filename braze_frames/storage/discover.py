"""Which campaigns a sync with no ids covers, and over which days (SPEC 4).

Every campaign ``/campaigns/list`` gives, archived ones included unless
``include_archived=False``, whose active days (``first_sent`` to ``last_sent`` plus its
longest conversion window, from ``/campaigns/details``) overlap the range. A campaign
whose details lack ``first_sent``/``last_sent``, or whose details could not be read, is
synced over the whole range. Whatever is left out is named, with the reason.

This is the one place the store chooses campaigns: when ``fetch.discover_campaigns(client,
first, last, *, include_archived=True)`` lands, :func:`_discover` becomes a call to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .._errors import BrazeError
from ..fetch import _detail_date, conversion_window_days, list_campaigns, variation_names_from_details

if TYPE_CHECKING:
    from ..http.client import BrazeClient

__all__: list[str] = []


@dataclass(frozen=True)
class _Life:
    """A campaign's active days; an open end is ``None``."""

    first: dt.date | None
    last: dt.date | None

    def clip(self, a: dt.date, b: dt.date) -> tuple[dt.date, dt.date] | None:
        lo = a if self.first is None else max(a, self.first)
        hi = b if self.last is None else min(b, self.last)
        return (lo, hi) if lo <= hi else None

    def __str__(self) -> str:
        return f"{self.first or '?'}..{self.last or '?'}"


@dataclass(frozen=True)
class _Discovered:
    """The campaigns chosen, their lives, what was left out and the names the details gave."""

    ids: list[str]
    lives: dict[str, _Life] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    names: dict[str, tuple[str | None, dict[str, str]]] = field(default_factory=dict)
    #: Campaigns whose details could not be read: synced over the whole range, no names.
    no_details: dict[str, str] = field(default_factory=dict)
    #: The details bodies read, by campaign id.
    details: dict[str, Mapping[str, Any]] = field(default_factory=dict)


def _life(details: Mapping[str, Any]) -> _Life:
    first = _detail_date(details.get("first_sent"))
    last = _detail_date(details.get("last_sent"))
    if last is not None:
        # Conversions keep arriving for the conversion window after the last send.
        last += dt.timedelta(days=conversion_window_days(details))
    return _Life(first, last)


def _discover(
    client: BrazeClient, first: dt.date, last: dt.date, *, include_archived: bool
) -> _Discovered:
    """The campaigns whose active days overlap ``first..last`` (see the module docstring)."""
    listed = [str(c["id"]) for c in list_campaigns(client=client, include_archived=True) if c.get("id")]
    skipped: dict[str, str] = {}
    if not include_archived:
        active = {str(c["id"]) for c in list_campaigns(client=client) if c.get("id")}
        for cid in listed:
            if cid not in active:
                skipped[cid] = "archived (include_archived=False)"
        listed = [cid for cid in listed if cid in active]
    listed = list(dict.fromkeys(listed))
    chosen: list[str] = []
    lives: dict[str, _Life] = {}
    answers = _details(client, listed)
    for cid in listed:
        answer = answers.details.get(cid)
        if answer is None:  # no details: synced over the whole range
            chosen.append(cid)
            continue
        life = _life(answer)
        if life.clip(first, last) is None:
            skipped[cid] = f"active {life}, outside {first}..{last}"
            continue
        lives[cid] = life
        chosen.append(cid)
    return _Discovered(chosen, lives, skipped, answers.names, answers.no_details)


def _details(client: BrazeClient, ids: list[str]) -> _Discovered:
    """Every campaign's details (through the client's cache), its names, and which failed.

    A sync reads them once, up front, whatever chose the campaigns: the names go to the
    manifest, and a key without ``campaigns.details`` is named in one warning by the sync
    rather than once per batch by each fetch.
    """

    def details(cid: str) -> Mapping[str, Any] | BrazeError:
        try:
            # Fresh each sync, whatever the client cached: a renamed campaign's new name
            # reaches the manifest (and the fetches that follow read it from the cache).
            return client.campaign_details(cid, refresh=True)
        except BrazeError as exc:
            return exc

    workers = max(1, min(client.max_concurrency, len(ids)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="braze-details") as pool:
        answers = list(pool.map(details, ids))
    found: dict[str, Mapping[str, Any]] = {}
    names: dict[str, tuple[str | None, dict[str, str]]] = {}
    no_details: dict[str, str] = {}
    for cid, answer in zip(ids, answers, strict=True):
        if isinstance(answer, BrazeError):
            no_details[cid] = f"{type(answer).__name__}: {answer.message}"
            continue
        found[cid] = answer
        name = answer.get("name")
        names[cid] = (name if isinstance(name, str) else None, variation_names_from_details(answer))
    return _Discovered(list(found), names=names, no_details=no_details, details=found)
