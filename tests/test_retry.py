"""The retry policy: pure functions, no clock, no sleep."""

from __future__ import annotations

import datetime as dt
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from braze_frames.http.retry import (
    DEFAULT_BASE,
    DEFAULT_CAP,
    backoff,
    get_header,
    parse_number,
    retry_delay,
    retryable_status,
    server_wait,
    should_retry,
)

NOW = 1_750_000_000.0


def test_header_lookup_is_case_insensitive_on_plain_dicts() -> None:
    headers = {"x-ratelimit-reset": "12", "Retry-After": " 3 ", "X-Empty": "  "}
    assert get_header(headers, "X-RateLimit-Reset") == "12"
    assert get_header(headers, "RETRY-AFTER") == "3"
    assert get_header(headers, "x-empty") is None
    assert get_header(headers, "missing") is None
    assert get_header({}, "Retry-After") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", 3.0), (" 2.5 ", 2.5), ("-1", -1.0), ("", None), ("soon", None), ("nan", None),
     ("inf", None), ("-inf", None), ("1e999", None), (None, None), ("0x10", None)],
)
def test_parse_number(value: str | None, expected: float | None) -> None:
    assert parse_number(value) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [(None, True), (200, False), (301, False), (400, False), (401, False), (403, False),
     (404, False), (408, True), (429, True), (500, True), (501, False), (502, True),
     (503, True), (504, True), (505, False), (599, True)],
)
def test_retryable_status(status: int | None, expected: bool) -> None:
    assert retryable_status(status) is expected


def test_should_retry_respects_the_budget() -> None:
    assert should_retry(None, {}, 0, 3)
    assert should_retry(429, {}, 2, 3)
    assert not should_retry(429, {}, 3, 3)
    assert not should_retry(503, {}, 0, 0)
    assert not should_retry(400, {}, 0, 3)


# -- the server's wait ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-RateLimit-Reset": str(int(NOW) + 10)}, 10.0),
        ({"x-ratelimit-reset": str(int(NOW) + 10)}, 10.0),
        ({"X-RATELIMIT-RESET": f"{NOW + 2.5}"}, 2.5),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "7"}, 7.0),
        ({"X-RateLimit-Retry-After": "4"}, 4.0),
        ({"x-ratelimit-retry-after": "4", "Retry-After": "9"}, 4.0),
        ({"Retry-After": "3", "X-RateLimit-Reset": str(int(NOW) + 30)}, 3.0),
        ({"Retry-After": "", "X-RateLimit-Reset": str(int(NOW) + 30)}, 30.0),
        ({"Retry-After": "soon", "X-RateLimit-Reset": str(int(NOW) + 30)}, 30.0),
        ({"Retry-After": "0", "X-RateLimit-Reset": str(int(NOW) + 30)}, 30.0),
        ({}, None),
        ({"X-RateLimit-Reset": ""}, None),
        ({"X-RateLimit-Reset": "garbage"}, None),
        ({"X-RateLimit-Reset": str(int(NOW) - 5)}, None),  # in the past: clock skew
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "nan"}, None),
        ({"X-RateLimit-Remaining": "0"}, None),
    ],
)
def test_server_wait_on_429(headers: dict[str, str], expected: float | None) -> None:
    assert server_wait(429, headers, now=NOW) == expected


def test_retry_after_as_http_date() -> None:
    when = dt.datetime.fromtimestamp(NOW + 20, tz=dt.timezone.utc)
    headers = {"Retry-After": format_datetime(when, usegmt=True)}
    assert server_wait(429, headers, now=NOW) == pytest.approx(20.0)
    assert server_wait(429, {"Retry-After": "Wed, 99 Foo 2024 00:00:00 GMT"}, now=NOW) is None
    assert server_wait(429, {"Retry-After": "Wed, 21 Oct 2015 07:28:00"}, now=NOW) is None


def test_reset_counts_only_for_429_or_an_exhausted_budget() -> None:
    reset = {"X-RateLimit-Reset": str(int(NOW) + 40)}
    assert server_wait(500, reset, now=NOW) is None
    assert server_wait(None, reset, now=NOW) is None
    assert server_wait(500, {**reset, "x-ratelimit-remaining": "0"}, now=NOW) == 40.0
    assert server_wait(503, {"Retry-After": "5"}, now=NOW) == 5.0


# -- delays --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "rand", "expected"),
    [(0, 0.0, 0.25), (0, 1.0, 0.5), (1, 0.5, 0.75), (2, 0.0, 1.0), (5, 0.0, 8.0),
     (6, 0.0, 15.0), (6, 1.0, 30.0), (7, 0.0, 15.0), (1000, 0.5, 22.5), (-3, 0.0, 0.25)],
)
def test_backoff_doubles_then_caps(attempt: int, rand: float, expected: float) -> None:
    assert backoff(attempt, rand=rand) == pytest.approx(expected)


def test_retry_delay_honours_the_server_with_a_little_jitter() -> None:
    headers = {"x-ratelimit-reset": str(int(NOW) + 10)}
    assert retry_delay(0, headers, rand=0.0, now=NOW, status=429) == 10.0
    assert retry_delay(0, headers, rand=0.5, now=NOW, status=429) == 10.25
    # The server's wait may exceed the backoff cap: the client compares it with max_wait.
    far = {"Retry-After": "3600"}
    assert retry_delay(0, far, rand=0.0, now=NOW, status=429) == 3600.0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Retry-After": ""}, {"Retry-After": "garbage"}, {"X-RateLimit-Reset": "garbage"},
     {"X-RateLimit-Reset": "1"}],
)
def test_retry_delay_falls_back_to_backoff(headers: dict[str, str]) -> None:
    assert retry_delay(3, headers, rand=0.5, now=NOW, status=429) == backoff(3, rand=0.5)


def test_retry_delay_ignores_reset_for_server_errors() -> None:
    headers = {"X-RateLimit-Reset": str(int(NOW) + 50)}
    assert retry_delay(0, headers, rand=0.0, now=NOW, status=503) == backoff(0, rand=0.0)


@given(
    attempt=st.integers(min_value=0, max_value=10_000),
    rand=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    base=st.floats(min_value=0.001, max_value=10.0),
    cap=st.floats(min_value=0.0, max_value=300.0),
)
def test_backoff_is_within_zero_and_cap(attempt: int, rand: float, base: float, cap: float) -> None:
    delay = retry_delay(attempt, {}, rand=rand, now=NOW, status=503, base=base, cap=cap)
    assert 0.0 <= delay <= cap


@given(
    attempt=st.integers(min_value=0, max_value=60),
    rand=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_backoff_never_shrinks_and_keeps_a_floor(attempt: int, rand: float) -> None:
    now, later = backoff(attempt, rand=rand), backoff(attempt + 1, rand=rand)
    assert later >= now
    step = min(DEFAULT_CAP, DEFAULT_BASE * 2**attempt)
    assert step / 2 <= now <= step


@given(
    headers=st.dictionaries(
        st.sampled_from(["Retry-After", "retry-after", "X-RateLimit-Reset", "x-ratelimit-reset",
                         "X-RateLimit-Retry-After", "X-RateLimit-Remaining", "Other"]),
        st.one_of(st.text(max_size=12), st.integers().map(str),
                  st.floats(allow_nan=True).map(str)),
    ),
    status=st.sampled_from([None, 429, 500, 503]),
    rand=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
)
def test_any_headers_give_a_finite_non_negative_delay(
    headers: dict[str, str], status: int | None, rand: float
) -> None:
    delay = retry_delay(2, headers, rand=rand, now=NOW, status=status)
    assert 0.0 <= delay < float("inf")
