"""A tiny deterministic data_series server for fetch tests (the sandbox is the rich one).

Every day carries a value derived from the date, so a test can tell exactly which days came
back, and the server reads ``ending_at`` inclusively or exclusively as asked.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

KEY = "test-key-0123456789"


def day_value(campaign_id: str, day: dt.date) -> int:
    """The ``sent`` of a campaign's day: unique per (campaign, day)."""
    return day.toordinal() * 10 + (sum(map(ord, campaign_id)) % 10)


def day_body(campaign_id: str, day: dt.date) -> dict[str, Any]:
    sent = day_value(campaign_id, day)
    return {
        "time": day.isoformat(),
        "unique_recipients": sent,
        "conversions": 1,
        "messages": {"email": [{"variation_api_id": f"{campaign_id}-v1", "sent": sent, "opens": 2}]},
    }


@dataclass
class FakeBraze:
    inclusive: bool = True
    requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    bodies: dict[str, Any] = field(default_factory=dict)  # campaign_id -> fixed body
    failing: set[str] = field(default_factory=set)  # campaign ids answered with 400

    def answer(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        cid = params.get("campaign_id", "")
        if cid in self.failing:
            return 400, {"message": f"Invalid campaign_id {cid}"}
        if cid in self.bodies:
            return 200, self.bodies[cid]
        length = int(params["length"])
        end = dt.date.fromisoformat(params["ending_at"][:10])
        if not self.inclusive:
            end -= dt.timedelta(days=1)
        days = [end - dt.timedelta(days=i) for i in range(length)][::-1]
        return 200, {"message": "success", "data": [day_body(cid, d) for d in days]}


@contextmanager
def fake_braze(**kwargs: Any) -> Iterator[FakeBraze]:
    state = FakeBraze(**kwargs)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            parsed = urlparse(self.path)
            params = {k: v[0] for k, v in parse_qs(parsed.query).items()}
            with lock:
                state.requests.append(params)
            if self.headers.get("Authorization") != f"Bearer {KEY}":
                status, body = 401, {"message": "Invalid API key"}
            else:
                status, body = state.answer(params)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
