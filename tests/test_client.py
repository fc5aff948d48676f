"""BrazeClient against real local HTTP servers: statuses, faults, retries, pacing, secrecy.

Nothing here really sleeps: the client gets a fake clock whose ``sleep`` only moves time on.
"""

from __future__ import annotations

import datetime as dt
import logging
import pathlib
import pickle
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from email.utils import format_datetime
from typing import Any

import pytest
import requests
from _support_http import RecordedRequest, Reply, ScriptedServer

import braze_frames
from braze_frames._errors import (
    AuthenticationError,
    BrazeAPIError,
    BrazeConnectionError,
    BrazeError,
    ConfigError,
    PermissionDeniedError,
    RateLimitError,
    UnexpectedResponseError,
)
from braze_frames.http.client import UNEXPECTED_BODY_RETRIES, BrazeClient
from braze_frames.http.config import ENV_API_KEY, ENV_REST_ENDPOINT
from braze_frames.http.retry import backoff
from braze_frames.http.stats import ClientStats

KEY = "sk-CANARY-7d1e5b2a"
PACKAGE_DIR = str(pathlib.Path(braze_frames.__file__).parent)
T0 = 1_750_000_000.0
SUCCESS = {"message": "success", "data": []}
RAND = 0.5


class FakeClock:
    """Wall-clock stand-in: ``sleep`` records the wait and moves time on."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as srv:
        yield srv


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(
    server: ScriptedServer, clock: FakeClock
) -> Iterator[Callable[..., BrazeClient]]:
    made: list[BrazeClient] = []

    def make(**kwargs: Any) -> BrazeClient:
        options: dict[str, Any] = {
            "api_key": KEY,
            "rest_endpoint": server.url,
            "sleep": clock.sleep,
            "clock": clock.time,
            "rand": lambda: RAND,
            "max_retries": 3,
        }
        options.update(kwargs)
        client = BrazeClient(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


# -- success and requests ------------------------------------------------------------------


def test_data_series_request_and_response(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    body = {"message": "success", "data": [{"time": "2024-07-20", "messages": {}}]}
    server.enqueue(Reply.json(body))
    client = make_client()
    assert client.data_series("c-1", length=7, ending_at="2024-07-21") == body
    (req,) = server.requests
    assert req.method == "GET"
    assert req.path == "/campaigns/data_series"
    assert req.query == {"campaign_id": "c-1", "length": "7", "ending_at": "2024-07-21"}
    assert req.headers["Authorization"] == f"Bearer {KEY}"
    assert req.headers["User-Agent"].startswith("braze-frames/")
    assert req.headers["Accept"] == "application/json"
    assert client.stats.as_dict() == {
        "requests": 1, "retries": 0, "rate_limited": 0, "errors": 0, "wait_seconds": 0.0,
    }


def test_ending_at_is_optional(server: ScriptedServer, make_client: Callable[..., BrazeClient]) -> None:
    server.enqueue(Reply.json(SUCCESS))
    make_client().data_series("c-1", length=100)
    assert server.requests[0].query == {"campaign_id": "c-1", "length": "100"}


def test_campaigns_list_page_parameter_names(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    server.enqueue(Reply.json({"message": "success", "campaigns": []}), Reply.json(SUCCESS))
    client = make_client()
    client.campaigns_list_page(2, include_archived=True, sort_direction="asc",
                               last_edit_gt="2024-01-01T00:00:00Z")
    client.campaigns_list_page()
    first, second = server.requests
    assert first.path == "/campaigns/list"
    assert first.query == {
        "page": "2", "include_archived": "true", "sort_direction": "asc",
        "last_edit.time[gt]": "2024-01-01T00:00:00Z",
    }
    assert "last_edit.time%5Bgt%5D=" in first.raw_query
    assert second.query == {"page": "0", "include_archived": "false", "sort_direction": "desc"}


def test_campaign_details(server: ScriptedServer, make_client: Callable[..., BrazeClient]) -> None:
    server.enqueue(Reply.json({"message": "success", "name": "Welcome"}))
    assert make_client().campaign_details("c-9")["name"] == "Welcome"
    assert server.requests[0].path == "/campaigns/details"
    assert server.requests[0].query == {"campaign_id": "c-9"}


def test_campaign_details_are_cached_for_the_clients_life(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    server.handler = lambda req: Reply.json(
        {"message": "success", "name": f"Name of {req.query['campaign_id']}"}, delay=0.05)
    client = make_client()
    first = client.campaign_details("c-1")
    first["name"] = "changed by the caller"  # a copy: the cache is not touched
    assert client.campaign_details("c-1")["name"] == "Name of c-1"
    assert len(server.requests) == 1
    # Eight threads asking at once for two campaigns share two requests.
    names: list[str] = []
    lock = threading.Lock()

    def ask(cid: str) -> None:
        got = client.campaign_details(cid)["name"]
        with lock:
            names.append(got)

    threads = [threading.Thread(target=ask, args=(f"c-{2 + i % 2}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(names) == ["Name of c-2"] * 4 + ["Name of c-3"] * 4
    assert sorted(r.query["campaign_id"] for r in server.requests) == ["c-1", "c-2", "c-3"]
    assert set(client.cached_details()) == {"c-1", "c-2", "c-3"}
    assert client.campaign_details("c-1", refresh=True)["name"] == "Name of c-1"
    assert len(server.requests) == 4


def test_failed_details_are_not_cached(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    server.enqueue(Reply.json({"message": "no"}, 403),
                   Reply.json({"message": "success", "name": "Welcome"}))
    client = make_client()
    with pytest.raises(PermissionDeniedError, match=r"campaigns\.details"):
        client.campaign_details("c-1")
    assert client.campaign_details("c-1")["name"] == "Welcome"
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda c: c.data_series("c", length=0), ValueError),
        (lambda c: c.data_series("c", length=101), ValueError),
        (lambda c: c.data_series("c", length=True), TypeError),
        (lambda c: c.data_series("c", length=7.0), TypeError),
        (lambda c: c.data_series("  ", length=7), ValueError),
        (lambda c: c.data_series(None, length=7), TypeError),
        (lambda c: c.data_series("c", length=7, ending_at=dt.date(2024, 1, 1)), TypeError),
        (lambda c: c.campaigns_list_page(-1), ConfigError),
        (lambda c: c.campaigns_list_page(sort_direction="up"), ValueError),
        (lambda c: c.campaigns_list_page(include_archived="yes"), TypeError),
        (lambda c: c.campaign_details(""), ValueError),
        (lambda c: c.get("campaigns/list"), ValueError),
        (lambda c: c.get("//evil.example/x"), ValueError),
        (lambda c: c.get("/campaigns/list?page=1"), ValueError),
        (lambda c: c.get("/campaigns/list", {"page": 1.5}), TypeError),
    ],
)
def test_invalid_arguments_fail_before_any_request(
    server: ScriptedServer,
    make_client: Callable[..., BrazeClient],
    call: Callable[[BrazeClient], Any],
    error: type[Exception],
) -> None:
    with pytest.raises(error):
        call(make_client())
    assert server.requests == []


def test_big_integers_survive_decoding(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    huge = 10**400  # beyond float range: orjson refuses it, the stdlib reads it
    server.enqueue(Reply.raw(f'{{"message": "success", "n": {huge}}}', content_type="application/json"))
    assert make_client().get("/campaigns/list")["n"] == huge


# -- status -> error -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "cls", "hint"),
    [
        (400, BrazeAPIError, "parameters"),
        (401, AuthenticationError, "without quotes"),
        (403, PermissionDeniedError, "campaigns.data_series"),
        (404, BrazeAPIError, "REST endpoint"),
        (409, BrazeAPIError, None),
        (501, BrazeAPIError, "server error"),
    ],
)
def test_error_statuses_map_to_classes_without_retry(
    server: ScriptedServer,
    make_client: Callable[..., BrazeClient],
    clock: FakeClock,
    status: int,
    cls: type[BrazeAPIError],
    hint: str | None,
) -> None:
    errors = ["length must be between 1 and 100"]
    server.enqueue(Reply.json({"message": f"Braze says {status}", "errors": errors}, status))
    client = make_client()
    with pytest.raises(BrazeAPIError) as info:
        client.data_series("c-1", length=7)
    err = info.value
    assert type(err) is cls
    assert err.status == status
    assert err.braze_message == f"Braze says {status}"
    assert err.errors == errors
    assert err.url is not None
    assert err.url.startswith(server.url + "/campaigns/data_series?campaign_id=c-1")
    assert f"HTTP {status}" in str(err)
    assert f"Braze says {status}" in str(err)
    if hint is not None:
        assert hint in (err.hint or "")
    assert len(server.requests) == 1
    assert clock.sleeps == []
    assert client.stats.errors == 1


def test_permission_hint_names_the_endpoint_permission(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    server.enqueue(Reply.json({"message": "no"}, 403), Reply.json({"message": "no"}, 403))
    client = make_client()
    with pytest.raises(PermissionDeniedError, match=r"campaigns\.details"):
        client.campaign_details("c")
    with pytest.raises(PermissionDeniedError, match=r"campaigns\.list"):
        client.campaigns_list_page()


def test_error_status_with_an_html_body_quotes_an_excerpt(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    server.enqueue(Reply.raw("<html><body>" + "Not Found " * 100 + "</body></html>", 404))
    with pytest.raises(BrazeAPIError) as info:
        make_client().get("/campaigns/list")
    assert info.value.status == 404
    assert info.value.braze_message is None
    assert "<html><body>Not Found" in str(info.value)
    assert len(str(info.value)) < 800


def test_200_with_an_error_message_is_an_api_error(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    server.enqueue(Reply.json({"message": "Invalid campaign_id", "errors": ["x"]}))
    with pytest.raises(BrazeAPIError) as info:
        make_client().data_series("c", length=1)
    assert type(info.value) is BrazeAPIError
    assert info.value.status == 200
    assert info.value.braze_message == "Invalid campaign_id"
    assert len(server.requests) == 1


def test_200_without_message_is_unexpected(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    server.enqueue(Reply.json({"data": []}))
    with pytest.raises(UnexpectedResponseError, match="message"):
        make_client().data_series("c", length=1)
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("reply", "what"),
    [
        (Reply.raw("<!DOCTYPE html><html><title>Sign in</title></html>"), "an HTML page"),
        (Reply.raw('{"message": "succ', content_type="application/json"), "malformed or truncated JSON"),
        (Reply.raw(""), "an empty body"),
        (Reply.raw(b"\xff\xfe garbage"), "a body that is not JSON"),
        (Reply.json([1, 2, 3]), "JSON list"),
        (Reply.json("success"), "JSON str"),
    ],
)
def test_unexpected_bodies_are_retried_a_few_times_then_raised(
    server: ScriptedServer,
    make_client: Callable[..., BrazeClient],
    clock: FakeClock,
    reply: Reply,
    what: str,
) -> None:
    server.enqueue(*[reply] * (UNEXPECTED_BODY_RETRIES + 1))
    client = make_client(max_retries=6)
    with pytest.raises(UnexpectedResponseError) as info:
        client.get("/campaigns/list")
    err = info.value
    assert what in str(err)
    assert err.status == 200
    assert err.body_excerpt is not None
    assert len(err.body_excerpt) <= 200
    assert len(server.requests) == UNEXPECTED_BODY_RETRIES + 1
    assert clock.sleeps == [backoff(i, rand=RAND) for i in range(UNEXPECTED_BODY_RETRIES)]


def test_an_html_page_then_success(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    server.enqueue(Reply.raw("<html>proxy hiccup</html>"), Reply.json(SUCCESS))
    assert make_client().get("/campaigns/list") == SUCCESS


def test_excerpt_never_carries_headers(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    server.enqueue(*[Reply.raw("<html>x</html>", headers={"X-Secret-Header": "hdr"})] * 3)
    with pytest.raises(UnexpectedResponseError) as info:
        make_client().get("/campaigns/list")
    assert "hdr" not in str(info.value)
    assert "X-Secret-Header" not in str(info.value)


# -- transport faults ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Reply.reset(),
        Reply.close(),
        Reply.truncated('{"message": "success", "data": [{"time": "2024-'),
        Reply.truncated_chunked('{"message": "success", "data": ['),
    ],
    ids=["reset", "close", "cut-content-length", "cut-chunked"],
)
def test_transport_fault_then_success(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], clock: FakeClock, fault: Reply
) -> None:
    server.enqueue(fault, Reply.json(SUCCESS))
    client = make_client()
    assert client.get("/campaigns/data_series") == SUCCESS
    assert len(server.requests) == 2
    assert clock.sleeps == [backoff(0, rand=RAND)]
    assert client.stats.retries == 1
    assert client.stats.requests == 2


def test_persistent_resets_raise_connection_error_from_a_plain_cause(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], clock: FakeClock
) -> None:
    server.enqueue(*[Reply.reset()] * 4)
    client = make_client(max_retries=3)
    with pytest.raises(BrazeConnectionError) as info:
        client.get("/campaigns/data_series", {"campaign_id": "c"})
    err = info.value
    assert len(server.requests) == 4
    assert clock.sleeps == [backoff(i, rand=RAND) for i in range(3)]
    assert "after 4 attempts" in str(err)
    assert type(err.__cause__) is ConnectionError  # the builtin, not requests'
    assert "requests.exceptions.ConnectionError" in str(err.__cause__)
    assert err.__context__ is None or err.__suppress_context__
    assert client.stats.errors == 1


def test_timeout_is_retried_and_reported_as_timeout(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    server.enqueue(Reply.json(SUCCESS, delay=0.4), Reply.json(SUCCESS))
    client = make_client(timeout=(2.0, 0.1), max_retries=1)
    assert client.get("/campaigns/list") == SUCCESS
    server.enqueue(Reply.json(SUCCESS, delay=0.4), Reply.json(SUCCESS, delay=0.4))
    with pytest.raises(BrazeConnectionError) as info:
        client.get("/campaigns/list")
    assert type(info.value.__cause__) is TimeoutError
    assert "timeout" in (info.value.hint or "")


def test_connection_refused(clock: FakeClock) -> None:
    with ScriptedServer() as srv:
        url = srv.url
    client = BrazeClient(KEY, url, sleep=clock.sleep, clock=clock.time, max_retries=1)
    with pytest.raises(BrazeConnectionError):
        client.get("/campaigns/list")
    assert len(clock.sleeps) == 1


def test_a_dead_endpoint_fails_within_a_few_seconds() -> None:
    # Nothing listens: a refusal is retried once, after a short wait, not max_retries times
    # with growing backoff (which took 21 s over 7 attempts). Real sleeps: this is the
    # time a user waits.
    with ScriptedServer() as srv:
        url = srv.url
    client = BrazeClient(KEY, url, max_retries=6)
    started = time.monotonic()
    with pytest.raises(BrazeConnectionError) as info:
        client.get("/campaigns/list")
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, elapsed
    assert client.stats.requests == 2
    assert "(after 2 attempts)" in str(info.value)
    assert "Nothing accepts connections" in (info.value.hint or "")


def test_resets_are_still_retried_with_the_whole_budget(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], clock: FakeClock
) -> None:
    server.enqueue(*[Reply.reset()] * 4, Reply.json(SUCCESS))
    client = make_client(max_retries=4)
    assert client.get("/campaigns/list") == SUCCESS
    assert client.stats.retries == 4
    assert clock.sleeps == [backoff(i, rand=RAND) for i in range(4)]


def test_bad_request_hint_quotes_brazes_errors_not_attribute_names(
    server: ScriptedServer, make_client: Callable[..., BrazeClient]
) -> None:
    server.enqueue(Reply.json({"message": "Invalid request", "errors": ["length must be <= 100"]}, 400),
                   Reply.json({"message": "Invalid campaign_id"}, 400))
    client = make_client()
    with pytest.raises(BrazeAPIError) as info:
        client.get("/campaigns/data_series")
    assert "length must be <= 100" in (info.value.hint or "")
    with pytest.raises(BrazeAPIError) as info:
        client.get("/campaigns/data_series")
    for text in (info.value.hint or "", str(info.value)):
        assert "braze_message" not in text and "errors" not in text


# -- 5xx and 429 ---------------------------------------------------------------------------


def test_server_errors_are_retried_with_backoff(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], clock: FakeClock
) -> None:
    server.enqueue(Reply.json({"message": "oops"}, 503), Reply.raw("<h1>Bad gateway</h1>", 502),
                   Reply.json(SUCCESS))
    client = make_client()
    assert client.get("/campaigns/list") == SUCCESS
    assert clock.sleeps == [backoff(0, rand=RAND), backoff(1, rand=RAND)]
    assert client.stats.retries == 2


def test_server_errors_bounded_by_max_retries(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], clock: FakeClock
) -> None:
    server.enqueue(*[Reply.json({"message": "Internal error"}, 500)] * 5)
    client = make_client(max_retries=4)
    with pytest.raises(BrazeAPIError) as info:
        client.get("/campaigns/list")
    assert info.value.status == 500
    assert info.value.braze_message == "Internal error"
    assert "after 5 attempts" in str(info.value)
    assert len(server.requests) == 5
    assert len(clock.sleeps) == 4


def test_no_retries_when_max_retries_is_zero(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], clock: FakeClock
) -> None:
    server.enqueue(Reply.reset())
    with pytest.raises(BrazeConnectionError):
        make_client(max_retries=0).get("/campaigns/list")
    assert len(server.requests) == 1
    assert clock.sleeps == []


def test_503_retry_after_is_honoured(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], clock: FakeClock
) -> None:
    server.enqueue(Reply.json({"message": "busy"}, 503, {"Retry-After": "2"}), Reply.json(SUCCESS))
    make_client().get("/campaigns/list")
    assert clock.sleeps == [2.0 + RAND * 0.5]


def test_a_server_wait_beyond_max_wait_is_not_waited_for(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], clock: FakeClock
) -> None:
    server.enqueue(Reply.json({"message": "maintenance"}, 503, {"Retry-After": "3600"}))
    with pytest.raises(BrazeAPIError) as info:
        make_client(max_wait=60).get("/campaigns/list")
    assert info.value.status == 503
    assert len(server.requests) == 1
    assert clock.sleeps == []


def test_backoff_never_exceeds_max_wait(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], clock: FakeClock
) -> None:
    server.enqueue(*[Reply.json({"message": "oops"}, 500)] * 6, Reply.json(SUCCESS))
    assert make_client(max_retries=6, max_wait=2.5).get("/campaigns/list") == SUCCESS
    assert clock.sleeps == [min(backoff(i, rand=RAND), 2.5) for i in range(6)]
    assert max(clock.sleeps) == 2.5


def _http_date(seconds_from_t0: float) -> str:
    when = dt.datetime.fromtimestamp(T0 + seconds_from_t0, tz=dt.timezone.utc)
    return format_datetime(when, usegmt=True)


@pytest.mark.parametrize(
    ("headers", "wait"),
    [
        ({"X-RateLimit-Reset": str(int(T0) + 10), "X-RateLimit-Remaining": "0"}, 10.25),
        ({"x-ratelimit-reset": str(int(T0) + 10)}, 10.25),
        ({"Retry-After": "7"}, 7.25),
        ({"retry-after": "7"}, 7.25),
        ({"X-RateLimit-Retry-After": "4"}, 4.25),
        ({"Retry-After": _http_date(20)}, 20.25),
        ({}, backoff(0, rand=RAND)),
        ({"X-RateLimit-Reset": "", "Retry-After": ""}, backoff(0, rand=RAND)),
        ({"X-RateLimit-Reset": "soon", "Retry-After": "later"}, backoff(0, rand=RAND)),
        ({"X-RateLimit-Reset": str(int(T0) - 30)}, backoff(0, rand=RAND)),
    ],
    ids=["reset", "reset-lowercase", "retry-after", "retry-after-lowercase",
         "x-retry-after", "http-date", "missing", "empty", "garbage", "reset-in-past"],
)
def test_429_waits_as_the_headers_say(
    server: ScriptedServer,
    make_client: Callable[..., BrazeClient],
    clock: FakeClock,
    headers: dict[str, str],
    wait: float,
) -> None:
    server.enqueue(Reply.json({"message": "Rate limit exceeded"}, 429, headers), Reply.json(SUCCESS))
    client = make_client()
    assert client.data_series("c", length=3) == SUCCESS
    assert clock.sleeps == [pytest.approx(wait)]
    assert client.stats.rate_limited == 1
    assert client.stats.retries == 1
    assert client.stats.wait_seconds == pytest.approx(wait)


def test_429_reset_beyond_max_wait_raises_at_once(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], clock: FakeClock
) -> None:
    headers = {"X-RateLimit-Reset": str(int(T0) + 3600), "X-RateLimit-Remaining": "0"}
    server.enqueue(Reply.json({"message": "Rate limit exceeded"}, 429, headers))
    client = make_client(max_wait=60)
    with pytest.raises(RateLimitError) as info:
        client.campaigns_list_page()
    err = info.value
    assert err.status == 429
    assert err.retry_after == pytest.approx(3600)
    assert err.braze_message == "Rate limit exceeded"
    assert "maximum wait (60 s)" in str(err)
    assert len(server.requests) == 1
    assert clock.sleeps == []


def test_429_on_every_attempt_raises_rate_limit_error(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], clock: FakeClock
) -> None:
    server.handler = lambda req: Reply.json({"message": "slow down"}, 429, {"Retry-After": "1"})
    client = make_client(max_retries=3)
    with pytest.raises(RateLimitError) as info:
        client.get("/campaigns/list")
    assert len(server.requests) == 4
    assert client.stats.rate_limited == 4
    assert info.value.retry_after == 1.0
    assert len(clock.sleeps) == 3


def test_a_429_blocks_other_requests_of_the_same_endpoint_only(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], clock: FakeClock
) -> None:
    client = make_client()
    server.enqueue(Reply.json({"message": "x"}, 429, {"Retry-After": "5"}), Reply.json(SUCCESS))
    client.data_series("c", length=1)
    assert clock.sleeps == [5.25]
    # The block has passed for data_series, and never applied to /campaigns/list.
    server.enqueue(Reply.json(SUCCESS), Reply.json(SUCCESS))
    client.campaigns_list_page()
    client.data_series("c", length=1)
    assert clock.sleeps == [5.25]


def test_client_paces_a_long_job_within_the_budget(clock: FakeClock) -> None:
    """A Braze-like fixed window (40 per minute) on the shared fake clock: no 429 at all."""
    limit, window = 40, 60.0
    state = {"window": -1, "count": 0, "rejected": 0}

    def handler(req: RecordedRequest) -> Reply:
        now = clock.time()
        index = int(now // window)
        if index != state["window"]:
            state["window"], state["count"] = index, 0
        reset = str(int((index + 1) * window))
        if state["count"] >= limit:
            state["rejected"] += 1
            return Reply.json({"message": "Rate limit"}, 429,
                              {"X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "0"})
        state["count"] += 1
        return Reply.json(SUCCESS, headers={
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(limit - state["count"]),
            "x-ratelimit-reset": reset,
        })

    with ScriptedServer(handler=handler) as srv, BrazeClient(
        KEY, srv.url, sleep=clock.sleep, clock=clock.time, rand=lambda: RAND
    ) as client:
        start = clock.time()
        for _ in range(130):
            client.data_series("c", length=1)
        elapsed = clock.time() - start
    assert state["rejected"] == 0
    assert client.stats.rate_limited == 0
    # 40 per window: the first (partial) window, two full ones, then the last 10 go out at
    # once when the fourth window opens. Unpaced, this job would have met 90 429s.
    first_reset = (T0 // window + 1) * window
    assert elapsed == pytest.approx(first_reset - T0 + 2 * window, abs=0.5)


# -- redirects and TLS ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirects_are_not_followed_and_never_carry_the_key(
    server: ScriptedServer, make_client: Callable[..., BrazeClient], status: int
) -> None:
    with ScriptedServer(handler=lambda req: Reply.json(SUCCESS)) as other:
        location = f"{other.url}/campaigns/data_series?campaign_id=c&length=1"
        server.enqueue(Reply.raw("", status, {"Location": location}))
        with pytest.raises(BrazeAPIError) as info:
            make_client().data_series("c", length=1)
        assert other.requests == []
        assert other.url in (info.value.hint or "")
    assert info.value.status == status
    assert "campaign_id" not in (info.value.hint or "")


def test_sessions_without_tls_verification_are_refused(server: ScriptedServer) -> None:
    session = requests.Session()
    session.verify = False
    with pytest.raises(ConfigError, match="verify=False"):
        BrazeClient(KEY, server.url, session=session)
    session.close()


def test_injected_session_is_used_and_left_open(server: ScriptedServer) -> None:
    session = requests.Session()
    session.headers["X-Team"] = "analytics"
    server.enqueue(Reply.json(SUCCESS), Reply.json(SUCCESS))
    with BrazeClient(KEY, server.url, session=session) as client:
        client.get("/campaigns/list")
    assert server.requests[0].headers["X-Team"] == "analytics"
    assert "Authorization" not in session.headers
    session.get(server.url + "/still-open", timeout=5)
    session.close()


def test_pool_is_sized_for_the_concurrency(server: ScriptedServer) -> None:
    with BrazeClient(KEY, server.url, max_concurrency=24) as client:
        adapter = client._session.get_adapter(server.url)
        assert isinstance(adapter, requests.adapters.HTTPAdapter)
        assert adapter._pool_maxsize >= 24  # type: ignore[attr-defined]
        assert client.max_concurrency == 24


# -- construction --------------------------------------------------------------------------


def test_environment_is_read_at_construction(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV_API_KEY, f' "{KEY}" ')
    monkeypatch.setenv(ENV_REST_ENDPOINT, server.url + "/")
    server.enqueue(Reply.json(SUCCESS))
    with BrazeClient() as client:
        assert client.rest_endpoint == server.url
        client.get("/campaigns/list")
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    monkeypatch.delenv(ENV_API_KEY)
    with pytest.raises(ConfigError, match=ENV_API_KEY):
        BrazeClient()


def test_instance_names_are_accepted() -> None:
    with BrazeClient(KEY, "us-03") as client:
        assert client.rest_endpoint == "https://rest.iad-03.braze.com"
    with pytest.raises(ConfigError):
        BrazeClient(KEY, "http://rest.iad-03.braze.com")


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"timeout": 0}, ConfigError),
        ({"timeout": (1.0,)}, ConfigError),
        ({"timeout": (1.0, 0)}, ConfigError),
        ({"timeout": -1.0}, ConfigError),
        ({"timeout": "10"}, TypeError),
        ({"max_retries": -1}, ConfigError),
        ({"max_retries": 1.5}, TypeError),
        ({"max_concurrency": 0}, ConfigError),
        ({"max_wait": float("nan")}, ConfigError),
        ({"max_wait": float("inf")}, ConfigError),
    ],
)
def test_invalid_options(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        BrazeClient(KEY, "US-01", **kwargs)


def test_closed_client_refuses_requests(make_client: Callable[..., BrazeClient]) -> None:
    client = make_client()
    with client:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        client.get("/campaigns/list")


def test_window_reading_starts_unknown(make_client: Callable[..., BrazeClient]) -> None:
    assert make_client().window_reading is None


def test_stats_repr_and_snapshot() -> None:
    stats = ClientStats()
    stats.add("requests", 3)
    stats.add("wait_seconds", 1.5)
    assert stats.requests == 3
    assert stats.wait_seconds == 1.5
    assert "requests=3" in repr(stats)


# -- the key never leaks -------------------------------------------------------------------


def _leaks(obj: Any, seen: set[int] | None = None, depth: int = 0) -> bool:
    """Whether ``KEY`` is reachable from ``obj`` through attributes, items or chains."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 8:
        return False
    seen.add(id(obj))
    if isinstance(obj, str):
        return KEY in obj
    if isinstance(obj, (bytes, bytearray)):
        return KEY.encode() in obj
    if isinstance(obj, (int, float, bool, type(None))):
        return False
    if KEY in repr(obj):
        return True
    children: list[Any] = []
    if isinstance(obj, BaseException):
        children += [str(obj), obj.args, obj.__cause__, obj.__context__]
    if isinstance(obj, Mapping):
        children += list(obj.keys()) + list(obj.values())
    elif isinstance(obj, (list, tuple, set, frozenset)):
        children += list(obj)
    if hasattr(obj, "__dict__"):
        children += list(vars(obj).values())
    return any(_leaks(child, seen, depth + 1) for child in children)


def _echo_key(req: RecordedRequest) -> Reply:
    return Reply.json({"message": f"Bad header: {req.headers.get('authorization')}"}, 401)


@pytest.mark.parametrize(
    "script",
    [
        [Reply.reset()] * 3,
        [Reply.truncated("{")] * 3,
        [Reply.raw(f"<html>Authorization: Bearer {KEY}</html>")] * 3,
        [Reply.json({"message": "x"}, 500)] * 3,
        [Reply.json({"message": "x"}, 429, {"Retry-After": "999"})],
        [Reply.json({"message": "x"}, 403)],
        [Reply.raw("", 302, {"Location": "https://elsewhere.example/x"})],
        [Reply.json(SUCCESS, delay=0.3)] * 3,
        "echo",
    ],
    ids=["reset", "cut", "html-echo", "500", "429", "403", "redirect", "timeout", "json-echo"],
)
def test_key_never_leaks(
    server: ScriptedServer,
    make_client: Callable[..., BrazeClient],
    caplog: pytest.LogCaptureFixture,
    script: list[Reply] | str,
) -> None:
    if script == "echo":
        server.handler = _echo_key
    else:
        assert isinstance(script, list)
        server.enqueue(*script)
    caplog.set_level(logging.DEBUG)
    client = make_client(max_retries=2, timeout=(2.0, 0.1))
    assert KEY not in repr(client)
    assert KEY not in str(vars(client))
    with pytest.raises(BrazeError) as info:
        client.data_series("c", length=7)
    err = info.value
    assert not _leaks(err)
    assert KEY not in "".join(traceback.format_exception(err))
    # What an error tracker (Sentry) would capture: the library frames' locals, reprs.
    tb_with_locals = traceback.TracebackException.from_exception(err, capture_locals=True)
    library_frames = [f for f in tb_with_locals.stack if f.filename.startswith(PACKAGE_DIR)]
    assert library_frames
    for frame in library_frames:
        assert KEY not in str(frame.locals)
    blob = pickle.dumps(err)
    assert KEY.encode() not in blob
    again = pickle.loads(blob)
    assert type(again) is type(err)
    assert str(again) == str(err)
    assert vars(again) == vars(err)
    assert caplog.records, "expected DEBUG/INFO records"
    for record in caplog.records:
        assert KEY not in record.getMessage()
    assert KEY not in caplog.text
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


def test_client_and_its_auth_refuse_pickling(make_client: Callable[..., BrazeClient]) -> None:
    client = make_client()
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(client)
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(client._auth)


def test_retries_are_logged_with_attempt_numbers(
    server: ScriptedServer,
    make_client: Callable[..., BrazeClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.enqueue(Reply.reset(), Reply.json({"m": 1}, 503), Reply.json(SUCCESS))
    caplog.set_level(logging.INFO, logger="braze_frames")
    make_client().get("/campaigns/data_series", {"campaign_id": "c"})
    lines = [r.getMessage() for r in caplog.records if r.name == "braze_frames"]
    assert len(lines) == 2
    assert "retry 1 of 3" in lines[0]
    assert "ConnectionError" in lines[0]
    assert "retry 2 of 3" in lines[1]
    assert "HTTP 503" in lines[1]
    assert all("/campaigns/data_series" in line for line in lines)


# -- threads -------------------------------------------------------------------------------


def test_one_client_shared_by_eight_threads() -> None:
    lock = threading.Lock()
    active = peak = served = failed = 0

    def handler(req: RecordedRequest) -> Reply:
        nonlocal active, peak, served, failed
        with lock:
            served += 1
            active += 1
            peak = max(peak, active)
            fail = served % 10 == 0
            if fail:
                failed += 1
        time.sleep(0.002)
        with lock:
            active -= 1
        if fail:
            return Reply.json({"message": "try again"}, 503)
        return Reply.json({"message": "success", "echo": req.query["campaign_id"]},
                          headers={"X-RateLimit-Remaining": "49000",
                                   "X-RateLimit-Reset": str(int(time.time()) + 60)})

    results: dict[str, Any] = {}
    errors: list[BaseException] = []
    with ScriptedServer(handler=handler) as srv, BrazeClient(
        KEY, srv.url, max_concurrency=4, sleep=lambda s: None
    ) as client:

        def work(worker: int) -> None:
            try:
                for i in range(25):
                    cid = f"w{worker}-{i}"
                    results[cid] = client.data_series(cid, length=1)["echo"]
            except BaseException as exc:  # reported below, in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = client.stats.as_dict()
        received = len(srv.requests)
    assert errors == []
    assert len(results) == 200
    assert all(cid == echo for cid, echo in results.items())
    assert peak <= 4
    assert stats["requests"] == received == served
    assert stats["retries"] == failed
    assert stats["errors"] == 0
