"""The sandbox's HTTP side: routing, auth and permissions, rate limits, faults, statistics.

``_App`` answers requests as Braze would, from the catalogue and the serving cache; the
handler around it adds latency and injects faults. Faults are drawn from their own seeded
RNG, so they never change the data: a response either arrives intact or visibly broken.

Request order, as an API gateway does it: authentication (401), the key's rate-limit budget
(429; every answered request with a valid key spends one unit, faulted or not), unknown
path (404) or method (405), permission (403), parameter validation (400), then the answer.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import random
import re
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from ._catalogue import Campaign
from ._simulate import SeriesCache

__all__ = [
    "ALL_FAULTS",
    "FAULT_KINDS",
    "PERMISSIONS",
    "SandboxStats",
    "parse_ending_at",
]

#: Every permission a sandbox key can hold (Braze's names).
PERMISSIONS: Final = ("campaigns.data_series", "campaigns.list", "campaigns.details")

#: The faults injected by default: retryable by a well-behaved client.
ALL_FAULTS: Final = ("500", "502", "503", "504", "html", "truncate", "reset", "slow")
#: Every fault the sandbox knows: ``ALL_FAULTS`` plus ``"html200"`` (an HTML page with
#: status 200, as a captive portal or misrouted proxy sends; opt-in because a client
#: should report it rather than retry it).
FAULT_KINDS: Final = (*ALL_FAULTS, "html200")

_DEFAULT_RATE_LIMIT: Final = 50_000
_PAGE_SIZE: Final = 100
_MAX_LENGTH: Final = 100

_HTML_GATEWAY: Final = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{code} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_HTML_MAINTENANCE: Final = (
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>Service temporarily unavailable</title></head>\n<body><h1>We'll be right back</h1>"
    "<p>The service is undergoing maintenance. Please try again shortly.</p></body></html>\n"
)
_HTML_PORTAL: Final = (
    "<!DOCTYPE html>\n<html><head><title>Sign in to continue</title></head>\n"
    "<body><form method=\"post\" action=\"/login\"><input name=\"user\"></form></body></html>\n"
)


@dataclass(frozen=True)
class SandboxStats:
    """A snapshot of what a sandbox has served.

    Attributes:
        requests: Requests received, whatever happened to them.
        by_status: Responses per HTTP status (truncated ones included, resets not).
        by_path: Requests per URL path.
        rate_limited: 429 answers.
        faults: Injected faults per kind (``"500"``, ``"reset"``, ``"slow"``...).
        delivered: Complete ``200`` JSON answers (neither truncated nor replaced by a fault).
    """

    requests: int = 0
    by_status: Mapping[int, int] = field(default_factory=dict)
    by_path: Mapping[str, int] = field(default_factory=dict)
    rate_limited: int = 0
    faults: Mapping[str, int] = field(default_factory=dict)
    delivered: int = 0

    @property
    def faults_injected(self) -> int:
        """Total faults of every kind."""
        return sum(self.faults.values())


class _Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._by_status: Counter[int] = Counter()
        self._by_path: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._delivered = 0

    def request(self, path: str) -> None:
        with self._lock:
            self._requests += 1
            self._by_path[path] += 1

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def response(self, status: int, delivered: bool) -> None:
        with self._lock:
            self._by_status[status] += 1
            self._delivered += delivered

    def snapshot(self) -> SandboxStats:
        with self._lock:
            return SandboxStats(
                requests=self._requests,
                by_status=dict(sorted(self._by_status.items())),
                by_path=dict(sorted(self._by_path.items())),
                rate_limited=self._by_status[429],
                faults=dict(sorted(self._faults.items())),
                delivered=self._delivered,
            )

    def reset(self) -> None:
        with self._lock:
            self._requests = self._delivered = 0
            for counter in (self._by_status, self._by_path, self._faults):
                counter.clear()


class _RateLimiter:
    """Fixed one-minute windows aligned on minute boundaries, one budget per key."""

    def __init__(self, limit: int, clock: Callable[[], float]) -> None:
        self.limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}

    def _reset_at(self, now: float) -> int:
        return (int(now) // 60 + 1) * 60

    def peek(self) -> dict[str, str]:
        """Headers for a request that spends nothing (no valid key)."""
        now = self._clock()
        return self._headers(self.limit, self._reset_at(now))

    def spend(self, key: str) -> tuple[bool, dict[str, str]]:
        """Spend one unit of the key's budget; False (and Retry-After) when it is gone."""
        now = self._clock()
        reset = self._reset_at(now)
        with self._lock:
            window, used = self._windows.get(key, (reset, 0))
            if window != reset:
                used = 0
            allowed = used < self.limit
            if allowed:
                used += 1
            self._windows[key] = (reset, used)
        headers = self._headers(self.limit - used, reset)
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil(reset - now)))
        return allowed, headers

    def _headers(self, remaining: int, reset: int) -> dict[str, str]:
        return {"X-RateLimit-Limit": str(self.limit),
                "X-RateLimit-Remaining": str(max(0, remaining)),
                "X-RateLimit-Reset": str(reset)}


@dataclass
class _Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


def _json(status: int, payload: Mapping[str, Any], headers: dict[str, str] | None = None
          ) -> _Reply:
    return _Reply(status, json.dumps(payload, separators=(",", ":")).encode(), headers or {})


_ENDING_AT: Final = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<m>\d{2})(?::(?P<s>\d{2})(?:\.\d{1,9})?)?"
    r"\s*(?:Z|[+\- ](?P<oh>\d{1,2})(?::?(?P<om>\d{2}))?)?)?",
    re.IGNORECASE,
)


def parse_ending_at(text: str) -> dt.date:
    """Read ``ending_at``: an ISO-8601 date or datetime, offsets like ``-5:00`` accepted.

    The date is taken as written, in the offset given: the sandbox's company time zone is
    whatever the caller says. A ``+`` sent unencoded arrives as a space and is accepted.

    Examples:
        >>> parse_ending_at("2020-06-28T23:59:59-5:00")
        datetime.date(2020, 6, 28)
        >>> parse_ending_at("2024-07-20")
        datetime.date(2024, 7, 20)

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
    return day


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


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _sent_at(day: dt.date | None, hour: int) -> str | None:
    if day is None:
        return None
    return _iso(dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc))


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


class _App:
    """Braze's answers, without the HTTP plumbing."""

    def __init__(self, *, catalogue: Sequence[Campaign], cache: SeriesCache,
                 keys: Mapping[str, frozenset[str]], limiter: _RateLimiter,
                 today: dt.date, inclusive: bool, stats: _Stats) -> None:
        self.catalogue = catalogue
        self.by_id = {c.id: c for c in catalogue}
        self.cache = cache
        self.keys = keys
        self.limiter = limiter
        self.today = today
        self.inclusive = inclusive
        self.stats = stats
        self.routes: dict[str, tuple[str, Callable[[Mapping[str, str]], _Reply]]] = {
            "/campaigns/data_series": ("campaigns.data_series", self.data_series),
            "/campaigns/list": ("campaigns.list", self.campaign_list),
            "/campaigns/details": ("campaigns.details", self.details),
        }

    def handle(self, method: str, path: str, query: Mapping[str, str],
               authorization: str | None) -> _Reply:
        key = _bearer(authorization)
        if key is None or key not in self.keys:
            return _json(401, {"message": f"Invalid API key: {_masked(key)}"},
                         self.limiter.peek())
        allowed, headers = self.limiter.spend(key)
        if not allowed:
            return _json(429, {"message": "API rate limit exceeded; retry after the reset "
                                          "time in X-RateLimit-Reset"}, headers)
        route = self.routes.get(path)
        if route is None:
            return _json(404, {"message": f"No such endpoint: {path}"}, headers)
        if method != "GET":
            reply = _json(405, {"message": f"{method} is not allowed on {path}; use GET"},
                          headers)
            reply.headers["Allow"] = "GET"
            return reply
        permission, endpoint = route
        if permission not in self.keys[key]:
            return _json(403, {"message": f"This API key does not have the permission "
                                          f"{permission} required by {path}"}, headers)
        reply = endpoint(query)
        reply.headers.update(headers)
        return reply

    def _campaign(self, query: Mapping[str, str]) -> Campaign | _Reply:
        cid = query.get("campaign_id", "").strip()
        if not cid:
            return _json(400, {"message": "campaign_id is required"})
        campaign = self.by_id.get(cid)
        if campaign is None:
            return _json(400, {"message": f"Invalid campaign_id: {cid}"})
        return campaign

    def data_series(self, query: Mapping[str, str]) -> _Reply:
        campaign = self._campaign(query)
        if isinstance(campaign, _Reply):
            return campaign
        raw_length = query.get("length")
        if raw_length is None or not raw_length.strip():
            return _json(400, {"message": "length is required"})
        digits = raw_length.strip()
        length = int(digits) if re.fullmatch(r"[0-9]{1,4}", digits) else 0
        if not 1 <= length <= _MAX_LENGTH:
            return _json(400, {"message": "Invalid length",
                               "errors": [f"length must be an integer from 1 to {_MAX_LENGTH},"
                                          f" got {raw_length!r}"]})
        raw_end = query.get("ending_at")
        if raw_end is None or not raw_end.strip():
            end = self.today
        else:
            try:
                end = parse_ending_at(raw_end)
            except ValueError as exc:
                return _json(400, {"message": "Invalid ending_at", "errors": [str(exc)]})
        if self.inclusive:
            first, last = end - dt.timedelta(days=length - 1), end
        else:
            first, last = end - dt.timedelta(days=length), end - dt.timedelta(days=1)
        return _Reply(200, self.cache.data_series(campaign, first, last))

    def campaign_list(self, query: Mapping[str, str]) -> _Reply:
        raw_page = query.get("page", "0").strip() or "0"
        if not raw_page.isdigit():
            return _json(400, {"message": f"Invalid page: {raw_page!r} (pages count from 0)"})
        page = int(raw_page)
        archived = query.get("include_archived", "false").strip().lower() or "false"
        if archived not in ("true", "false"):
            return _json(400, {"message": "include_archived must be true or false"})
        direction = query.get("sort_direction", "asc").strip().lower() or "asc"
        if direction not in ("asc", "desc"):
            return _json(400, {"message": "sort_direction must be asc or desc"})
        campaigns = [c for c in self.catalogue if archived == "true" or not c.archived]
        raw_since = query.get("last_edit.time[gt]", "").strip()
        if raw_since:
            since = _parse_datetime(raw_since)
            if since is None:
                return _json(400, {"message": "Invalid last_edit.time[gt]",
                                   "errors": [f"not an ISO-8601 datetime: {raw_since!r}"]})
            campaigns = [c for c in campaigns if c.updated_at > since]
        campaigns.sort(key=lambda c: (c.created_at, c.id), reverse=direction == "desc")
        chunk = campaigns[page * _PAGE_SIZE:(page + 1) * _PAGE_SIZE]
        return _json(200, {"message": "success", "campaigns": [
            {"id": c.id, "last_edited": _iso(c.updated_at), "name": c.name,
             "is_api_campaign": c.is_api_campaign, "tags": list(c.tags)} for c in chunk]})

    def details(self, query: Mapping[str, str]) -> _Reply:
        campaign = self._campaign(query)
        if isinstance(campaign, _Reply):
            return campaign
        messages: dict[str, dict[str, Any]] = {}
        for v in campaign.variations:
            if v.control:
                messages[v.api_id] = {"type": "control", "name": v.name, "channel": v.channel}
                continue
            extra = {k: t.format(name=v.name) for k, t in _MESSAGE_FIELDS.get(
                v.channel, {"alert": "{name}: tap to see what's new", "title": "Sandbox Store"}
            ).items()}
            messages[v.api_id] = {"channel": v.channel, "name": v.name, **extra}
        behaviours = []
        for i, kind in enumerate(campaign.conversion_events):
            behaviour: dict[str, Any] = {"type": kind,
                                         "window": campaign.conversion_window_days * 86_400}
            if kind == "Performs Custom Event":
                behaviour["custom_event_name"] = f"sandbox_event_{i}"
            behaviours.append(behaviour)
        return _json(200, {
            "message": "success",
            "created_at": _iso(campaign.created_at),
            "updated_at": _iso(campaign.updated_at),
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
            "conversion_behaviors": behaviours,
        })


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


# ----------------------------------------------------------------------------- faults


@dataclass
class FaultConfig:
    """Settings the handler reads on every request (changeable while serving)."""

    latency: float
    fault_rate: float
    faults: tuple[str, ...]
    slow_seconds: float
    rng: random.Random
    lock: threading.Lock = field(default_factory=threading.Lock)

    def draw(self) -> str | None:
        if self.fault_rate <= 0.0 or not self.faults:
            return None
        with self.lock:
            if self.rng.random() >= self.fault_rate:
                return None
            return self.rng.choice(self.faults)


def _fault_reply(kind: str, headers: dict[str, str]) -> _Reply:
    if kind == "500":
        return _json(500, {"message": "Internal Server Error"}, headers)
    if kind == "503":
        return _json(503, {"message": "Service Unavailable"}, headers)
    if kind in ("502", "504"):
        code = int(kind)
        reason = "Bad Gateway" if code == 502 else "Gateway Time-out"
        body = _HTML_GATEWAY.format(code=code, reason=reason)
        return _Reply(code, body.encode(), headers, "text/html")
    if kind == "html":
        return _Reply(503, _HTML_MAINTENANCE.encode(), headers, "text/html; charset=utf-8")
    return _Reply(200, _HTML_PORTAL.encode(), headers, "text/html; charset=utf-8")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "braze-frames-sandbox/simulator"
    sys_version = ""
    # Idle keep-alive connections give their thread back after this long.
    timeout = 60
    # Headers and body go out in two writes; with Nagle on, a kept-alive connection waits
    # ~40 ms for the delayed ACK between them.
    disable_nagle_algorithm = True
    server: _Server

    def version_string(self) -> str:
        """The Server header: says it is a simulator."""
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the sandbox counts requests in its stats instead."""

    def do_GET(self) -> None:
        """Answer a GET."""
        self._serve()

    def do_POST(self) -> None:
        """Answer a POST (405 on known paths, like a read-only endpoint)."""
        self._serve()

    def _serve(self) -> None:
        app, config = self.server.app, self.server.config
        # Drain any request body so the connection stays usable.
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        url = urlsplit(self.path)
        app.stats.request(url.path)
        kind = config.draw()
        if kind is not None:
            app.stats.fault(kind)
        if config.latency > 0:
            time.sleep(config.latency)
        if kind == "slow":
            time.sleep(config.slow_seconds)
        if kind == "reset":
            # SO_LINGER 0: close() sends a TCP reset instead of a clean end of stream.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        reply = app.handle(self.command, url.path, query, self.headers.get("Authorization"))
        if kind is not None and kind not in ("slow", "truncate"):
            reply = _fault_reply(kind, {k: v for k, v in reply.headers.items()
                                        if k.startswith("X-RateLimit")})
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if kind == "truncate":
            self.send_header("Connection", "close")
        self.end_headers()
        if kind == "truncate":
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.close_connection = True
        else:
            self.wfile.write(reply.body)
        app.stats.response(reply.status, reply.status == 200 and kind not in ("truncate", "html200"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: _App, config: FaultConfig) -> None:
        self.app = app
        self.config = config
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a slow answer closes its socket: that is normal here.
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return
        super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Wake every handler blocked on a kept-alive connection, so its thread ends."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            # A handler may have closed its socket meanwhile.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
