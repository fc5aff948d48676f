"""The windowed fetch every time series shares: plan, request concurrently, parse in order.

An endpoint that answers daily (or hourly) series for one object at a time, with a cap on
how many days one request covers, is fetched the same way whatever the endpoint:

1. each object's range is split into windows of at most the endpoint's cap
   (``endpoints.windows.plan_windows``), one day more per request until the server's
   reading of ``ending_at`` is known; the first response tells it (``detect_reading``),
   and the client remembers it per endpoint, so the rest of the plan is exact;
2. the requests run on the client's thread pool, within its rate limiter;
3. each response is checked whole and its days kept (only the days asked for), and an
   object is parsed as soon as its windows are all in, in the order the objects were
   given: the decoded bodies are dropped early and the frame's row order does not depend
   on the order responses arrive in.

A window that fails leaves no day behind: each day is in the result or covered by a
``FetchFailure``. The callers (``fetch_data_series``, ``fetch_canvas_series``,
``fetch_series``...) supply how to ask for a window, how to read a body's days and how to
parse an object's days.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple, TypeVar

from ._errors import BrazeError, UnexpectedResponseError
from ._progress import progress_bar
from ._validate import check_choice
from .endpoints.windows import STEPS, Reading, Unit, Window, detect_reading, plan_windows

if TYPE_CHECKING:
    from .endpoints._columns import EncodedColumns
    from .endpoints.catalog import Endpoint
    from .http.client import BrazeClient

__all__ = [
    "FetchFailure",
    "OnError",
    "check_ids",
    "check_on_error",
    "client_scope",
    "fetch_windows",
    "parse_each",
    "run_parallel",
    "utc_today",
]

OnError = Literal["raise", "warn", "collect"]
_ON_ERROR: Final = ("raise", "warn", "collect")
T = TypeVar("T")
#: A body's days, kept: date -> that day's object.
Days = dict[dt.date, Any]


class FetchFailure(NamedTuple):
    """One request that failed for good: which object, which days, and why.

    ``campaign_id`` holds the id asked about: a campaign's, a Canvas's, or a series key.
    """

    campaign_id: str
    first: dt.date
    last: dt.date
    error: BrazeError

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.first}..{self.last}: {type(self.error).__name__}: {self.error}"


def check_on_error(on_error: object) -> None:
    """Refuse an ``on_error`` other than ``"raise"``, ``"warn"`` or ``"collect"``."""
    check_choice("on_error", on_error, _ON_ERROR)


def utc_today() -> dt.date:
    """Today in UTC: the default last day of a fetch (a day off the company's today, at times)."""
    return dt.datetime.now(dt.timezone.utc).date()


def check_ids(value: object, *, name: str = "campaign_ids", what: str = "campaign",
              lister: str = "bf.list_campaigns()") -> list[str]:
    """One id or several, as a list of distinct stripped strings, in order.

    Args:
        value: What the caller passed.
        name: The argument's name, for messages.
        what: What an id identifies (``"campaign"``, ``"Canvas"``, ``"segment"``...).
        lister: The function that lists them, for the message of an empty list.

    Examples:
        >>> check_ids(["c1", " c2", "c1"])
        ['c1', 'c2']
    """
    ids: list[object]
    if isinstance(value, str):
        ids = [value]
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, Mapping)):
        ids = list(value)
    else:
        msg = f"{name} must be a {what} id string or a list of them, not {type(value).__name__}"
        raise TypeError(msg)
    if not ids:
        msg = f"{name} is empty: pass at least one {what} id ({lister} lists them)"
        raise ValueError(msg)
    for item in ids:
        if not isinstance(item, str):
            msg = f"{what} ids must be strings, got {type(item).__name__} {item!r}"
            raise TypeError(msg)
        if not item.strip():
            msg = f"a {what} id is empty; pass the {what}'s API identifier"
            raise ValueError(msg)
    return list(dict.fromkeys(str(item).strip() for item in ids))


@contextmanager
def client_scope(client: BrazeClient | None) -> Iterator[BrazeClient]:
    """Use the caller's client, or make one from the environment and close it after."""
    if client is not None:
        yield client
        return
    from .http.client import BrazeClient

    own = BrazeClient()
    try:
        yield own
    finally:
        own.close()


def run_parallel(
    calls: Sequence[Callable[[], T]],
    *,
    workers: int,
    on_error: OnError,
    bar: Any,
) -> list[T | BrazeError]:
    """Run calls on a thread pool; results in call order, errors in place of results.

    With ``on_error="raise"`` the first failure cancels what has not started and is raised.
    """
    results: list[T | BrazeError] = [BrazeError("not run")] * len(calls)
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BrazeError as exc:
            results[i] = exc
            if on_error == "raise":
                raise
        finally:
            if bar is not None:
                with lock:
                    bar.update(1)

    if workers <= 1 or len(calls) <= 1:
        for i in range(len(calls)):
            run(i)
        return results
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="braze") as pool:
        futures: list[Future[None]] = [pool.submit(run, i) for i in range(len(calls))]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for fut in done:
            exc = fut.exception()
            if exc is not None:
                for other in futures:
                    other.cancel()
                raise exc
    return results


def fetch_windows(
    client: BrazeClient,
    endpoint: Endpoint,
    ranges: Mapping[str, tuple[dt.date, dt.date]],
    *,
    request: Callable[[str, Window], Any],
    days_of: Callable[[Any, tuple[dt.date, dt.date] | None], Days],
    parse: Callable[[str, Days], None],
    on_error: OnError,
    progress: bool | None,
    desc: str,
    unit: Unit = "day",
) -> list[FetchFailure]:
    """Fetch every object's range in windows, and parse each object once its days are in.

    Args:
        client: The client (its pool, limiter and remembered readings).
        endpoint: The endpoint's facts: its ``path`` keys the remembered reading, its
            ``max_length`` caps a window.
        ranges: Object id -> (first, last) days wanted, in the order to parse them.
        request: Ask for one window of one object; returns the decoded body.
        days_of: A body's days, checked whole (raising ``UnexpectedResponseError`` on a
            malformed body before anything is kept); with ``keep=(first, last)`` only those
            days, with ``None`` every day (used to learn the reading).
        parse: Parse one object's days (called under the runner's lock, in order).
        on_error: ``"raise"`` stops at the first failure; otherwise failures are collected.
        progress: Show a progress bar (None: when interactive).
        desc: The progress bar's label.
        unit: ``"hour"`` for hourly series: ``ranges`` hold aware UTC hours, windows count
            hours, and the reading of ``ending_at`` is learned apart from the days'.

    Returns:
        The requests that failed for good.
    """
    cap = endpoint.max_length or 100
    step = STEPS[unit]
    # Hours may be read otherwise than days: each unit learns its own reading.
    reading_key = endpoint.path if unit == "day" else f"{endpoint.path}?unit={unit}"
    failures: list[FetchFailure] = []
    days: dict[str, Days] = {key: {} for key in ranges}
    lock = threading.Lock()
    order = list(ranges)
    pending: dict[str, int] | None = None  # windows still out per object, once planned
    parsed_upto = 0

    def flush() -> None:  # under the lock
        nonlocal parsed_upto
        while pending is not None and parsed_upto < len(order) and not pending[order[parsed_upto]]:
            key = order[parsed_upto]
            parsed_upto += 1
            parse(key, days.pop(key))

    def one(key: str, window: Window) -> None:
        try:
            body = request(key, window)
            with lock:
                # Checked whole before any of its days is kept: a window that fails leaves
                # no day behind, so each day is in the frame or covered by a failure.
                days[key].update(days_of(body, (window.first, window.last)))
                if reading_key not in client.window_readings:
                    reading = detect_reading(window, list(days_of(body, None)))
                    if reading is not None:
                        client.window_readings[reading_key] = reading
                del body
        finally:
            with lock:
                if pending is not None:
                    pending[key] -= 1
                    flush()

    def plan(reading: Reading | None, skip: tuple[str, Window] | None = None) -> list[tuple[str, Window]]:
        tasks: list[tuple[str, Window]] = []
        for key, (a, b) in ranges.items():
            upto = skip[1].first - step if skip is not None and key == skip[0] else b
            tasks.extend((key, w) for w in plan_windows(a, upto, reading, max_length=cap, step=step))
        return tasks

    def record(outcome: Sequence[object], tasks: Sequence[tuple[str, Window]]) -> None:
        for result, (key, window) in zip(outcome, tasks, strict=True):
            if isinstance(result, BrazeError):
                failures.append(FetchFailure(key, window.first, window.last, result))

    reading = client.window_readings.get(reading_key)
    tasks = plan(reading)
    bar = progress_bar(len(tasks), progress, desc, "req")
    try:
        if reading is None and len(tasks) > len(ranges):
            # One request first: its dates tell how the server reads ending_at, and the
            # rest of the plan can then use exact windows of the endpoint's full cap.
            head = tasks[0]
            outcome = run_parallel([lambda: one(*head)], workers=1, on_error=on_error, bar=bar)
            record(outcome, [head])
            reading = client.window_readings.get(reading_key)
            tasks = tasks[1:] if reading is None else plan(reading, skip=head)
            if bar is not None:
                bar.total = len(tasks) + 1
                bar.refresh()
        with lock:
            pending = dict.fromkeys(order, 0)
            for key, _ in tasks:
                pending[key] += 1
            flush()
        calls = [(lambda t=t: one(*t)) for t in tasks]
        outcome = run_parallel(calls, workers=client.max_concurrency, on_error=on_error, bar=bar)
        record(outcome, tasks)
    finally:
        if bar is not None:
            bar.close()
    with lock:
        flush()
    return failures


def parse_each(
    parsed: EncodedColumns,
    key: str,
    days: Days,
    parse: Callable[[Days], None],
    *,
    on_error: OnError,
    failures: list[FetchFailure],
) -> None:
    """Parse one object's days; unless ``on_error="raise"``, a malformed day is a failure.

    The parser stops at the first malformed day. The object is then rolled back and parsed
    day by day, so only the malformed days are missing, each covered by a ``FetchFailure``,
    and every other object and day is kept.

    Args:
        parsed: The columns ``parse`` appends to (rolled back on a malformed day).
        key: The object's id, for the failures.
        days: Its days, by date.
        parse: Parse some of its days into ``parsed``.
        on_error: ``"raise"`` lets the ``UnexpectedResponseError`` through.
        failures: Where a malformed day's failure goes.
    """
    mark = parsed._mark()
    try:
        parse(days)
    except UnexpectedResponseError:
        if on_error == "raise":
            raise
        parsed._rollback(mark)
    else:
        return
    for date in sorted(days):
        mark = parsed._mark()
        try:
            parse({date: days[date]})
        except UnexpectedResponseError as exc:
            parsed._rollback(mark)
            failures.append(FetchFailure(key, date, date, exc))
