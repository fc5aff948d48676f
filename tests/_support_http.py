"""A scripted HTTP/1.1 server on 127.0.0.1 for tests that need real sockets.

Each test says, reply by reply, what the server does, and reads back what it received::

    with ScriptedServer() as server:
        server.enqueue(
            Reply.reset(),                                   # drop the connection (RST)
            Reply.truncated(b'{"message": "succ'),           # Content-Length promises more
            Reply.json({"message": "slow"}, delay=2.0),      # sleep 2 s, then answer
            Reply.json({"message": "success"}, headers={"X-RateLimit-Remaining": "9"}),
        )
        ...  # point a client at server.url
        assert server.requests[0].headers["authorization"] == "Bearer ..."

Replies are served in order, one per request, whatever the path. When the queue is empty the
``handler`` (a function ``RecordedRequest -> Reply``) answers, which suits stateful fakes
such as a rate-limited endpoint; without one the server answers ``418`` with a JSON body
naming the problem, so a test that under-scripts fails loudly.

Actions: a normal response; ``reset`` (close with TCP RST, no response); ``close`` (close
cleanly, no response); ``truncated`` (a ``Content-Length`` larger than the body sent, then
close); ``truncated_chunked`` (a chunked body that stops before its last chunk). Any reply
may wait ``delay`` seconds first (real sleep: use it only for timeout tests).

Use it as a context manager, or start/close it yourself; it runs in daemon threads and never
raises into the test's threads (handler errors are kept in :attr:`ScriptedServer.errors`).
Import it from a test module with ``from _support_http import Reply, ScriptedServer``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

__all__ = ["Action", "RecordedRequest", "Reply", "ScriptedServer"]

Action = Literal["respond", "reset", "close", "truncated", "truncated_chunked"]


class _Headers(dict[str, str]):
    """A dict of headers with case-insensitive lookup (keys are stored lowercase)."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__((k.lower(), v) for k, v in items)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it.

    Attributes:
        method: ``"GET"``, ``"POST"``...
        path: The path, without the query string.
        query: Query parameters; each name maps to its last value.
        raw_query: The query string as sent.
        headers: Request headers, looked up case-insensitively.
        body: The request body.
        port: The server port that received it (tells two servers apart).
        time: ``time.time()`` when it arrived.
    """

    method: str
    path: str
    query: dict[str, str]
    raw_query: str
    headers: Mapping[str, str]
    body: bytes
    port: int
    time: float


@dataclass(frozen=True)
class Reply:
    """What the server does for one request.

    Attributes:
        status: HTTP status of a response.
        body: Bytes sent as the body.
        headers: Extra headers, in order (``Content-Length`` is added unless truncating).
        action: ``"respond"`` or a fault (see the module docstring).
        delay: Seconds to sleep before acting.
        missing: For ``"truncated"``: how many promised bytes never come.
    """

    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    action: Action = "respond"
    delay: float = 0.0
    missing: int = 100

    @classmethod
    def json(
        cls,
        obj: Any,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        delay: float = 0.0,
    ) -> Reply:
        """A JSON response."""
        return cls(
            status,
            json.dumps(obj).encode(),
            (("Content-Type", "application/json"), *_pairs(headers)),
            delay=delay,
        )

    @classmethod
    def raw(
        cls,
        body: bytes | str,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
        *,
        content_type: str = "text/html; charset=utf-8",
        delay: float = 0.0,
    ) -> Reply:
        """A response with any body (HTML pages, broken JSON...)."""
        data = body.encode() if isinstance(body, str) else body
        return cls(status, data, (("Content-Type", content_type), *_pairs(headers)), delay=delay)

    @classmethod
    def reset(cls, *, delay: float = 0.0) -> Reply:
        """Abort the connection with a TCP reset, without a response."""
        return cls(action="reset", delay=delay)

    @classmethod
    def close(cls, *, delay: float = 0.0) -> Reply:
        """Close the connection cleanly, without a response."""
        return cls(action="close", delay=delay)

    @classmethod
    def truncated(
        cls,
        body: bytes | str,
        *,
        missing: int = 100,
        status: int = 200,
        headers: Mapping[str, str] | Iterable[tuple[str, str]] = (),
    ) -> Reply:
        """Send ``body`` under a ``Content-Length`` ``missing`` bytes too large, then close."""
        data = body.encode() if isinstance(body, str) else body
        return cls(
            status,
            data,
            (("Content-Type", "application/json"), *_pairs(headers)),
            action="truncated",
            missing=missing,
        )

    @classmethod
    def truncated_chunked(cls, body: bytes | str, *, status: int = 200) -> Reply:
        """Send ``body`` as one chunk of a chunked response, then close before the last chunk."""
        data = body.encode() if isinstance(body, str) else body
        return cls(status, data, (("Content-Type", "application/json"),), action="truncated_chunked")

    def after(self, seconds: float) -> Reply:
        """This reply, once ``seconds`` have passed (the "sleep N" step)."""
        return replace(self, delay=seconds)


def _pairs(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    items = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(k), str(v)) for k, v in items)


@dataclass
class ScriptedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 that plays a script of replies.

    Args:
        handler: Answers requests when the queue is empty.
        host: The address to bind (loopback by default).

    Attributes:
        errors: Exceptions raised while serving (broken pipes from clients that gave up are
            expected in timeout tests; anything else is a bug in the test).
    """

    handler: Callable[[RecordedRequest], Reply] | None = None
    host: str = "127.0.0.1"
    errors: list[BaseException] = field(default_factory=list)
    _queue: deque[Reply] = field(default_factory=deque)
    _requests: list[RecordedRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _connections: set[socket.socket] = field(default_factory=set)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> ScriptedServer:
        """Bind a free port and serve in a daemon thread."""
        owner = self

        class Handler(_Handler):
            server_owner = owner

        httpd = ThreadingHTTPServer((self.host, 0), Handler)
        httpd.daemon_threads = True
        httpd.handle_error = self._handle_error  # type: ignore[method-assign]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving and drop every open connection."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None

    def __enter__(self) -> ScriptedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- script and record -----------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, to pass as a client's endpoint."""
        return f"http://{self.host}:{self.port}"

    def enqueue(self, *replies: Reply) -> None:
        """Append replies to the script."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not yet used."""
        with self._lock:
            return len(self._queue)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    # -- internals -------------------------------------------------------------------------

    def _next_reply(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            if self._queue:
                return self._queue.popleft()
            handler = self.handler
        if handler is not None:
            return handler(request)
        return Reply.json(
            {"message": f"ScriptedServer: no reply scripted for request {len(self.requests)}"},
            status=418,
        )

    def _handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        if error is not None:
            with self._lock:
                self.errors.append(error)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body as separate small writes would meet Nagle + delayed ACK (40 ms each).
    disable_nagle_algorithm = True
    server_owner: ScriptedServer

    def setup(self) -> None:
        super().setup()
        self.server_owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # the socket was reset or closed on purpose
        finally:
            self.server_owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query={k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
            raw_query=parts.query,
            headers=_Headers(self.headers.items()),
            body=body,
            port=self.server.server_address[1],
            time=time.time(),
        )
        reply = self.server_owner._next_reply(request)
        if reply.delay > 0:
            time.sleep(reply.delay)
        if reply.action == "reset":
            # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.connection.close()
            self.close_connection = True
            return
        if reply.action == "close":
            self.close_connection = True
            return
        self.send_response_only(reply.status)
        for name, value in reply.headers:
            self.send_header(name, value)
        if reply.action == "truncated_chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(reply.body), reply.body))
            self.wfile.flush()
            self.close_connection = True
            return
        declared = len(reply.body) + (reply.missing if reply.action == "truncated" else 0)
        self.send_header("Content-Length", str(declared))
        if reply.action == "truncated":
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(reply.body)
        self.wfile.flush()
        if reply.action == "truncated":
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve  # noqa: N815
