"""A tiny deterministic Braze for fetch tests (the sandbox is the rich one).

Every day carries a value derived from the date, so a test can tell exactly which days came
back, and the server reads ``ending_at`` inclusively or exclusively as asked.
``/campaigns/details`` answers each campaign with ``details_body`` (or ``details[cid]``),
``/campaigns/list`` with ``listed``. ``requests`` records data_series requests only;
``details_requests`` and ``list_requests`` the others.
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


def campaign_name(campaign_id: str) -> str:
    """The name the default details give a campaign."""
    return f"Campaign {campaign_id}"


def details_body(campaign_id: str) -> dict[str, Any]:
    """Default details: a name, and a name for the one variation ``day_body`` sends."""
    return {"message": "success", "name": campaign_name(campaign_id),
            "messages": {f"{campaign_id}-v1": {"channel": "email", "name": "Variant 1"}},
            "conversion_behaviors": [{"type": "Makes Any Purchase", "window": 259_200}]}


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
    details: dict[str, Any] = field(default_factory=dict)  # campaign_id -> details body
    details_status: int = 200  # 403: a key without campaigns.details
    listed: list[dict[str, Any]] = field(default_factory=list)  # /campaigns/list entries
    details_requests: list[str] = field(default_factory=list)
    list_requests: list[dict[str, str]] = field(default_factory=list)

    def answer_path(self, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        cid = params.get("campaign_id", "")
        if path == "/campaigns/details":
            self.details_requests.append(cid)
            if self.details_status == 403:
                return 403, {"message": "This API key does not have the permission "
                                        "campaigns.details required by /campaigns/details"}
            if self.details_status != 200:
                return self.details_status, {"message": "details unavailable"}
            if cid in self.failing:
                return 400, {"message": f"Invalid campaign_id {cid}"}
            return 200, self.details.get(cid) or details_body(cid)
        if path == "/campaigns/list":
            self.list_requests.append(params)
            archived = params.get("include_archived") == "true"
            page = int(params.get("page", "0"))
            chosen = [c for c in self.listed if archived or not c.get("archived")]
            return 200, {"message": "success", "campaigns": chosen[page * 100:(page + 1) * 100]}
        self.requests.append(params)
        return self.answer(params)

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
            if self.headers.get("Authorization") != f"Bearer {KEY}":
                status, body = 401, {"message": "Invalid API key"}
            else:
                with lock:
                    status, body = state.answer_path(parsed.path, params)
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
