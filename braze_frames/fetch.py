"""Top-level functions: fetch campaign analytics as a tidy frame, list and describe campaigns."""

from __future__ import annotations

import datetime as dt
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar

from ._errors import BrazeError, DataRepairWarning, UnexpectedResponseError, UnknownFieldWarning
from ._progress import progress_bar
from ._tidy import Backend, check_backend, frame_from_parsed, to_backend
from ._validate import check_choice
from .endpoints.parse import DayMap, ParsedColumns, collect_days, parse_days
from .endpoints.windows import Reading, Window, detect_reading, plan_windows, resolve_range

if TYPE_CHECKING:
    from .http.client import BrazeClient

__all__ = [
    "FetchFailedWarning",
    "FetchFailure",
    "FetchResult",
    "campaign_details",
    "fetch_data_series",
    "list_campaigns",
]

OnError = Literal["raise", "warn", "collect"]
_ON_ERROR = ("raise", "warn", "collect")
T = TypeVar("T")


class FetchFailure(NamedTuple):
    """One request that failed for good: which campaign, which days, and why."""

    campaign_id: str
    first: dt.date
    last: dt.date
    error: BrazeError

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.first}..{self.last}: {type(self.error).__name__}: {self.error}"


@dataclass(frozen=True)
class FetchResult:
    """What ``fetch_data_series(..., on_error="collect")`` returns.

    Attributes:
        frame: The tidy frame of every request that succeeded.
        failures: The requests that failed, with their errors; empty when all succeeded.
    """

    frame: Any
    failures: list[FetchFailure] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures


class FetchFailedWarning(UserWarning):
    """Some requests failed and ``on_error="warn"`` was asked for: their days are missing."""


def check_on_error(on_error: object) -> None:
    """Refuse an ``on_error`` other than ``"raise"``, ``"warn"`` or ``"collect"``."""
    check_choice("on_error", on_error, _ON_ERROR)


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def _check_ids(campaign_ids: object) -> list[str]:
    ids: list[object]
    if isinstance(campaign_ids, str):
        ids = [campaign_ids]
    elif isinstance(campaign_ids, Iterable) and not isinstance(campaign_ids, (bytes, Mapping)):
        ids = list(campaign_ids)
    else:
        msg = (f"campaign_ids must be a campaign id string or a list of them, "
               f"not {type(campaign_ids).__name__}")
        raise TypeError(msg)
    if not ids:
        msg = "campaign_ids is empty: pass at least one campaign id (bf.list_campaigns() lists them)"
        raise ValueError(msg)
    for cid in ids:
        if not isinstance(cid, str):
            msg = f"campaign ids must be strings, got {type(cid).__name__} {cid!r}"
            raise TypeError(msg)
        if not cid.strip():
            msg = "a campaign id is empty; pass the campaign's API identifier"
            raise ValueError(msg)
    return list(dict.fromkeys(str(cid).strip() for cid in ids))


@contextmanager
def _client_scope(client: BrazeClient | None) -> Iterator[BrazeClient]:
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


def _run_parallel(
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


def fetch_data_series(
    campaign_ids: str | Iterable[str] | None,
    *,
    length: int | None = None,
    ending_at: str | dt.date | dt.datetime | None = None,
    start: str | dt.date | dt.datetime | None = None,
    end: str | dt.date | dt.datetime | None = None,
    client: BrazeClient | None = None,
    backend: Backend = "polars",
    variation_names: bool = False,
    on_error: OnError = "raise",
    progress: bool | None = None,
    include_archived: bool = False,
) -> Any:
    """Fetch ``/campaigns/data_series`` for campaigns and days, as one tidy frame.

    One row per (campaign_id, date, channel, variation, metric); ``channel="all"`` rows
    hold the day-level totals. Any number of days: the range is split into requests of at
    most 100 days, run concurrently (up to the client's ``max_concurrency``) within the
    server's rate limit. Each day wanted appears exactly once, whether the server reads
    ``ending_at`` inclusively or not.

    Args:
        campaign_ids: One campaign id or several; ``None`` for every campaign that
            ``/campaigns/list`` gives (then ``/campaigns/details`` skips those never sent
            and limits each to its active days: first send to last send plus its
            conversion window).
        length: Number of days ending on ``ending_at`` (D's date included); any size.
        ending_at: Last day (date, datetime or ISO string); default today (UTC).
        start: First day, inclusive (instead of ``length``).
        end: Last day, inclusive; default today (UTC).
        client: A ``BrazeClient``; by default one is made from ``BRAZE_API_KEY`` and
            ``BRAZE_REST_ENDPOINT``.
        backend: ``"polars"`` (default) or ``"pandas"``.
        variation_names: Also call ``/campaigns/details`` (permission
            ``campaigns.details``) to fill ``variation_name``.
        on_error: ``"raise"`` the first failure; ``"warn"`` and return what succeeded;
            ``"collect"`` and return a ``FetchResult`` with the failures.
        progress: Show a progress bar; default: when interactive and there are several
            requests.
        include_archived: With ``campaign_ids=None``, include archived campaigns.

    Returns:
        The tidy frame (the backend's type), or a ``FetchResult`` with ``on_error="collect"``.

    Raises:
        ValueError: Bad arguments (checked before any request), with what to do.
        TypeError: Arguments of the wrong type.
        BrazeError: A request failed (with ``on_error="raise"``).

    Warns:
        UnknownFieldWarning: Once, naming every unknown channel and metric (all kept).
        DataRepairWarning: Once, when the input needed repairs (see ``_parse``).

    Examples:
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> with Sandbox(seed=0) as sb, BrazeClient(sb.api_key, sb.url) as client:
        ...     df = fetch_data_series(sb.campaign_ids[0], length=7, client=client)
        >>> df.columns
        ['campaign_id', 'campaign_name', 'date', 'channel', 'variation', 'variation_name', 'metric', 'value']
    """
    ids = None if campaign_ids is None else _check_ids(campaign_ids)
    check_backend(backend)
    check_on_error(on_error)
    first, last = resolve_range(length=length, ending_at=ending_at, start=start, end=end,
                                today=_utc_today())
    with _client_scope(client) as cl:
        parsed, failures, _ = _fetch(cl, ids, first, last, variation_names=variation_names,
                                     on_error=on_error, progress=progress,
                                     include_archived=include_archived)
    _warn_parsed(parsed)
    frame = to_backend(frame_from_parsed(parsed), backend)
    if failures and on_error == "warn":
        lines = "; ".join(str(f) for f in failures[:5])
        more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
        warnings.warn(f"{len(failures)} request(s) failed, their days are missing: {lines}{more}",
                      FetchFailedWarning, stacklevel=2)
    if on_error == "collect":
        return FetchResult(frame, failures)
    return frame


def _fetch(
    client: BrazeClient,
    ids: list[str] | None,
    first: dt.date,
    last: dt.date,
    *,
    variation_names: bool,
    on_error: OnError,
    progress: bool | None,
    include_archived: bool = False,
) -> tuple[ParsedColumns, list[FetchFailure], list[str]]:
    failures: list[FetchFailure] = []
    details: dict[str, Mapping[str, Any]] = {}
    ranges: dict[str, tuple[dt.date, dt.date]] = {}
    every = ids is None
    if ids is None:
        listed = list_campaigns(client=client, include_archived=include_archived)
        ids = [str(c["id"]) for c in listed if c.get("id")]
    if ids and (variation_names or every):
        # Details name the variations and, for "every campaign", say which were never
        # sent and when each was active, so no request is spent on empty days.
        details = _details(client, ids, on_error=on_error, failures=failures)
    for cid in ids:
        span = _active_span(details.get(cid), first, last) if every else (first, last)
        if span is not None:
            ranges[cid] = span
    parsed = ParsedColumns()
    days: dict[str, DayMap] = {cid: {} for cid in ranges}
    lock = threading.Lock()
    names = {cid: variation_names_from_details(d) for cid, d in details.items()} \
        if variation_names else {}

    # Campaigns are parsed, in order, as soon as their windows are all in: the decoded
    # bodies are dropped early (less memory, far less garbage-collector work) and the
    # frame's row order stays the same whatever order the responses arrive in.
    order = list(ranges)
    pending: dict[str, int] | None = None  # windows still out per campaign, once planned
    parsed_upto = 0

    def flush() -> None:  # under the lock
        nonlocal parsed_upto
        while pending is not None and parsed_upto < len(order) and not pending[order[parsed_upto]]:
            cid = order[parsed_upto]
            parsed_upto += 1
            _parse_campaign(parsed, cid, days.pop(cid), names.get(cid), on_error=on_error,
                            failures=failures)

    def request(cid: str, window: Window) -> None:
        try:
            body = client.data_series(cid, length=window.length, ending_at=window.ending_at_param)
            with lock:
                # Checked whole before any of its days is kept: a window that fails leaves
                # no day behind, so each day is in the frame or covered by a failure.
                got = collect_days(body, keep=(window.first, window.last), parsed=parsed)
                days[cid].update(got)
                if client.window_reading is None:
                    client.window_reading = detect_reading(window, list(collect_days(body)))
                del body, got
        finally:
            with lock:
                if pending is not None:
                    pending[cid] -= 1
                    flush()

    def plan(reading: Reading | None, skip: tuple[str, Window] | None = None) -> list[tuple[str, Window]]:
        tasks: list[tuple[str, Window]] = []
        for cid, (a, b) in ranges.items():
            done = skip is not None and cid == skip[0]
            upto = skip[1].first - dt.timedelta(days=1) if skip is not None and done else b
            tasks.extend((cid, w) for w in plan_windows(a, upto, reading))
        return tasks

    reading = client.window_reading
    tasks = plan(reading)
    bar = progress_bar(len(tasks), progress, "braze data_series", "req")
    try:
        if reading is None and len(tasks) > len(ranges):
            # One request first: its dates tell how the server reads ending_at, and the
            # rest of the plan can then use exact 100-day windows.
            head = tasks[0]
            outcome = _run_parallel([lambda: request(*head)], workers=1, on_error=on_error, bar=bar)
            _record(outcome, [head], failures)
            reading = client.window_reading
            tasks = tasks[1:] if reading is None else plan(reading, skip=head)
            if bar is not None:
                bar.total = len(tasks) + 1
                bar.refresh()
        with lock:
            pending = dict.fromkeys(order, 0)
            for cid, _ in tasks:
                pending[cid] += 1
            flush()
        calls = [(lambda t=t: request(*t)) for t in tasks]
        outcome = _run_parallel(calls, workers=client.max_concurrency, on_error=on_error, bar=bar)
        _record(outcome, tasks, failures)
    finally:
        if bar is not None:
            bar.close()
    with lock:
        flush()
    return parsed, failures, ids


def _parse_campaign(
    parsed: ParsedColumns,
    cid: str,
    days: DayMap,
    names: Mapping[str, str] | None,
    *,
    on_error: OnError,
    failures: list[FetchFailure],
) -> None:
    """Parse one campaign's days; unless ``on_error="raise"``, a malformed day is a failure.

    The parser stops at the first malformed day. The campaign is then rolled back and parsed
    day by day, so only the malformed days are missing, each covered by a ``FetchFailure``,
    and every other campaign and day is kept.
    """
    mark = parsed._mark()
    try:
        parse_days(cid, days, into=parsed, variation_names=names)
    except UnexpectedResponseError:
        if on_error == "raise":
            raise
        parsed._rollback(mark)
    else:
        return
    for date in sorted(days):
        mark = parsed._mark()
        try:
            parse_days(cid, {date: days[date]}, into=parsed, variation_names=names)
        except UnexpectedResponseError as exc:
            parsed._rollback(mark)
            failures.append(FetchFailure(cid, date, date, exc))


def _active_span(
    details: Mapping[str, Any] | None, first: dt.date, last: dt.date
) -> tuple[dt.date, dt.date] | None:
    """Clip a range to a campaign's life: first send .. last send + conversion window.

    Conversions keep arriving for a campaign's conversion window after its last send, so
    those days still hold data. A campaign never sent has no days; None.
    """
    if details is None:
        return first, last
    sent_first = _detail_date(details.get("first_sent"))
    if sent_first is None:
        return None
    sent_last = _detail_date(details.get("last_sent"))
    a = max(first, sent_first)
    b = last
    if sent_last is not None:
        b = min(last, sent_last + dt.timedelta(days=conversion_window_days(details)))
    return (a, b) if a <= b else None


def _detail_date(value: object) -> dt.date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def conversion_window_days(details: Mapping[str, Any], default: int = 30) -> int:
    """The longest conversion window of a campaign, in whole days (Braze's max is 30).

    Examples:
        >>> conversion_window_days({"conversion_behaviors": [{"window": 86400}, {"window": 259200}]})
        3
        >>> conversion_window_days({})
        30
    """
    behaviors = details.get("conversion_behaviors")
    windows = [b.get("window") for b in behaviors if isinstance(b, Mapping)] \
        if isinstance(behaviors, list) else []
    seconds = [w for w in windows if isinstance(w, (int, float)) and not isinstance(w, bool)]
    if not seconds:
        return default
    return max(1, -(-int(max(seconds)) // 86_400))


def _record(outcome: Sequence[object], tasks: Sequence[tuple[str, Window]],
            failures: list[FetchFailure]) -> None:
    for result, (cid, window) in zip(outcome, tasks, strict=True):
        if isinstance(result, BrazeError):
            failures.append(FetchFailure(cid, window.first, window.last, result))


def _details(
    client: BrazeClient,
    ids: list[str],
    *,
    on_error: OnError,
    failures: list[FetchFailure],
) -> dict[str, Mapping[str, Any]]:
    calls = [(lambda cid=cid: client.campaign_details(cid)) for cid in ids]
    outcome = _run_parallel(calls, workers=client.max_concurrency, on_error=on_error, bar=None)
    found: dict[str, Mapping[str, Any]] = {}
    for cid, result in zip(ids, outcome, strict=True):
        if isinstance(result, BrazeError):
            today = _utc_today()
            failures.append(FetchFailure(cid, today, today, result))
        else:
            found[cid] = result
    return found


def variation_names_from_details(details: Mapping[str, Any]) -> dict[str, str]:
    """``variation_api_id -> name`` from a ``/campaigns/details`` body.

    Examples:
        >>> variation_names_from_details({"messages": {"v1": {"name": "A", "channel": "email"}}})
        {'v1': 'A'}
    """
    messages = details.get("messages")
    if not isinstance(messages, Mapping):
        return {}
    return {
        str(vid): msg["name"]
        for vid, msg in messages.items()
        if isinstance(msg, Mapping) and isinstance(msg.get("name"), str)
    }


def _warn_parsed(parsed: ParsedColumns) -> None:
    if parsed.unknown_channels or parsed.unknown_metrics:
        parts = []
        if parsed.unknown_channels:
            parts.append("channels " + _name_list(parsed.unknown_channels))
        if parsed.unknown_metrics:
            parts.append("metrics " + _name_list(parsed.unknown_metrics))
        warnings.warn(
            "Braze sent fields braze_frames does not know; they are kept as they are: "
            + "; ".join(parts),
            UnknownFieldWarning,
            stacklevel=3,
        )
    if parsed.repair_count:
        shown = "; ".join(parsed.repairs)
        more = parsed.repair_count - len(parsed.repairs)
        tail = f" (and {more} more)" if more > 0 else ""
        warnings.warn(f"{parsed.repair_count} repair(s) to the response: {shown}{tail}",
                      DataRepairWarning, stacklevel=3)


def _name_list(names: set[str], most: int = 100) -> str:
    """Name them all, up to a readable limit (a hostile body can hold thousands)."""
    ordered = sorted(names)
    text = ", ".join(ordered[:most])
    return text + (f" (and {len(ordered) - most} more)" if len(ordered) > most else "")


def list_campaigns(
    *,
    client: BrazeClient | None = None,
    include_archived: bool = False,
    edited_since: str | dt.date | dt.datetime | None = None,
    sort_direction: Literal["asc", "desc"] = "desc",
    backend: Backend | None = None,
) -> Any:
    """List campaigns with ``GET /campaigns/list``, every page.

    Pages hold 100 campaigns and carry no end marker, so paging stops on a short page.

    Args:
        client: A ``BrazeClient``; default from the environment.
        include_archived: Include archived campaigns.
        edited_since: Only campaigns edited after this time (``last_edit.time[gt]``).
        sort_direction: ``"desc"`` (newest first, Braze's default) or ``"asc"``.
        backend: ``None`` gives a list of dicts; ``"polars"`` or ``"pandas"`` a frame.

    Returns:
        The campaigns as Braze describes them (``id``, ``name``, ``last_edited``...).
    """
    check_choice("sort_direction", sort_direction, ("asc", "desc"))
    since = _since_param(edited_since)
    if backend is not None:
        check_backend(backend)
    campaigns: list[dict[str, Any]] = []
    with _client_scope(client) as cl:
        page = 0
        while True:
            body = cl.campaigns_list_page(page, include_archived=include_archived,
                                          sort_direction=sort_direction, last_edit_gt=since)
            batch = body.get("campaigns") or []
            campaigns.extend(c for c in batch if isinstance(c, dict))
            if len(batch) < 100:
                break
            page += 1
    if backend is None:
        return campaigns
    import polars as pl

    frame = pl.DataFrame(campaigns, infer_schema_length=None) if campaigns else pl.DataFrame()
    return to_backend(frame, backend)


def _since_param(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return f"{value.isoformat()}T00:00:00+00:00"
    if isinstance(value, str):
        return value
    msg = f"edited_since must be a date, datetime or ISO string, not {type(value).__name__}"
    raise TypeError(msg)


def campaign_details(campaign_id: str, *, client: BrazeClient | None = None) -> dict[str, Any]:
    """A campaign's details from ``GET /campaigns/details``.

    Returns:
        Braze's body: ``name``, ``channels``, ``first_sent``, ``last_sent``, ``messages``
        (keyed by variation API id, each with ``name`` and ``channel``),
        ``conversion_behaviors`` (in event order, each ``window`` in seconds)...
    """
    (cid,) = _check_ids(campaign_id)
    with _client_scope(client) as cl:
        return cl.campaign_details(cid)
