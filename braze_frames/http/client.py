"""``BrazeClient``: one HTTP session, timeouts, retries, pacing, status -> error mapping.

Data flows one way through :meth:`BrazeClient.get`: the limiter grants a slot, one HTTP
attempt runs (``_send``), its outcome is interpreted into a decoded body or a failure
(``_interpret``), and the pure retry policy (``_retry``) decides what happens to a
failure. Everything the client raises is a ``BrazeError`` built from plain values.

The API key is guarded on every path out:

* it lives only inside a private auth object whose ``repr`` is redacted and which refuses to
  be pickled; the ``Authorization`` header is added per request, never stored on the session;
* redirects are not followed, so the header never reaches another host;
* errors hold no request or response object, and transport errors are replaced by a plain
  ``ConnectionError``/``TimeoutError`` copy of their (redacted) message before being chained,
  because ``requests``' exceptions carry the prepared request and its headers;
* bodies quoted in errors, and every log line, pass through the same redaction.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import orjson
import requests
import requests.adapters
import requests.auth
import requests.structures
import urllib3.exceptions

from .._errors import (
    REDACTED,
    AuthenticationError,
    BrazeAPIError,
    BrazeConnectionError,
    BrazeError,
    ConfigError,
    PermissionDeniedError,
    RateLimitError,
    UnexpectedResponseError,
    redact,
)
from .._validate import check_bool, check_choice, check_int, check_seconds, check_text
from ..endpoints.catalog import (
    CAMPAIGN_DETAILS,
    CAMPAIGN_LIST,
    CAMPAIGN_SERIES,
    Endpoint,
    budget_of,
    permission_of,
)
from ..endpoints.windows import MAX_LENGTH, Reading
from .config import is_loopback_host, resolve_api_key, resolve_endpoint
from .limiter import RateLimiter
from .retry import REFUSED_RETRIES, REFUSED_WAIT_CAP, retry_delay, server_wait, should_retry
from .stats import ClientStats

__all__ = ["UNEXPECTED_BODY_RETRIES", "BrazeClient"]

logger = logging.getLogger("braze_frames")

#: How many times a body that is not Braze's JSON (HTML, truncated, not an object) is retried:
#: usually a proxy or load balancer hiccup, but a misconfigured endpoint would repeat forever.
UNEXPECTED_BODY_RETRIES: Final = 2

DATA_SERIES_PATH: Final = CAMPAIGN_SERIES.path
CAMPAIGNS_LIST_PATH: Final = CAMPAIGN_LIST.path
CAMPAIGN_DETAILS_PATH: Final = CAMPAIGN_DETAILS.path

_CAMPAIGN_ID: Final = "the campaign's API identifier"

_EXCERPT_CHARS: Final = 200

# Braze's messages are one sentence; a longer one is cut (a hostile server may send megabytes).
_QUOTE_CHARS: Final = 500

# Failures of the transport that a new attempt can cure. requests wraps most urllib3 errors,
# but a body cut mid-way can surface as urllib3's ProtocolError or http.client's IncompleteRead.
_TRANSIENT_TRANSPORT: Final = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.TimeoutError,
    http.client.HTTPException,
)

# Everything the transport may raise; the rest (SSL failures, invalid URLs) is permanent.
_TRANSPORT: Final = (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException)


class _BearerAuth(requests.auth.AuthBase):
    """Adds ``Authorization: Bearer <key>`` to one request; never shows or pickles the key."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._key}"
        return request

    def __repr__(self) -> str:
        return f"_BearerAuth({REDACTED})"

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("the Braze API key cannot be pickled")

    def redact(self, text: str) -> str:
        """Replace every occurrence of the key in ``text``."""
        return redact(text, self._key)


@dataclass(frozen=True)
class _Outcome:
    """One HTTP attempt, as plain values (no request/response object survives it)."""

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = field(default=b"", repr=False)  # may quote anything, even a secret
    cause: OSError | None = None  # the sanitized transport error, when there was no response
    error_kind: str = ""  # the transport error's class name
    transient: bool = True
    refused: bool = False  # the connection was refused: nothing listens there


@dataclass(frozen=True)
class _Failure:
    """A failed attempt: the error to raise if no retry follows, and how the policy sees it."""

    error: BrazeError
    policy_status: int | None  # what should_retry is asked about (None: no usable response)
    reason: str  # short, for the retry log line
    cause: OSError | None = None
    permanent: bool = False  # a transport failure no retry can cure (TLS, invalid URL)
    unexpected_body: bool = False
    refused: bool = False


class BrazeClient:
    """A client for Braze's campaign analytics endpoints, safe to share between threads.

    Settings are read when the client is built: ``api_key`` or ``BRAZE_API_KEY``,
    ``rest_endpoint`` (a URL or an instance name such as ``"US-03"``) or
    ``BRAZE_REST_ENDPOINT``. Each call is one logical request: transient failures (connection
    errors, cut bodies, 429, 5xx, a garbled body) are retried with backoff, honouring Braze's
    rate-limit headers, and requests are paced to stay within the rate limit.

    Args:
        api_key: The REST API key (needs ``campaigns.data_series``; ``campaigns.list`` and
            ``campaigns.details`` for those endpoints). Default: ``BRAZE_API_KEY``.
        rest_endpoint: REST endpoint URL or instance name. Default: ``BRAZE_REST_ENDPOINT``.
        timeout: Seconds, or ``(connect, read)`` seconds, for each attempt.
        max_retries: Retries per call after the first attempt.
        max_wait: The longest the client waits for a rate-limit reset; a 429 that asks for
            longer raises ``RateLimitError`` at once (its ``retry_after`` says how long).
        max_concurrency: Most requests in flight at once across all threads.
        session: A ``requests.Session`` to use (proxies, CA bundle, adapters are yours; it is
            not closed by :meth:`close`). Its TLS verification must stay on.
        sleep: How to wait (tests pass a recorder).
        rand: A source of numbers in [0, 1) for jitter.
        clock: Wall-clock UTC epoch seconds (compared with ``X-RateLimit-Reset``).
        user_agent: The ``User-Agent`` header; default ``braze-frames/<version> ...``.

    Raises:
        ConfigError: A missing or invalid key or endpoint, an invalid option, or a session
            with ``verify=False``.

    Examples:
        >>> client = BrazeClient(api_key="my-key", rest_endpoint="EU-01")
        >>> client
        BrazeClient(rest_endpoint='https://rest.fra-01.braze.eu')
        >>> client.close()
    """

    def __init__(
        self,
        api_key: str | None = None,
        rest_endpoint: str | None = None,
        *,
        timeout: float | tuple[float, float] = (10.0, 120.0),
        max_retries: int = 6,
        max_wait: float = 60.0,
        max_concurrency: int = 8,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
        user_agent: str | None = None,
    ) -> None:
        self._endpoint = resolve_endpoint(rest_endpoint)
        self._auth = _BearerAuth(resolve_api_key(api_key))
        self._timeout = _check_timeout(timeout)
        self.max_retries = check_int("max_retries", max_retries, minimum=0, error=ConfigError)
        self.max_concurrency = check_int("max_concurrency", max_concurrency, minimum=1, error=ConfigError)
        self.max_wait = check_seconds("max_wait", max_wait, error=ConfigError)
        self._sleep = sleep
        self._rand = rand
        self._clock = clock
        self._stats = ClientStats()
        self._limiter = RateLimiter(
            self.max_concurrency, max_wait=self.max_wait, clock=clock, sleep=self._wait
        )
        if session is None:
            self._session = requests.Session()
            self._owns_session = True
            # Threads share one pool; below max_concurrency urllib3 would drop connections.
            adapter = requests.adapters.HTTPAdapter(
                pool_maxsize=max(10, self.max_concurrency), max_retries=0
            )
            self._session.mount("https://", adapter)
            self._session.mount("http://", adapter)
            if is_loopback_host(urlsplit(self._endpoint).hostname or ""):
                # The sandbox and test servers are on this machine: an HTTP_PROXY from the
                # environment (common behind corporate proxies) must not take them away.
                self._session.trust_env = False
        else:
            if session.verify is False:
                raise ConfigError(
                    "The session has TLS verification turned off (verify=False).",
                    hint="braze_frames never sends the API key without TLS verification; to "
                    "trust a private CA set session.verify to its bundle path.",
                )
            self._session = session
            self._owns_session = False
        self._headers = {
            "User-Agent": user_agent or _default_user_agent(),
            "Accept": "application/json",
        }
        self._closed = False
        # Details bodies (/campaigns/details, /canvas/details) by (path, id), for the
        # client's life (see details); one lock per key makes concurrent askers share one
        # request.
        self._details: dict[tuple[str, str], dict[str, Any]] = {}
        self._details_locks: dict[tuple[str, str], threading.Lock] = {}
        self._details_lock = threading.Lock()
        #: How this server reads ``ending_at`` (inclusive or exclusive), per endpoint path,
        #: once a response has shown it: the fetch functions remember it here to plan exact
        #: windows later (endpoints may differ, so each is learned on its own).
        self.window_readings: dict[str, Reading] = {}

    @property
    def window_reading(self) -> Reading | None:
        """How ``/campaigns/data_series`` reads ``ending_at``, once known (see ``window_readings``)."""
        return self.window_readings.get(DATA_SERIES_PATH)

    @window_reading.setter
    def window_reading(self, value: Reading | None) -> None:
        if value is None:
            self.window_readings.pop(DATA_SERIES_PATH, None)
        else:
            self.window_readings[DATA_SERIES_PATH] = value

    @property
    def rest_endpoint(self) -> str:
        """The base URL requests go to."""
        return self._endpoint

    @property
    def stats(self) -> ClientStats:
        """Live, thread-safe counters (``stats.as_dict()`` for a snapshot)."""
        return self._stats

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rest_endpoint={self._endpoint!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("BrazeClient cannot be pickled (it holds the API key and a session)")

    def close(self) -> None:
        """Release the connections (an injected session is left to its owner)."""
        self._closed = True
        if self._owns_session:
            self._session.close()

    def __enter__(self) -> BrazeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- endpoints -------------------------------------------------------------------------

    def data_series(
        self, campaign_id: str, *, length: int, ending_at: str | None = None
    ) -> dict[str, Any]:
        """``GET /campaigns/data_series``: one campaign's daily analytics.

        Args:
            campaign_id: The campaign's API identifier.
            length: Days before ``ending_at``, 1 to 100.
            ending_at: ISO-8601 date or datetime; omitted means now (Braze's default).

        Returns:
            The decoded body, ``{"message": "success", "data": [...]}``.

        Raises:
            ValueError: ``campaign_id`` empty or ``length`` outside 1..100.
            TypeError: An argument of the wrong type.
            BrazeError: As :meth:`get`.
        """
        params: dict[str, str | int | bool] = {
            "campaign_id": check_text("campaign_id", campaign_id, what=_CAMPAIGN_ID),
            "length": check_int("length", length, minimum=1, maximum=MAX_LENGTH, unit="days"),
        }
        if ending_at is not None:
            if not isinstance(ending_at, str) or not ending_at.strip():
                raise TypeError("ending_at must be an ISO-8601 string such as '2024-07-31'")
            params["ending_at"] = ending_at.strip()
        return self.get(DATA_SERIES_PATH, params)

    def campaigns_list_page(
        self,
        page: int = 0,
        *,
        include_archived: bool = False,
        sort_direction: str = "desc",
        last_edit_gt: str | None = None,
    ) -> dict[str, Any]:
        """``GET /campaigns/list``: one page (up to 100) of campaigns.

        There is no end marker: a page shorter than 100 is the last one.

        Args:
            page: Page number, from 0.
            include_archived: Include archived campaigns.
            sort_direction: ``"desc"`` (newest first) or ``"asc"``.
            last_edit_gt: Only campaigns edited after this ISO-8601 time
                (sent as ``last_edit.time[gt]``).

        Returns:
            The decoded body, ``{"message": "success", "campaigns": [...]}``.
        """
        page = check_int("page", page, minimum=0, error=ConfigError)
        check_bool("include_archived", include_archived)
        check_choice("sort_direction", sort_direction, ("asc", "desc"))
        params: dict[str, str | int | bool] = {
            "page": page,
            "include_archived": include_archived,
            "sort_direction": sort_direction,
        }
        if last_edit_gt is not None:
            if not isinstance(last_edit_gt, str) or not last_edit_gt.strip():
                raise TypeError("last_edit_gt must be an ISO-8601 string")
            params["last_edit.time[gt]"] = last_edit_gt.strip()
        return self.get(CAMPAIGNS_LIST_PATH, params)

    def campaign_details(self, campaign_id: str, *, refresh: bool = False) -> dict[str, Any]:
        """``GET /campaigns/details``: name, channels, variations, conversion behaviours.

        The body is cached on the client for its life: names and conversion windows are
        read by every fetch, and the details' budget (250,000 requests an hour) is shared
        with other endpoints. Threads asking for one campaign at once share one request;
        failures are not cached. Each call returns its own copy.

        Args:
            campaign_id: The campaign's API identifier.
            refresh: Ask Braze again even when cached (a campaign renamed since).

        Returns:
            The decoded body (``name``, ``messages`` keyed by variation id, ...).
        """
        campaign_id = check_text("campaign_id", campaign_id, what=_CAMPAIGN_ID)
        return self.details(CAMPAIGN_DETAILS, campaign_id, refresh=refresh)

    def details(self, endpoint: Endpoint, object_id: str, *, refresh: bool = False) -> dict[str, Any]:
        """A details endpoint's body for one object, cached for the client's life.

        What :meth:`campaign_details` does for campaigns, for any endpoint that describes
        one object by id (``/canvas/details`` too): threads asking for one object at once
        share one request; failures are not cached; each call returns its own copy.

        Args:
            endpoint: The endpoint (its ``path`` and ``id_param``).
            object_id: The object's API identifier.
            refresh: Ask Braze again even when cached.

        Returns:
            The decoded body.
        """
        if endpoint.id_param is None:
            msg = f"{endpoint.path} takes no id; it has no details to cache"
            raise ValueError(msg)
        object_id = check_text(endpoint.id_param, object_id, what="the object's API identifier")
        check_bool("refresh", refresh)
        key = (endpoint.path, object_id)
        with self._details_lock:
            cached = None if refresh else self._details.get(key)
            one = self._details_locks.setdefault(key, threading.Lock())
        if cached is None:
            with one:
                with self._details_lock:
                    cached = None if refresh else self._details.get(key)
                if cached is None:
                    cached = self.get(endpoint.path, {endpoint.id_param: object_id})
                    with self._details_lock:
                        self._details[key] = cached
        return _copy_json(cached)

    def cached_details(self) -> dict[str, dict[str, Any]]:
        """The ``/campaigns/details`` bodies this client holds, by campaign id (copies)."""
        with self._details_lock:
            return {oid: _copy_json(body) for (path, oid), body in self._details.items()
                    if path == CAMPAIGN_DETAILS_PATH}

    # -- the request loop ------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, str | int | bool] | None = None) -> dict[str, Any]:
        """One logical ``GET``, retried as needed; the decoded JSON object on success.

        Args:
            path: The API path, such as ``"/campaigns/data_series"``.
            params: Query parameters; booleans are sent as ``true``/``false``.

        Returns:
            The decoded body, a JSON object whose ``message`` is ``"success"``.

        Raises:
            AuthenticationError: 401.
            PermissionDeniedError: 403.
            RateLimitError: 429 after every retry, or a reset further away than ``max_wait``.
            BrazeAPIError: Any other error status (after retries for 5xx), a redirect, or a
                200 whose ``message`` is not ``"success"``.
            UnexpectedResponseError: A body that is not Braze's JSON, after a few retries.
            BrazeConnectionError: Connection failures, timeouts or cut bodies after every retry.
        """
        if self._closed:
            raise RuntimeError("This BrazeClient is closed; create a new one.")
        path = _check_path(path)
        query = _encode_params(params)
        url = self._endpoint + path
        shown_url = f"{url}?{urlencode(query)}" if query else url
        attempt = 0
        odd_bodies = 0
        refusals = 0
        while True:
            outcome = self._send(url, path, query)
            result = self._interpret(outcome, path, shown_url)
            if not isinstance(result, _Failure):
                return result
            if outcome.status == 429:
                self._stats.add("rate_limited")
            retry = not result.permanent and should_retry(
                result.policy_status, outcome.headers, attempt, self.max_retries
            )
            if result.unexpected_body:
                odd_bodies += 1
                retry = retry and odd_bodies <= UNEXPECTED_BODY_RETRIES
            if result.refused:
                refusals += 1
                retry = retry and refusals <= REFUSED_RETRIES
            error = result.error
            if retry:
                now = self._clock()
                asked = server_wait(outcome.status, outcome.headers, now=now)
                if asked is None or asked <= self.max_wait:
                    # Our own backoff never exceeds max_wait either.
                    delay = min(
                        retry_delay(attempt, outcome.headers, rand=self._rand(), now=now,
                                    status=outcome.status),
                        self.max_wait,
                        REFUSED_WAIT_CAP if result.refused else self.max_wait,
                    )
                    self._stats.add("retries")
                    logger.info(
                        "GET %s: %s; retry %d of %d in %.2f s",
                        path, result.reason, attempt + 1, self.max_retries, delay,
                    )
                    if outcome.status == 429:
                        # The budget is shared: every thread waits for this reset.
                        self._limiter.block(budget_of(path), until=now + delay)
                    else:
                        self._wait(delay)
                    attempt += 1
                    continue
                if isinstance(error, RateLimitError):
                    error = self._too_long_error(error, asked)
            if attempt:
                _note_attempts(error, attempt + 1)
            self._stats.add("errors")
            # Raised outside any except block, from a sanitized copy: no requests object
            # (and so no Authorization header) is reachable from the traceback chain.
            raise error from result.cause

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self._stats.add("wait_seconds", seconds)
            self._sleep(seconds)

    def _send(self, url: str, path: str, query: Mapping[str, str]) -> _Outcome:
        """One HTTP attempt inside a limiter slot, reduced to plain values."""
        with self._limiter.slot(budget_of(path)):
            self._stats.add("requests")
            started = time.perf_counter()
            try:
                response = self._session.get(
                    url,
                    params=query,
                    headers=self._headers,
                    auth=self._auth,
                    timeout=self._timeout,
                    allow_redirects=False,
                )
                with response:
                    body = response.content
                    status = response.status_code
                    headers = requests.structures.CaseInsensitiveDict(response.headers)
            except _TRANSPORT as exc:
                elapsed = time.perf_counter() - started
                logger.debug("GET %s -> %s after %.3f s", path, type(exc).__name__, elapsed)
                return _Outcome(
                    status=None,
                    cause=self._sanitize(exc),
                    error_kind=type(exc).__name__,
                    transient=isinstance(exc, _TRANSIENT_TRANSPORT)
                    and not isinstance(exc, requests.exceptions.SSLError),
                    refused=_is_refused(exc),
                )
            elapsed = time.perf_counter() - started
            self._limiter.update(budget_of(path), headers)
        logger.debug(
            "GET %s -> %d in %.3f s (rate limit remaining: %s)",
            path, status, elapsed, headers.get("X-RateLimit-Remaining", "n/a"),
        )
        return _Outcome(status=status, headers=headers, body=body)

    def _sanitize(self, exc: BaseException) -> OSError:
        """A plain, picklable copy of a transport error, without the request it carried."""
        kind = TimeoutError if isinstance(exc, requests.Timeout) else ConnectionError
        name = f"{type(exc).__module__}.{type(exc).__qualname__}"
        return kind(self._auth.redact(f"{name}: {exc}"))

    def _interpret(self, outcome: _Outcome, path: str, url: str) -> dict[str, Any] | _Failure:
        """Turn one attempt into the decoded body or a failure (no I/O, no waiting)."""
        status = outcome.status
        if status is None:
            reason = str(outcome.cause) if outcome.cause else "no response"
            short = reason if len(reason) <= 300 else reason[:297] + "..."
            if outcome.error_kind == "SSLError":
                hint = ("TLS verification failed. If a proxy re-signs TLS traffic, point "
                        "REQUESTS_CA_BUNDLE (or session.verify) at its CA bundle.")
            elif outcome.refused:
                hint = (f"Nothing accepts connections at {self._endpoint}: check that it is "
                        "your Braze REST endpoint (or that the local server is running).")
            else:
                hint = (f"Check the network (proxy, VPN, firewall) and that {self._endpoint} is "
                        "your Braze REST endpoint. Raise the timeout for slow responses.")
            error = BrazeConnectionError(f"GET {path} failed: {short}", url=url, hint=hint)
            return _Failure(
                error, None, "connection refused" if outcome.refused else outcome.error_kind
                or "no response", cause=outcome.cause, permanent=not outcome.transient,
                refused=outcome.refused,
            )
        if 200 <= status < 300:
            return self._interpret_success(outcome, path, url)
        return self._status_failure(outcome, path, url)

    def _interpret_success(
        self, outcome: _Outcome, path: str, url: str
    ) -> dict[str, Any] | _Failure:
        status = outcome.status
        assert status is not None
        try:
            decoded = _decode_json(outcome.body)
        except ValueError:
            what = _describe_body(outcome.body)
            excerpt = self._excerpt(outcome.body)
            error = UnexpectedResponseError(
                f"GET {path} returned HTTP {status} with {what}, not Braze's JSON.",
                url=url,
                status=status,
                body_excerpt=excerpt,
                hint=f"Check that {self._endpoint} is your Braze REST endpoint; a proxy, captive "
                "portal or the dashboard may be answering.",
            )
            return _Failure(error, None, f"HTTP {status} with {what}", unexpected_body=True)
        if not isinstance(decoded, dict):
            error = UnexpectedResponseError(
                f"GET {path} returned a JSON {type(decoded).__name__}, not an object.",
                url=url,
                status=status,
                body_excerpt=self._excerpt(outcome.body),
            )
            return _Failure(error, None, f"HTTP {status} with non-object JSON", unexpected_body=True)
        message = decoded.get("message")
        if message == "success":
            return decoded
        if message is None:
            no_message = UnexpectedResponseError(
                f"GET {path} returned a JSON object without Braze's 'message' field.",
                url=url,
                status=status,
                body_excerpt=self._excerpt(outcome.body),
            )
            return _Failure(no_message, status, f"HTTP {status} without message")
        braze_message = self._quote(message)
        not_success = BrazeAPIError(
            f"GET {path} returned HTTP {status} with message {braze_message!r} instead of "
            "'success'.",
            status=status,
            braze_message=braze_message,
            errors=self._redact_errors(decoded.get("errors")),
            url=url,
        )
        return _Failure(not_success, status, f"HTTP {status} with message {braze_message!r}")

    def _status_failure(self, outcome: _Outcome, path: str, url: str) -> _Failure:
        status = outcome.status
        assert status is not None
        braze_message, errors = self._error_body(outcome.body)
        detail = f": {braze_message}" if braze_message else ""
        message = f"GET {path} failed with HTTP {status}{detail}"
        if braze_message is None and outcome.body:
            message += f" (body: {self._excerpt(outcome.body)!r})"
        kwargs: dict[str, Any] = {
            "status": status, "braze_message": braze_message, "errors": errors, "url": url,
        }
        cls: type[BrazeAPIError] = BrazeAPIError
        hint: str | None = None
        if 300 <= status < 400:
            location = outcome.headers.get("Location", "")
            # The target is quoted, redacted: a hostile server may put the key in its path.
            target = self._quote(_strip_query(location)) if location else "another URL"
            hint = (
                f"The server redirected to {target}. Use your REST endpoint "
                "itself (such as https://rest.iad-03.braze.com); redirects are not followed, so "
                "the API key never reaches another host."
            )
        elif status == 400:
            shown = self._quote(errors) if errors else None
            hint = ("Braze rejected the request's parameters: "
                    + (f"its errors say {shown}." if shown else "its message says which."))
        elif status == 401:
            cls = AuthenticationError
            hint = (
                f"Check the API key: it must be a REST API key of a workspace on this instance "
                f"({self._endpoint}), and be given without quotes."
            )
        elif status == 403:
            cls = PermissionDeniedError
            permission = permission_of(path)
            needed = f"the permission {permission}" if permission else "the permission for " + path
            hint = f"The API key needs {needed} (Settings > APIs and Identifiers), or the plan lacks it."
        elif status == 404:
            hint = f"Check the REST endpoint ({self._endpoint}) and the path {path}."
        elif status == 429:
            cls = RateLimitError
            kwargs["retry_after"] = server_wait(429, outcome.headers, now=self._clock())
            hint = "Retry later, or send fewer requests at once."
        elif status >= 500:
            hint = "Braze had a server error; try again later."
        error = cls(message, hint=hint, **kwargs)
        return _Failure(error, status, f"HTTP {status}")

    def _too_long_error(self, error: RateLimitError, wait: float) -> RateLimitError:
        """The 429 whose reset is further away than ``max_wait``: raised without waiting."""
        return RateLimitError(
            f"{error.message}; Braze asks to wait {wait:.0f} s, longer than the "
            f"client's maximum wait ({self.max_wait:g} s)",
            status=error.status,
            braze_message=error.braze_message,
            errors=error.errors,
            url=error.url,
            retry_after=wait,
            hint="Retry later, or allow the client a longer maximum wait to wait it out.",
        )

    def _error_body(self, body: bytes) -> tuple[str | None, Any]:
        """Braze's ``message`` and ``errors`` from an error body, when it is Braze's JSON."""
        try:
            decoded = _decode_json(body)
        except ValueError:
            return None, None
        if not isinstance(decoded, dict):
            return None, None
        message = decoded.get("message")
        return (
            self._quote(message) if message is not None else None,
            self._redact_errors(decoded.get("errors")),
        )

    def _quote(self, value: object) -> str:
        """A server's text (a ``message``, a redirect target) as short, redacted text.

        Whatever a server sent there: a non-string is shown as JSON (never ``str()``, which
        recurses on nested input), and the key is replaced before the text is cut, so no
        part of it survives.
        """
        if isinstance(value, str):
            text = value
        else:
            try:
                text = orjson.dumps(value).decode()
            except orjson.JSONEncodeError:  # nested beyond orjson's limit, or a huge int
                text = f"<a JSON {type(value).__name__} too deep or too large to show>"
        text = self._auth.redact(text)
        return text if len(text) <= _QUOTE_CHARS else text[: _QUOTE_CHARS - 3] + "..."

    def _redact_errors(self, errors: Any) -> Any:
        """Braze's ``errors`` as sent, unless a server echoed the key in it: then redacted."""
        if errors is None or isinstance(errors, (bool, int, float)):
            return errors
        if isinstance(errors, str):
            return self._auth.redact(errors)
        try:
            text = orjson.dumps(errors).decode()
        except orjson.JSONEncodeError:
            return self._quote(errors)
        redacted = self._auth.redact(text)
        return errors if redacted == text else orjson.loads(redacted)

    def _excerpt(self, body: bytes) -> str:
        text = " ".join(body[: _EXCERPT_CHARS * 4].decode("utf-8", errors="replace").split())
        text = self._auth.redact(text)
        return text if len(text) <= _EXCERPT_CHARS else text[: _EXCERPT_CHARS - 3] + "..."


def _decode_json(body: bytes) -> Any:
    """Decode with orjson; the stdlib only for what orjson refuses and the stdlib reads.

    orjson is strict: it rejects numbers beyond the float range (the stdlib reads them as
    ``int``, or ``inf`` for ``1e400``) and the ``NaN``/``Infinity`` literals that Python's own
    ``json.dumps`` writes. Decoded, such values are skipped by the parser with a
    ``DataRepairWarning`` and the rest of the response is kept. orjson's error stands when the
    stdlib refuses too, when it recurses too deep (``RecursionError``: a body nested beyond
    orjson's limit), or when it lets through a lone UTF-16 surrogate escape, which no string
    of a frame or a Parquet file can hold.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        refused = exc
    import json

    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        raise refused from None
    if not _valid_text(decoded):
        raise refused
    return decoded


def _valid_text(decoded: Any) -> bool:
    """Say whether every string (keys too) of a decoded body is valid Unicode; no recursion."""
    stack = [decoded]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def _copy_json(value: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of decoded JSON, without recursion (a hostile body nests 1,000 deep)."""
    root: dict[str, Any] = {}
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, target = stack.pop()
        items = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in items:
            if isinstance(item, (dict, list)):
                copied: Any = {} if isinstance(item, dict) else [None] * len(item)
                stack.append((item, copied))
                target[key] = copied
            else:
                target[key] = item
    return root


def _is_refused(exc: BaseException) -> bool:
    """Whether a transport error is a refused connection (``ECONNREFUSED``).

    requests wraps it three deep (``ConnectionError`` > ``MaxRetryError`` >
    ``NewConnectionError`` > ``ConnectionRefusedError``); the chain is walked, not the text.
    """
    stack: list[object] = [exc]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        if isinstance(item, ConnectionRefusedError):
            return True
        seen.add(id(item))
        stack.extend((item.__cause__, item.__context__, getattr(item, "reason", None), *item.args))
    return False


def _note_attempts(error: BrazeError, attempts: int) -> None:
    error.message = f"{error.message} (after {attempts} attempts)"
    error.args = (error.message,)


def _describe_body(body: bytes) -> str:
    stripped = body.lstrip()[:64].lower()
    if not stripped:
        return "an empty body"
    if stripped.startswith((b"<!doctype html", b"<html", b"<")):
        return "an HTML page"
    if stripped.startswith((b"{", b"[")):
        return "malformed or truncated JSON"
    return "a body that is not JSON"


def _strip_query(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme:
        return parts.path or url
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}{parts.path}"


def _default_user_agent() -> str:
    import braze_frames

    return f"braze-frames/{braze_frames.__version__} {requests.utils.default_user_agent()}"


def _check_path(path: str) -> str:
    if not isinstance(path, str):
        raise TypeError(f"path must be a str, not {type(path).__name__}")
    if not path.startswith("/") or path.startswith("//") or any(c in path for c in "?# \t\r\n"):
        raise ValueError(
            f"path must be an API path such as '/campaigns/data_series' (no host, query or "
            f"spaces; pass query parameters as params=), got {path!r}"
        )
    return path


def _encode_params(params: Mapping[str, str | int | bool] | None) -> dict[str, str]:
    if params is None:
        return {}
    query: dict[str, str] = {}
    for name, value in params.items():
        if isinstance(value, bool):  # before int: bool is an int
            query[name] = "true" if value else "false"
        elif isinstance(value, (int, str)):
            query[name] = str(value)
        else:
            raise TypeError(
                f"query parameter {name!r} must be a str, int or bool, not {type(value).__name__}"
            )
    return query


def _check_timeout(timeout: object) -> float | tuple[float, float]:
    if isinstance(timeout, tuple):
        if len(timeout) != 2:
            raise ConfigError(f"timeout must be seconds or (connect, read), got {timeout!r}.")
        connect, read = (check_seconds("timeout", t, positive=True, error=ConfigError) for t in timeout)
        return (connect, read)
    return check_seconds("timeout", timeout, positive=True, error=ConfigError)
