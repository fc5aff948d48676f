"""Braze's answers without the HTTP plumbing: routing, keys, permissions, parameters, bodies.

Request order, as an API gateway does it: authentication (401), the key's rate-limit budget
for the path's family (429; every answered request with a valid key spends one unit,
faulted or not), unknown path (404) or method (405), permission (403), parameter
validation (400), then the answer. Error bodies are Braze's: ``{"message": ...}``,
sometimes with ``errors``.

Window choices where Braze is silent, shared by every series endpoint:

- ``ending_at``'s date (and hour) are read as written, in whatever offset it carries; the
  window is the ``length`` days ``D-N .. D-1`` (exclusive, as recorded from Braze) or
  ``D-N+1 .. D`` with ``ending_at_inclusive=True``; hours likewise with ``unit=hour``.
- without ``ending_at`` the end is the sandbox's today at 00:00 (its "now").
- days after today, or before a series' history, are simply absent.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from ._canvas import Canvas, CanvasCache, canvas_body
from ._catalogue import Campaign, _uuid
from ._limits import RateLimits
from ._simulate import CampaignTruth, SeriesCache, entry_keys, kind_of, resolve_email, truth_of
from ._workspace import KPI_KINDS, Workspace

__all__ = [
    "PERMISSIONS",
    "Registry",
    "Reply",
    "parse_ending_at",
]

#: Every permission a sandbox key can hold, by endpoint (Braze's names).
ENDPOINT_PERMISSIONS: Final[Mapping[str, str]] = {
    "/campaigns/data_series": "campaigns.data_series",
    "/campaigns/list": "campaigns.list",
    "/campaigns/details": "campaigns.details",
    "/canvas/data_series": "canvas.data_series",
    "/canvas/list": "canvas.list",
    "/canvas/details": "canvas.details",
    **{f"/kpi/{kind}/data_series": f"kpi.{kind}.data_series" for kind in KPI_KINDS},
    "/sessions/data_series": "sessions.data_series",
    "/events/list": "events.list",
    "/events/data_series": "events.data_series",
    "/purchases/product_list": "purchases.product_list",
    "/purchases/revenue_series": "purchases.revenue_series",
    "/purchases/quantity_series": "purchases.quantity_series",
    "/segments/list": "segments.list",
    "/segments/data_series": "segments.data_series",
    "/sends/data_series": "sends.data_series",
}
#: Every permission a sandbox key can hold (Braze's names).
PERMISSIONS: Final = tuple(ENDPOINT_PERMISSIONS.values())

_PAGE_SIZE: Final = 100
_EVENTS_PAGE_SIZE: Final = 250
_MAX_LENGTH: Final = 100
_CANVAS_MAX_LENGTH: Final = 14
#: Braze keeps a send's analytics this many days.
SEND_RETENTION_DAYS: Final = 14


@dataclass
class Reply:
    """An answer: status, body bytes, extra headers, content type."""

    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


def json_reply(status: int, payload: Mapping[str, Any], headers: dict[str, str] | None = None
               ) -> Reply:
    """A JSON answer."""
    return Reply(status, json.dumps(payload, separators=(",", ":")).encode(), headers or {})


def _bad(message: str, *errors: str) -> Reply:
    payload: dict[str, Any] = {"message": message}
    if errors:
        payload["errors"] = list(errors)
    return json_reply(400, payload)


_ENDING_AT: Final = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.\d{1,9})?)?"
    r"\s*(?:Z|[+\- ](?P<oh>\d{1,2})(?::?(?P<om>\d{2}))?)?)?",
    re.IGNORECASE,
)


def parse_moment(text: str) -> dt.datetime:
    """Read an ISO-8601 date or datetime as its wall-clock time, offset ignored (naive).

    The date and hour are taken as written, in the offset given: the sandbox's company
    time zone is whatever the caller says. A ``+`` sent unencoded arrives as a space.

    Examples:
        >>> parse_moment("2020-06-28T23:59:59-5:00")
        datetime.datetime(2020, 6, 28, 23, 59, 59)

    Raises:
        ValueError: The text is not such a date or datetime.
    """
    m = _ENDING_AT.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"not an ISO-8601 date or datetime: {text!r}")
    try:
        day = dt.date.fromisoformat(m["date"])
    except ValueError as exc:
        raise ValueError(f"not a valid date: {text!r} ({exc})") from exc
    limits = {"h": 23, "m": 59, "s": 59, "oh": 14, "om": 59}
    for group, limit in limits.items():
        if m[group] is not None and int(m[group]) > limit:
            raise ValueError(f"not a valid time or UTC offset: {text!r}")
    return dt.datetime(day.year, day.month, day.day, int(m["h"] or 0), int(m["m"] or 0),
                       int(m["s"] or 0))


def parse_ending_at(text: str) -> dt.date:
    """Read ``ending_at``: an ISO-8601 date or datetime, offsets like ``-5:00`` accepted.

    Examples:
        >>> parse_ending_at("2020-06-28T23:59:59-5:00")
        datetime.date(2020, 6, 28)
        >>> parse_ending_at("2024-07-20")
        datetime.date(2024, 7, 20)

    Raises:
        ValueError: The text is not such a date or datetime.
    """
    return parse_moment(text).date()


def _parse_datetime(text: str) -> dt.datetime | None:
    """An ISO-8601 datetime (naive means UTC); a ``+`` sent unencoded arrives as a space."""
    text = re.sub(r"[zZ]$", "+00:00", text)
    for candidate in (text, re.sub(r" (\d{2}:?\d{2})$", r"+\1", text)):
        try:
            moment = dt.datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
    return None


def iso(moment: dt.datetime) -> str:
    """An aware datetime as Braze writes it (``2024-07-20T09:00:00+00:00``)."""
    return moment.isoformat(timespec="seconds")


def _sent_at(day: dt.date | None, hour: int) -> str | None:
    if day is None:
        return None
    return iso(dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc))


_MESSAGE_FIELDS: Final[Mapping[str, Mapping[str, str]]] = {
    "email": {"subject": "{name}: news from Sandbox Store",
              "from": "Sandbox Store <news@example.com>", "reply_to": "support@example.com"},
    "webhook": {"url": "https://hooks.example.com/orders"},
    "sms": {"body": "{name}: today only, 20% off. Reply STOP to opt out"},
    "whats_app": {"body": "{name}: your order is on its way"},
    "content_cards": {"title": "{name}", "description": "A spring offer for you"},
    "trigger_in_app_message": {"message": "{name}: welcome aboard"},
    "in_app_message": {"message": "{name}: something new"},
}


def _message_fields(channel: str, name: str) -> dict[str, str]:
    return {k: t.format(name=name) for k, t in _MESSAGE_FIELDS.get(
        channel, {"alert": "{name}: tap to see what's new", "title": "Sandbox Store"}).items()}


class Registry:
    """The campaigns being served; renames replace descriptors under a lock."""

    def __init__(self, campaigns: Sequence[Campaign]) -> None:
        self._lock = threading.Lock()
        self._campaigns = list(campaigns)
        self._by_id = {c.id: c for c in campaigns}
        self._position = {c.id: i for i, c in enumerate(campaigns)}

    def get(self, campaign_id: str) -> Campaign | None:
        """The campaign with this id (its current name), or None."""
        with self._lock:
            return self._by_id.get(campaign_id)

    def all(self) -> list[Campaign]:
        """Every campaign, in catalogue order."""
        with self._lock:
            return list(self._campaigns)

    def rename(self, campaign_id: str, name: str | None, variations: Mapping[str, str],
               edited_at: dt.datetime) -> Campaign:
        """Rename a campaign and/or some of its variations (by API id or name); returns it."""
        with self._lock:
            old = self._by_id[campaign_id]
            new_variations = tuple(
                replace(v, name=variations.get(v.api_id, variations.get(v.name, v.name)))
                for v in old.variations)
            renamed_variations = new_variations != old.variations
            new = replace(old, name=old.name if name is None else name,
                          variations=new_variations,
                          updated_at=max(edited_at, old.updated_at + dt.timedelta(seconds=1)),
                          revision=old.revision + renamed_variations)
            self._by_id[campaign_id] = new
            self._campaigns[self._position[campaign_id]] = new
            return new


class _Truths:
    """Campaign truths (with cohorts) kept for ``/sends/data_series``."""

    def __init__(self, seed: int, today: dt.date) -> None:
        self._seed = seed
        self._today = today
        self._lock = threading.Lock()
        self._truths: dict[tuple[str, int], CampaignTruth] = {}

    def get(self, campaign: Campaign) -> CampaignTruth:
        key = (campaign.id, campaign.revision)
        with self._lock:
            truth = self._truths.get(key)
            if truth is None:
                truth = truth_of(campaign, self._seed, self._today)
                self._truths[key] = truth
        return truth


def send_ids(seed: int, campaign: Campaign) -> dict[str, dt.date]:
    """The send ids of an API campaign (one per send day), with their send dates."""
    if not campaign.is_api_campaign or campaign.first_sent is None or campaign.last_sent is None:
        return {}
    step = 7 if campaign.cadence == "weekly" else 1
    days = (campaign.last_sent - campaign.first_sent).days
    out = {}
    for i in range(0, days + 1, step):
        day = campaign.first_sent + dt.timedelta(days=i)
        out[_uuid(seed, "send", campaign.id, day.isoformat())] = day
    return out


Handler = Callable[[Mapping[str, str]], Reply]


class BrazeApi:
    """Braze's answers, from the catalogues, the simulations and the caches."""

    def __init__(self, *, seed: int, registry: Registry, cache: SeriesCache,
                 canvases: Callable[[], Sequence[Canvas]], canvas_cache: CanvasCache,
                 workspace: Callable[[], Workspace], keys: Mapping[str, frozenset[str]],
                 limits: RateLimits, today: dt.date, inclusive: bool) -> None:
        self.seed = seed
        self.registry = registry
        self.cache = cache
        self._canvases = canvases
        self.canvas_cache = canvas_cache
        self._workspace = workspace
        self.keys = keys
        self.limits = limits
        self.today = today
        self.inclusive = inclusive
        self.truths = _Truths(seed, today)
        handlers: dict[str, Handler] = {
            "/campaigns/data_series": self.data_series,
            "/campaigns/list": self.campaign_list,
            "/campaigns/details": self.details,
            "/canvas/data_series": self.canvas_series,
            "/canvas/list": self.canvas_list,
            "/canvas/details": self.canvas_details,
            "/sessions/data_series": self.sessions,
            "/events/list": self.event_list,
            "/events/data_series": self.events,
            "/purchases/product_list": self.product_list,
            "/purchases/revenue_series": lambda q: self.purchases(q, "revenue"),
            "/purchases/quantity_series": lambda q: self.purchases(q, "purchase_quantity"),
            "/segments/list": self.segment_list,
            "/segments/data_series": self.segment_series,
            "/sends/data_series": self.sends,
        }
        for kind in KPI_KINDS:
            handlers[f"/kpi/{kind}/data_series"] = self._kpi_handler(kind)
        self.routes: dict[str, tuple[str, Handler]] = {
            path: (ENDPOINT_PERMISSIONS[path], handler) for path, handler in handlers.items()}

    @property
    def canvases(self) -> Sequence[Canvas]:
        """The Canvases (built on first use)."""
        return self._canvases()

    @property
    def workspace(self) -> Workspace:
        """The workspace (built on first use)."""
        return self._workspace()

    def handle(self, method: str, path: str, query: Mapping[str, str],
               authorization: str | None) -> Reply:
        """Answer one request."""
        key = _bearer(authorization)
        if key is None or key not in self.keys:
            return json_reply(401, {"message": f"Invalid API key: {_masked(key)}"},
                              self.limits.peek(path))
        allowed, headers = self.limits.spend(key, path)
        if not allowed:
            return json_reply(429, {"message": "API rate limit exceeded; retry after the reset "
                                               "time in X-RateLimit-Reset"}, headers)
        route = self.routes.get(path)
        if route is None:
            return json_reply(404, {"message": f"No such endpoint: {path}"}, headers)
        if method != "GET":
            reply = json_reply(405, {"message": f"{method} is not allowed on {path}; use GET"},
                               headers)
            reply.headers["Allow"] = "GET"
            return reply
        permission, endpoint = route
        if permission not in self.keys[key]:
            return json_reply(403, {"message": f"This API key does not have the permission "
                                               f"{permission} required by {path}"}, headers)
        reply = endpoint(query)
        reply.headers.update(headers)
        return reply

    # ------------------------------------------------------------ parameters

    @staticmethod
    def _length(query: Mapping[str, str], maximum: int, *, required: bool = True
                ) -> int | Reply | None:
        raw = query.get("length")
        if raw is None or not raw.strip():
            return _bad("length is required") if required else None
        digits = raw.strip()
        length = int(digits) if re.fullmatch(r"[0-9]{1,4}", digits) else 0
        if not 1 <= length <= maximum:
            return _bad("Invalid length",
                        f"length must be an integer from 1 to {maximum}, got {raw!r}")
        return length

    def _end(self, query: Mapping[str, str], name: str = "ending_at"
             ) -> dt.datetime | Reply:
        raw = query.get(name)
        if raw is None or not raw.strip():
            return dt.datetime(self.today.year, self.today.month, self.today.day)
        try:
            return parse_moment(raw)
        except ValueError as exc:
            return _bad(f"Invalid {name}", str(exc))

    def _window(self, query: Mapping[str, str]) -> tuple[dt.date, dt.date] | Reply:
        """The days a ``length`` (required) and ``ending_at`` ask for, or the error reply."""
        length = self._length(query, _MAX_LENGTH)
        if not isinstance(length, int):
            return length or _bad("length is required")
        end = self._end(query)
        if isinstance(end, Reply):
            return end
        return self._days(end, length)

    def _days(self, end: dt.datetime, length: int) -> tuple[dt.date, dt.date]:
        day = end.date()
        if self.inclusive:
            return day - dt.timedelta(days=length - 1), day
        return day - dt.timedelta(days=length), day - dt.timedelta(days=1)

    def _hours(self, end: dt.datetime, length: int) -> tuple[dt.datetime, dt.datetime]:
        hour = end.replace(minute=0, second=0, microsecond=0)
        if self.inclusive:
            return hour - dt.timedelta(hours=length - 1), hour
        return hour - dt.timedelta(hours=length), hour - dt.timedelta(hours=1)

    @staticmethod
    def _flag(query: Mapping[str, str], name: str) -> bool | Reply:
        raw = query.get(name, "false").strip().lower() or "false"
        if raw not in ("true", "false"):
            return _bad(f"{name} must be true or false, got {query.get(name)!r}")
        return raw == "true"

    @staticmethod
    def _page(query: Mapping[str, str]) -> int | Reply:
        raw = query.get("page", "0").strip() or "0"
        if not raw.isdigit():
            return _bad(f"Invalid page: {raw!r} (pages count from 0)")
        return int(raw)

    @staticmethod
    def _direction(query: Mapping[str, str]) -> str | Reply:
        direction = query.get("sort_direction", "asc").strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            return _bad("sort_direction must be asc or desc")
        return direction

    # ------------------------------------------------------------- campaigns

    def _campaign(self, query: Mapping[str, str]) -> Campaign | Reply:
        cid = query.get("campaign_id", "").strip()
        if not cid:
            return _bad("campaign_id is required")
        campaign = self.registry.get(cid)
        if campaign is None:
            return _bad(f"Invalid campaign_id: {cid}")
        return campaign

    def data_series(self, query: Mapping[str, str]) -> Reply:
        """``GET /campaigns/data_series``."""
        campaign = self._campaign(query)
        if isinstance(campaign, Reply):
            return campaign
        window = self._window(query)
        if isinstance(window, Reply):
            return window
        return Reply(200, self.cache.data_series(campaign, *window))

    def _listing(self, query: Mapping[str, str], items: Sequence[Any], key: str,
                 render: Callable[[Any], dict[str, Any]]) -> Reply:
        page = self._page(query)
        if isinstance(page, Reply):
            return page
        archived = self._flag(query, "include_archived")
        if isinstance(archived, Reply):
            return archived
        direction = self._direction(query)
        if isinstance(direction, Reply):
            return direction
        chosen = [c for c in items if archived or not c.archived]
        raw_since = query.get("last_edit.time[gt]", "").strip()
        if raw_since:
            since = _parse_datetime(raw_since)
            if since is None:
                return _bad("Invalid last_edit.time[gt]", f"not an ISO-8601 datetime: {raw_since!r}")
            chosen = [c for c in chosen if c.updated_at > since]
        chosen.sort(key=lambda c: (c.created_at, c.id), reverse=direction == "desc")
        chunk = chosen[page * _PAGE_SIZE:(page + 1) * _PAGE_SIZE]
        return json_reply(200, {"message": "success", key: [render(c) for c in chunk]})

    def campaign_list(self, query: Mapping[str, str]) -> Reply:
        """``GET /campaigns/list``: pages of 100, oldest first unless ``sort_direction=desc``."""
        return self._listing(query, self.registry.all(), "campaigns", lambda c: {
            "id": c.id, "last_edited": iso(c.updated_at), "name": c.name,
            "is_api_campaign": c.is_api_campaign, "tags": list(c.tags)})

    def details(self, query: Mapping[str, str]) -> Reply:
        """``GET /campaigns/details``."""
        campaign = self._campaign(query)
        if isinstance(campaign, Reply):
            return campaign
        messages: dict[str, dict[str, Any]] = {}
        for v in campaign.variations:
            if v.control:
                # Braze's docs: a control message is {"channel", "type": "control"}, no name.
                messages[v.api_id] = {"channel": v.channel, "type": "control"}
            else:
                messages[v.api_id] = {"channel": v.channel, "name": v.name,
                                      **_message_fields(v.channel, v.name)}
        body: dict[str, Any] = {
            "message": "success",
            "created_at": iso(campaign.created_at),
            "updated_at": iso(campaign.updated_at),
            "archived": campaign.archived,
            "draft": campaign.draft,
            "name": campaign.name,
            "description": campaign.description,
            "schedule_type": campaign.schedule_type,
            "channels": list(campaign.channels),
            "first_sent": _sent_at(campaign.first_sent, 9),
            "last_sent": _sent_at(campaign.last_sent, 17),
            "tags": list(campaign.tags),
            "teams": [],
            "messages": messages,
            "conversion_behaviors": [b.to_json() for b in campaign.conversion_behaviors],
        }
        if not campaign.details_sent_dates:
            del body["first_sent"], body["last_sent"]
        return json_reply(200, body)

    # ---------------------------------------------------------------- canvas

    def _canvas(self, query: Mapping[str, str]) -> Canvas | Reply:
        cid = query.get("canvas_id", "").strip()
        if not cid:
            return _bad("canvas_id is required")
        canvas = next((c for c in self.canvases if c.id == cid), None)
        if canvas is None:
            return _bad(f"Invalid canvas_id: {cid}")
        return canvas

    def canvas_list(self, query: Mapping[str, str]) -> Reply:
        """``GET /canvas/list``: pages of 100, oldest first unless ``sort_direction=desc``."""
        return self._listing(query, self.canvases, "canvases", lambda c: {
            "id": c.id, "last_edited": iso(c.updated_at), "name": c.name, "tags": list(c.tags)})

    def canvas_details(self, query: Mapping[str, str]) -> Reply:
        """``GET /canvas/details``."""
        canvas = self._canvas(query)
        if isinstance(canvas, Reply):
            return canvas
        variants = []
        steps = []
        for v in canvas.variants:
            live = [s for s in v.steps if s.deleted_on is None]
            variant: dict[str, Any] = {"name": v.name, "id": v.id,
                                       "first_step_ids": [s.id for s in live[:1]]}
            if len(live) >= 1:
                variant["first_step_id"] = live[0].id
            if v.control:
                # Braze's Canvas docs are silent; the sandbox marks it as campaign details
                # mark a control message.
                variant["type"] = "control"
            variants.append(variant)
            for k, s in enumerate(live):
                following = [n.id for n in live[k + 1:k + 2]]
                steps.append({
                    "name": s.name, "type": "message", "id": s.id,
                    "next_step_ids": following,
                    "next_paths": [{"name": None, "next_step_id": n} for n in following],
                    "channels": list(s.channels),
                    "messages": {mid: {"channel": ch, **_message_fields(ch, s.name)}
                                 for mid, ch in zip(s.message_ids, s.channels, strict=True)},
                })
        last = canvas.last_entry
        enabled = (not canvas.archived and not canvas.draft and last is not None
                   and last >= self.today - dt.timedelta(days=1))
        return json_reply(200, {
            "created_at": iso(canvas.created_at),
            "updated_at": iso(canvas.updated_at),
            "name": canvas.name,
            "description": canvas.description,
            "archived": canvas.archived,
            "draft": canvas.draft,
            "enabled": enabled,
            "has_post_launch_draft": False,
            "schedule_type": canvas.schedule_type,
            "first_entry": _sent_at(canvas.first_entry, 8),
            "last_entry": _sent_at(last, 20),
            "channels": list(canvas.channels),
            "variants": variants,
            "tags": list(canvas.tags),
            "teams": [],
            "steps": steps,
            "conversion_behaviors": [b.to_json() for b in canvas.conversion_behaviors],
            "message": "success",
        })

    def canvas_series(self, query: Mapping[str, str]) -> Reply:
        """``GET /canvas/data_series``: ``length`` 1..14 or ``starting_at``."""
        canvas = self._canvas(query)
        if isinstance(canvas, Reply):
            return canvas
        length = self._length(query, _CANVAS_MAX_LENGTH, required=False)
        if isinstance(length, Reply):
            return length
        end = self._end(query)
        if isinstance(end, Reply):
            return end
        raw_start = query.get("starting_at", "").strip()
        if length is None and not raw_start:
            return _bad("Either length or starting_at is required")
        first, last = self._days(end, length or 1)
        if raw_start:
            try:
                start = parse_ending_at(raw_start)
            except ValueError as exc:
                return _bad("Invalid starting_at", str(exc))
            if start > last:
                return _bad("starting_at must be before ending_at")
            # With both, the later start wins: the window is never longer than asked.
            first = start if length is None else max(first, start)
            if (last - first).days + 1 > _CANVAS_MAX_LENGTH:
                return _bad("Invalid starting_at", f"the series can cover at most "
                                                   f"{_CANVAS_MAX_LENGTH} days")
        flags = {}
        for name in ("include_variant_breakdown", "include_step_breakdown",
                     "include_deleted_step_data"):
            value = self._flag(query, name)
            if isinstance(value, Reply):
                return value
            flags[name] = value
        body = canvas_body(self.canvas_cache.get(canvas), first, last,
                           variants=flags["include_variant_breakdown"],
                           steps=flags["include_step_breakdown"],
                           deleted=flags["include_deleted_step_data"])
        return json_reply(200, body)

    # ------------------------------------------------------------- workspace

    def _series(self, query: Mapping[str, str], kind: str, field_name: str, *,
                hours: bool = False, apps: bool = True, segments: bool = False,
                key: str | None = None) -> Reply:
        length = self._length(query, _MAX_LENGTH)
        if not isinstance(length, int):
            return length or _bad("length is required")
        end = self._end(query)
        if isinstance(end, Reply):
            return end
        unit = "day"
        if hours:
            unit = query.get("unit", "day").strip().lower() or "day"
            if unit not in ("day", "hour"):
                return _bad("Invalid unit", f"unit must be day or hour, got {query.get('unit')!r}")
        app_id = (query.get("app_id", "").strip() or None) if apps else None
        if app_id is not None and self.workspace.app(app_id) is None:
            return _bad(f"Invalid app_id: {app_id}")
        segment_id = (query.get("segment_id", "").strip() or None) if segments else None
        if segment_id is not None:
            problem = self._untracked(segment_id)
            if problem is not None:
                return problem
        if unit == "hour":
            lo, hi = self._hours(end, length)
        else:
            first, last = self._days(end, length)
            lo = dt.datetime(first.year, first.month, first.day)
            hi = dt.datetime(last.year, last.month, last.day, 23)
        return json_reply(200, self.workspace.body(kind, field_name, lo, hi, unit=unit, key=key,
                                                   app_id=app_id, segment_id=segment_id))

    def _untracked(self, segment_id: str) -> Reply | None:
        segment = self.workspace.segment(segment_id)
        if segment is None:
            return _bad(f"Invalid segment_id: {segment_id}")
        if not segment.analytics_tracking_enabled:
            return _bad(f"Segment {segment_id} does not have analytics tracking enabled; "
                        "turn on Analytics Tracking for this segment in the dashboard")
        return None

    def _kpi_handler(self, kind: str) -> Handler:
        return lambda query: self._series(query, kind, kind)

    def sessions(self, query: Mapping[str, str]) -> Reply:
        """``GET /sessions/data_series``."""
        return self._series(query, "sessions", "sessions", hours=True, segments=True)

    def event_list(self, query: Mapping[str, str]) -> Reply:
        """``GET /events/list``: names in pages of 250, sorted alphabetically."""
        page = self._page(query)
        if isinstance(page, Reply):
            return page
        names = self.workspace.events[page * _EVENTS_PAGE_SIZE:(page + 1) * _EVENTS_PAGE_SIZE]
        return json_reply(200, {"message": "success", "events": list(names)})

    def events(self, query: Mapping[str, str]) -> Reply:
        """``GET /events/data_series``."""
        event = query.get("event", "")
        if not event.strip():
            return _bad("event is required")
        return self._series(query, "events", "count", hours=True, segments=True, key=event)

    def product_list(self, query: Mapping[str, str]) -> Reply:
        """``GET /purchases/product_list``: product names in pages of 100."""
        page = self._page(query)
        if isinstance(page, Reply):
            return page
        names = list(self.workspace.products)[page * _PAGE_SIZE:(page + 1) * _PAGE_SIZE]
        return json_reply(200, {"products": names, "message": "success"})

    def purchases(self, query: Mapping[str, str], kind: str) -> Reply:
        """``GET /purchases/revenue_series`` and ``/purchases/quantity_series``."""
        product = query.get("product", "").strip() or None
        return self._series(query, kind, kind, hours=True, key=product)

    def segment_list(self, query: Mapping[str, str]) -> Reply:
        """``GET /segments/list``: pages of 100, oldest first unless ``sort_direction=desc``."""
        page = self._page(query)
        if isinstance(page, Reply):
            return page
        direction = self._direction(query)
        if isinstance(direction, Reply):
            return direction
        ordered = sorted(self.workspace.segments, key=lambda s: (s.created_at, s.id),
                         reverse=direction == "desc")
        chunk = ordered[page * _PAGE_SIZE:(page + 1) * _PAGE_SIZE]
        return json_reply(200, {"message": "success", "segments": [
            {"id": s.id, "name": s.name, "analytics_tracking_enabled": s.analytics_tracking_enabled,
             "tags": list(s.tags)} for s in chunk]})

    def segment_series(self, query: Mapping[str, str]) -> Reply:
        """``GET /segments/data_series``: a tracked segment's size per day."""
        segment_id = query.get("segment_id", "").strip()
        if not segment_id:
            return _bad("segment_id is required")
        problem = self._untracked(segment_id)
        if problem is not None:
            return problem
        return self._series(query, "size", "size", apps=False, key=segment_id)

    # ----------------------------------------------------------------- sends

    def sends(self, query: Mapping[str, str]) -> Reply:
        """``GET /sends/data_series``: one send of an API campaign; Braze keeps 14 days."""
        campaign = self._campaign(query)
        if isinstance(campaign, Reply):
            return campaign
        send_id = query.get("send_id", "").strip()
        if not send_id:
            return _bad("send_id is required")
        if not campaign.is_api_campaign:
            return _bad(f"Campaign {campaign.id} is not an API campaign: it has no send ids")
        sent_on = send_ids(self.seed, campaign).get(send_id)
        if sent_on is None:
            return _bad(f"Invalid send_id: {send_id}")
        window = self._window(query)
        if isinstance(window, Reply):
            return window
        first, last = window
        kept_from = self.today - dt.timedelta(days=SEND_RETENTION_DAYS - 1)
        first = max(first, sent_on, kept_from)
        last = min(last, self.today,
                   sent_on + dt.timedelta(days=campaign.conversion_window_days))
        if first > last:
            return json_reply(200, {"data": [], "message": "success"})
        truth = self.truths.get(campaign)
        return json_reply(200, {"data": send_days(campaign, truth, sent_on, first, last),
                                "message": "success"})


def send_days(campaign: Campaign, truth: CampaignTruth, sent_on: dt.date, first: dt.date,
              last: dt.date) -> list[dict[str, Any]]:
    """The day objects of one send (the cohort of ``sent_on``) from first to last."""
    cohorts = {c.variation: c for c in truth.cohorts if c.send_date == sent_on}
    n_keys = campaign.n_conversion_keys
    legacy_until = campaign.legacy_opens_until
    out = []
    day = first
    while day <= last:
        lag = (day - sent_on).days
        messages: dict[str, list[dict[str, Any]]] = {}
        totals = {"unique_recipients": 0, "revenue_cents": 0}
        conv_totals = [0] * n_keys
        bst_totals = [0] * n_keys
        for v in campaign.variations:
            cohort = cohorts.get(v.key)
            entry: dict[str, Any] = {"variation_name": v.name}
            kind = kind_of(v.channel)
            if v.control:
                entry["enrolled"] = cohort.recipients if cohort and lag == 0 else 0
            else:
                keys = entry_keys(kind, legacy=legacy_until is not None and day <= legacy_until,
                                  dynamic=campaign.dynamic_push_keys if kind == "push" else (),
                                  push_fields=campaign.push_delivery_fields and kind == "push")
                metrics = dict.fromkeys(keys, 0)
                if cohort is not None:
                    if lag == 0:
                        metrics.update(cohort.now)
                    if lag < len(cohort.later):
                        landed = cohort.later[lag]
                        if kind == "email":
                            landed = resolve_email(dict(landed), day <= (legacy_until or dt.date.min))
                        for key, x in landed.items():
                            metrics[key] = metrics.get(key, 0) + x
                entry.update(metrics)
            recipients = cohort.recipients if cohort and lag == 0 else 0
            conversions = [0] * n_keys
            by_send = [0] * n_keys
            if cohort is not None:
                for k, spread in enumerate(cohort.conversions):
                    if lag < len(spread):
                        conversions[k] = spread[lag]
                    if lag == 0:
                        days_left = (truth.today - sent_on).days
                        by_send[k] = sum(spread[:days_left + 1])
            revenue_cents = round(conversions[0] * campaign.revenue_per_conversion * 100)
            entry["revenue"] = revenue_cents / 100
            entry["unique_recipients"] = recipients
            for k in range(n_keys):
                name = f"conversions{k or ''}"
                entry[name] = conversions[k]
                entry[f"{name}_by_send_time"] = by_send[k]
                conv_totals[k] += conversions[k]
                bst_totals[k] += by_send[k]
            totals["unique_recipients"] += recipients
            totals["revenue_cents"] += revenue_cents
            messages.setdefault(v.channel, []).append(entry)
        item: dict[str, Any] = {"time": day.isoformat(), "messages": messages}
        for k in range(n_keys):
            item[f"conversions{k or ''}_by_send_time"] = bst_totals[k]
        for k in range(n_keys):
            item[f"conversions{k or ''}"] = conv_totals[k]
        item["unique_recipients"] = totals["unique_recipients"]
        item["revenue"] = totals["revenue_cents"] / 100
        out.append(item)
        day += dt.timedelta(days=1)
    return out


def _bearer(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _masked(key: str | None) -> str:
    # Braze echoes the key; the sandbox shows only enough to tell keys apart.
    if key is None:
        return "no key sent (expected the header 'Authorization: Bearer <key>')"
    return f"{key[:4]}...({len(key)} characters)" if len(key) > 8 else "(too short)"
