"""An independent reading of SPEC section 12: a ``/canvas/data_series`` body as rows.

Written from the SPEC and the policy table of ``braze_frames.endpoints.canvas`` (with the
value rules of ``_support_reference``), never from the library's parser: the Canvas tests
compare the library with this, row for row. ``expect_canvas`` raises ``RejectedError``
where the policy says a body gives ``UnexpectedResponseError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from _support_reference import date_of, id_text, leaves, number

#: (date, variant, variant_name, step, step_name, channel, metric, value)
Row = tuple[dt.date, str | None, str | None, str | None, str | None, str, str, float]

ENTRY_SKIP = ("api_id", "id", "name")
STEP_SKIP = ("api_id", "id", "name", "messages")


class RejectedError(Exception):
    """The reading's verdict: this body must give UnexpectedResponseError."""


@dataclass
class ExpectedCanvas:
    """What a body gives: its rows, whether anything was repaired, the Canvas's name."""

    rows: list[Row] = field(default_factory=list)
    repaired: bool = False
    name: str | None = None


def expect_canvas(
    body: Any,
    canvas_id: str,
    keep: tuple[dt.date, dt.date] = (dt.date.min, dt.date.max),
    *,
    variant_names: Mapping[str, str] | None = None,
    step_names: Mapping[str, str] | None = None,
) -> ExpectedCanvas:
    """The rows of one body, under the policy (see the module docstring)."""
    out = ExpectedCanvas()
    data = canvas_object(body, canvas_id)
    out.name = id_text(data.get("name"))
    stats = data.get("stats")
    if stats is None:
        stats = []
    if not isinstance(stats, list):
        raise RejectedError
    days: dict[dt.date, dict[str, Any]] = {}
    seen: set[dt.date] = set()
    for day in stats:
        if not isinstance(day, dict):
            raise RejectedError
        date = date_of(day.get("time"))
        if date is None:
            raise RejectedError
        out.repaired |= date in seen
        seen.add(date)
        if keep[0] <= date <= keep[1]:
            days[date] = day

    def rows_of(date: dt.date, keys: tuple[str | None, str | None, str | None, str | None, str],
                obj: Any, skip: tuple[str, ...]) -> None:
        if obj is None:
            return
        if not isinstance(obj, dict):
            raise RejectedError
        for name, leaf in leaves(obj, skip):
            value, repaired = number(leaf)
            out.repaired |= repaired
            if value is not None:
                out.rows.append((date, *keys, name, value))

    def listed(stats: Any, names: Mapping[str, str]) -> Iterator[tuple[str, str | None, dict[str, Any]]]:
        if stats is None:
            return
        if isinstance(stats, dict):
            pairs: list[tuple[str | None, Any]] = list(stats.items())
        elif isinstance(stats, list):
            pairs = [(None, v) for v in stats]
        else:
            raise RejectedError
        taken: set[str] = set()
        for position, (given, value) in enumerate(pairs, start=1):
            if value is None:
                continue
            if not isinstance(value, dict):
                raise RejectedError
            found = given if given is not None else id_text(value.get("api_id")) or id_text(value.get("id"))
            if found is None:
                found = f"#{position}"
                out.repaired = True
            key, n = found, 1
            while key in taken:
                n += 1
                key = f"{found}#{n}"
            out.repaired |= n > 1
            taken.add(key)
            yield key, id_text(value.get("name")) or names.get(key), value

    for date in sorted(days):
        day = days[date]
        rows_of(date, (None, None, None, None, "all"), day.get("total_stats"), ())
        for key, label, stats_ in listed(day.get("variant_stats"), variant_names or {}):
            rows_of(date, (key, label, None, None, "all"), stats_, ENTRY_SKIP)
        for key, label, stats_ in listed(day.get("step_stats"), step_names or {}):
            rows_of(date, (None, None, key, label, "all"), stats_, STEP_SKIP)
            messages = stats_.get("messages")
            if messages is None:
                continue
            if not isinstance(messages, dict):
                raise RejectedError
            used = {"all"}
            for channel, value in messages.items():
                if value is None:
                    continue
                if isinstance(value, dict):
                    out.repaired = True
                    value = [value]
                if not isinstance(value, list):
                    raise RejectedError
                out.repaired |= len(value) > 1
                for index, entry in enumerate(value):
                    name = channel if index == 0 else f"{channel}#{index + 1}"
                    if name in used:
                        out.repaired = True
                        n = index + 2
                        while f"{channel}#{n}" in used:
                            n += 1
                        name = f"{channel}#{n}"
                    used.add(name)
                    rows_of(date, (None, None, key, label, name), entry, ())
    return out


def canvas_object(body: Any, canvas_id: str) -> dict[str, Any]:
    """The body's Canvas object: ``data``, or the one of a list that is ``canvas_id``."""
    if not isinstance(body, dict):
        raise RejectedError
    data = body.get("data")
    if isinstance(data, list):
        items = [d for d in data if d is not None]
        if any(not isinstance(d, dict) for d in items):
            raise RejectedError
        if not items:
            return {}
        if len(items) == 1:
            return dict(items[0])
        ours = [d for d in items if canvas_id in {id_text(d.get(k)) for k in ("canvas_id", "id", "api_id")}]
        if len(ours) != 1:
            raise RejectedError
        return dict(ours[0])
    if not isinstance(data, dict):
        raise RejectedError
    return data


def stats_of(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A served body's days, whatever the shape of its ``data``."""
    data = body["data"]
    if isinstance(data, list):
        (data,) = data
    days: list[dict[str, Any]] = data["stats"]
    return days
