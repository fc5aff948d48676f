"""The retry policy, as pure functions.

The shape follows stripe-python's ``_should_retry`` and ``_sleep_time_seconds``. Nothing
here sleeps, reads a clock or draws a random number: the client passes ``now`` and ``rand``
in, so the policy is tested exhaustively and instantly.

* :func:`should_retry` says whether a failed attempt is worth another try.
* :func:`server_wait` reads how long the server asked us to wait (``X-RateLimit-Retry-After``,
  ``Retry-After`` as seconds or an HTTP date, ``X-RateLimit-Reset`` as UTC epoch seconds).
  Header names are matched case-insensitively (HTTP/2 sends them lowercase); a missing, empty
  or garbled value is ignored.
* :func:`retry_delay` honours that wait, else backs off exponentially with equal jitter,
  capped.

Deciding what to do with a wait longer than the client's ``max_wait`` (give up with
``RateLimitError``) is the client's job: the policy only measures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Final

__all__ = [
    "DEFAULT_BASE",
    "DEFAULT_CAP",
    "REFUSED_RETRIES",
    "REFUSED_WAIT_CAP",
    "backoff",
    "get_header",
    "parse_number",
    "retry_delay",
    "retryable_status",
    "server_wait",
    "should_retry",
]

#: First backoff step, in seconds.
DEFAULT_BASE: Final = 0.5
#: Longest backoff step, in seconds (the server's own wait may be longer).
DEFAULT_CAP: Final = 30.0
#: Retries after a refused connection. A refusal means nothing listens at that address (a
#: wrong endpoint, a server down): unlike a timeout or a reset, waiting rarely cures it, so
#: it gets one more short try (a server restarting) instead of the whole budget.
REFUSED_RETRIES: Final = 1
#: Longest wait before retrying a refused connection, in seconds.
REFUSED_WAIT_CAP: Final = 0.5

# 501 Not Implemented and 505 HTTP Version Not Supported never get better by retrying.
_PERMANENT_5XX: Final = frozenset({501, 505})
# Beyond this exponent the step is long past any cap; avoids float overflow.
_MAX_EXPONENT: Final = 64


def get_header(headers: Mapping[str, str], name: str) -> str | None:
    """Return a header's value, matching its name case-insensitively; ``None`` if absent or empty.

    Works on a plain ``dict`` too, whose keys may be in any case.

    Examples:
        >>> get_header({"x-ratelimit-reset": " 17 "}, "X-RateLimit-Reset")
        '17'
        >>> get_header({"Retry-After": ""}, "retry-after") is None
        True
    """
    value = headers.get(name)
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == wanted), None)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def parse_number(value: str | None) -> float | None:
    """Parse a header value as a finite number; ``None`` for absent or garbled values.

    Examples:
        >>> parse_number("2.5"), parse_number("soon"), parse_number("nan"), parse_number(None)
        (2.5, None, None, None)
    """
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _retry_after_seconds(value: str | None, now: float) -> float | None:
    """``Retry-After`` is either delta seconds or an HTTP date (RFC 9110, section 10.2.3)."""
    seconds = parse_number(value)
    if seconds is not None or value is None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # an HTTP date is GMT even when it does not say so
        return None
    return when.timestamp() - now


def retryable_status(status: int | None) -> bool:
    """Tell whether a failure of this kind can succeed on another try.

    ``None`` stands for no usable response: a connection error, a timeout, a body cut off
    mid-way, or a 200 whose body was not JSON. 408, 429 and 5xx (except 501 and 505) are
    transient; every other status is the caller's to fix.

    Examples:
        >>> [retryable_status(s) for s in (None, 200, 400, 429, 500, 501, 503)]
        [True, False, False, True, True, False, True]
    """
    if status is None:
        return True
    if status in (408, 429):
        return True
    return 500 <= status <= 599 and status not in _PERMANENT_5XX


def should_retry(
    status: int | None, headers: Mapping[str, str], attempt: int, max_retries: int
) -> bool:
    """Decide whether to try a failed request again.

    Args:
        status: The HTTP status, or ``None`` when there was no usable response.
        headers: The response headers (empty when there was no response). Kept in the
            signature so a server hint can veto a retry; Braze sends none today.
        attempt: How many retries were already made for this request (0 after the first try).
        max_retries: The client's retry budget.

    Returns:
        ``True`` when the failure is transient and the budget is not spent.

    Examples:
        >>> should_retry(503, {}, attempt=0, max_retries=2)
        True
        >>> should_retry(503, {}, attempt=2, max_retries=2)
        False
        >>> should_retry(401, {}, attempt=0, max_retries=2)
        False
    """
    del headers  # no veto header exists on Braze's side
    return attempt < max_retries and retryable_status(status)


def server_wait(status: int | None, headers: Mapping[str, str], *, now: float) -> float | None:
    """Seconds the server asked us to wait, or ``None`` when it did not say (usably).

    ``X-RateLimit-Retry-After`` and ``Retry-After`` are honoured on any status (a 503 may send
    one). ``X-RateLimit-Reset`` (UTC epoch seconds) is honoured on a 429, or when
    ``X-RateLimit-Remaining`` is 0: on other responses it only says when the window turns over.
    A value in the past (clock skew, a stale header) or garbled is ignored.

    Args:
        status: The HTTP status, or ``None``.
        headers: The response headers.
        now: The current time, UTC epoch seconds.

    Examples:
        >>> server_wait(429, {"x-ratelimit-reset": "1000"}, now=990.0)
        10.0
        >>> server_wait(429, {"Retry-After": "3", "X-RateLimit-Reset": "1000"}, now=990.0)
        3.0
        >>> server_wait(500, {"X-RateLimit-Reset": "1000"}, now=990.0) is None
        True
    """
    for name in ("X-RateLimit-Retry-After", "Retry-After"):
        wait = _retry_after_seconds(get_header(headers, name), now)
        if wait is not None and wait > 0:
            return wait
    exhausted = parse_number(get_header(headers, "X-RateLimit-Remaining")) == 0
    if status == 429 or exhausted:
        reset = parse_number(get_header(headers, "X-RateLimit-Reset"))
        if reset is not None and reset - now > 0:
            return reset - now
    return None


def backoff(
    attempt: int, *, rand: float, base: float = DEFAULT_BASE, cap: float = DEFAULT_CAP
) -> float:
    """Exponential backoff with equal jitter.

    The step is ``min(cap, base * 2**attempt)``; its first half is always waited and its
    second half is scaled by ``rand``.

    Equal jitter (rather than full jitter) keeps a floor under each wait, so a struggling
    server always gets some rest, while still spreading threads apart.

    Args:
        attempt: Retries already made (0 for the first retry).
        rand: A number in [0, 1).
        base: The first step, in seconds.
        cap: The longest step, in seconds.

    Returns:
        A delay in ``[0, cap]``.

    Examples:
        >>> backoff(0, rand=0.0), backoff(3, rand=0.5), backoff(50, rand=0.999, cap=30.0) <= 30.0
        (0.25, 3.0, True)
    """
    step = min(cap, base * 2.0 ** min(max(attempt, 0), _MAX_EXPONENT))
    step = max(step, 0.0)
    return step / 2 + min(max(rand, 0.0), 1.0) * step / 2


def retry_delay(
    attempt: int,
    headers: Mapping[str, str],
    *,
    rand: float,
    now: float,
    status: int | None = None,
    base: float = DEFAULT_BASE,
    cap: float = DEFAULT_CAP,
) -> float:
    """How long to wait before the next try.

    The server's wait (:func:`server_wait`) is honoured as given, plus ``rand * base`` so that
    threads released by the same reset do not all fire in the same instant; it may exceed
    ``cap`` (the client compares it with its ``max_wait``). Without a usable server wait,
    :func:`backoff` applies.

    Args:
        attempt: Retries already made (0 for the first retry).
        headers: The failed response's headers (empty when there was no response).
        rand: A number in [0, 1).
        now: The current time, UTC epoch seconds.
        status: The failed response's status, or ``None`` when there was none;
            ``X-RateLimit-Reset`` counts only for a 429 (see :func:`server_wait`).
        base: The first backoff step, in seconds.
        cap: The longest backoff step, in seconds.

    Returns:
        Seconds to wait, never negative.

    Examples:
        >>> retry_delay(0, {"X-RateLimit-Reset": "1010"}, rand=0.0, now=1000.0, status=429)
        10.0
        >>> retry_delay(2, {}, rand=1.0, now=1000.0, status=503)
        2.0
    """
    wait = server_wait(status, headers, now=now)
    if wait is not None:
        return wait + min(max(rand, 0.0), 1.0) * base
    return backoff(attempt, rand=rand, base=base, cap=cap)
