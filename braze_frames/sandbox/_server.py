"""The sandbox's HTTP side: the handler, latency and faults, statistics.

``_api.App`` answers requests as Braze would; the handler around it adds latency and
injects faults. Faults are drawn from their own seeded RNG, so they never change the data:
a response either arrives intact or visibly broken.
"""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from ._api import BrazeApi, Reply, json_reply

__all__ = [
    "ALL_FAULTS",
    "FAULT_KINDS",
    "SandboxStats",
]

#: The faults injected by default: retryable by a well-behaved client.
ALL_FAULTS: Final = ("500", "502", "503", "504", "html", "truncate", "reset", "slow")
#: Every fault the sandbox knows: ``ALL_FAULTS`` plus ``"html200"`` (an HTML page with
#: status 200, as a captive portal or misrouted proxy sends; opt-in because a client
#: should report it rather than retry it).
FAULT_KINDS: Final = (*ALL_FAULTS, "html200")

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


class Stats:
    """Thread-safe counters behind :class:`SandboxStats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests = 0
        self._by_status: Counter[int] = Counter()
        self._by_path: Counter[str] = Counter()
        self._faults: Counter[str] = Counter()
        self._delivered = 0

    def request(self, path: str) -> None:
        """Count a request."""
        with self._lock:
            self._requests += 1
            self._by_path[path] += 1

    def fault(self, kind: str) -> None:
        """Count an injected fault."""
        with self._lock:
            self._faults[kind] += 1

    def response(self, status: int, delivered: bool) -> None:
        """Count an answer."""
        with self._lock:
            self._by_status[status] += 1
            self._delivered += delivered

    def snapshot(self) -> SandboxStats:
        """A consistent copy of the counters."""
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
        """Zero the counters."""
        with self._lock:
            self._requests = self._delivered = 0
            for counter in (self._by_status, self._by_path, self._faults):
                counter.clear()


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


def _fault_reply(kind: str, headers: dict[str, str]) -> Reply:
    if kind == "500":
        return json_reply(500, {"message": "Internal Server Error"}, headers)
    if kind == "503":
        return json_reply(503, {"message": "Service Unavailable"}, headers)
    if kind in ("502", "504"):
        code = int(kind)
        reason = "Bad Gateway" if code == 502 else "Gateway Time-out"
        body = _HTML_GATEWAY.format(code=code, reason=reason)
        return Reply(code, body.encode(), headers, "text/html")
    if kind == "html":
        return Reply(503, _HTML_MAINTENANCE.encode(), headers, "text/html; charset=utf-8")
    return Reply(200, _HTML_PORTAL.encode(), headers, "text/html; charset=utf-8")


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
        app, config, stats = self.server.app, self.server.config, self.server.stats
        # Drain any request body so the connection stays usable.
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        url = urlsplit(self.path)
        stats.request(url.path)
        kind = config.draw()
        if kind is not None:
            stats.fault(kind)
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
        stats.response(reply.status, reply.status == 200 and kind not in ("truncate", "html200"))


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: BrazeApi, config: FaultConfig,
                 stats: Stats) -> None:
        self.app = app
        self.config = config
        self.stats = stats
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
