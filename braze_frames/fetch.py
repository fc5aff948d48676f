"""Top-level functions: fetch campaign analytics as a tidy frame, list and describe campaigns.

Also the choice of campaigns for "every campaign" (:func:`discover_campaigns`), which
``sync`` shares: list them (archived ones too, by default), read each one's details, and
keep those whose active days overlap the range, naming the others and why.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from ._errors import (
    AuthenticationError,
    BrazeError,
    DataRepairWarning,
    PermissionDeniedError,
    UnknownFieldWarning,
)
from ._runner import (
    FetchFailure,
    OnError,
    check_ids,
    check_on_error,
    client_scope,
    fetch_windows,
    parse_each,
    run_parallel,
    utc_today,
)
from ._tidy import Backend, check_backend, frame_from_parsed, to_backend
from ._validate import check_bool, check_choice
from .endpoints._columns import EncodedColumns
from .endpoints.catalog import CAMPAIGN_DETAILS, CAMPAIGN_SERIES, Endpoint
from .endpoints.details import (
    active_days,
    campaign_name_of,
    conversion_window_days,
    detail_date,
    variation_names_of,
)
from .endpoints.parse import DayMap, ParsedColumns, collect_days, parse_days
from .endpoints.windows import Window, resolve_range

if TYPE_CHECKING:
    from .http.client import BrazeClient

__all__ = [
    "Discovery",
    "FetchFailedWarning",
    "FetchFailure",
    "FetchResult",
    "NamesUnavailableWarning",
    "NoDataWarning",
    "SkippedCampaign",
    "SkippedCampaignsWarning",
    "campaign_details",
    "conversion_window_days",
    "discover_campaigns",
    "fetch_data_series",
    "list_campaigns",
]

_ON_ERROR = ("raise", "warn", "collect")


class SkippedCampaign(NamedTuple):
    """A campaign that a fetch of every campaign did not fetch, and why.

    Attributes:
        campaign_id: The campaign's API id.
        name: Its name, when known (``/campaigns/details``, else ``/campaigns/list``).
        reason: Why it has no days in the range: ``"never sent"``, or when it was active.
    """

    campaign_id: str
    name: str | None
    reason: str

    def __str__(self) -> str:
        shown = f"{self.name} ({self.campaign_id})" if self.name else self.campaign_id
        return f"{shown}: {self.reason}"


class Discovery(NamedTuple):
    """The campaigns a fetch of every campaign asks for (:func:`discover_campaigns`).

    Attributes:
        ranges: Campaign id -> the days to fetch, ``(first, last)`` inclusive, in the
            order ``/campaigns/list`` gave them.
        skipped: The campaigns left out, each with its reason.
        details: Campaign id -> its ``/campaigns/details`` body, for each one read.
    """

    ranges: dict[str, tuple[dt.date, dt.date]]
    skipped: list[SkippedCampaign]
    details: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class FetchResult:
    """What ``fetch_data_series(..., on_error="collect")`` returns.

    Attributes:
        frame: The tidy frame of every request that succeeded.
        failures: The requests that failed, with their errors; empty when all succeeded.
        skipped: With ``campaign_ids=None``, the campaigns left out and why (never sent,
            active only outside the range); empty otherwise.
    """

    frame: Any
    failures: list[FetchFailure] = field(default_factory=list)
    skipped: list[SkippedCampaign] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failures


class FetchFailedWarning(UserWarning):
    """Some requests failed and ``on_error="warn"`` was asked for: their days are missing."""


class SkippedCampaignsWarning(UserWarning):
    """A fetch of every campaign left some out (never sent, or active outside the range)."""


class NamesUnavailableWarning(UserWarning):
    """``/campaigns/details`` could not be read for some campaigns: their names stay null.

    Every row is still returned. Usually the API key lacks the ``campaigns.details``
    permission.
    """


class NoDataWarning(UserWarning):
    """A fetch returned no rows: the warning says which days were asked for and what to check."""


def fetch_data_series(
    campaign_ids: str | Iterable[str] | None,
    *,
    length: int | None = None,
    ending_at: str | dt.date | dt.datetime | None = None,
    start: str | dt.date | dt.datetime | None = None,
    end: str | dt.date | dt.datetime | None = None,
    client: BrazeClient | None = None,
    backend: Backend = "polars",
    names: bool = True,
    on_error: OnError = "raise",
    progress: bool | None = None,
    include_archived: bool = True,
) -> Any:
    """Fetch ``/campaigns/data_series`` for campaigns and days, as one tidy frame.

    One row per (campaign_id, date, channel, variation, metric); ``channel="all"`` rows
    hold the day-level totals. Any number of days: the range is split into requests of at
    most 100 days, run concurrently (up to the client's ``max_concurrency``) within the
    server's rate limit. Each day wanted appears exactly once, whether the server reads
    ``ending_at`` inclusively or not.

    Dates are days in the company's time zone, as Braze buckets them. The default end,
    today in UTC, can be a day ahead of or behind the company's today: a range that ends
    on a day which has not begun there holds no data for it.

    Args:
        campaign_ids: One campaign id or several; ``None`` for every campaign, archived
            or not (see ``include_archived``), whose active days (first send to last send
            plus its longest conversion window, from ``/campaigns/details``) overlap the
            range. A campaign whose details give no ``first_sent``/``last_sent`` (or could
            not be read) is fetched over the whole range; the others left out are named
            in one ``SkippedCampaignsWarning`` and in ``FetchResult.skipped``.
        length: Number of days ending on ``ending_at`` (D's date included); any size.
        ending_at: Last day (date, datetime or ISO string); default today (UTC).
        start: First day, inclusive (instead of ``length``).
        end: Last day, inclusive; default today (UTC).
        client: A ``BrazeClient``; by default one is made from ``BRAZE_API_KEY`` and
            ``BRAZE_REST_ENDPOINT``.
        backend: ``"polars"`` (default) or ``"pandas"``.
        names: Fill ``campaign_name`` and ``variation_name`` from ``/campaigns/details``
            (permission ``campaigns.details``; read once per campaign and cached on the
            client). The details' names win over the response's, except where they give
            none (a control group keeps the response's "Control Group"). Without the
            permission, or when a details request fails, the names stay null and one
            ``NamesUnavailableWarning`` names the campaigns: every row is still returned.
            ``False`` makes no details request for campaigns given by id, and leaves
            ``campaign_name`` null.
        on_error: ``"raise"`` the first failure; ``"warn"`` and return what succeeded;
            ``"collect"`` and return a ``FetchResult`` with the failures.
        progress: Show a progress bar; default: when interactive and there are several
            requests.
        include_archived: With ``campaign_ids=None``, include archived campaigns (the
            default: they are history); ``False`` leaves them out.

    Returns:
        The tidy frame (the backend's type), or a ``FetchResult`` with ``on_error="collect"``.

    Raises:
        ValueError: Bad arguments (checked before any request), with what to do.
        TypeError: Arguments of the wrong type.
        BrazeError: A request failed (with ``on_error="raise"``).

    Warns:
        UnknownFieldWarning: Once, naming every unknown channel and metric (all kept).
        DataRepairWarning: Once, when the input needed repairs (see ``endpoints.parse``).
        NamesUnavailableWarning: Once, naming the campaigns whose names are unknown.
        SkippedCampaignsWarning: Once, naming the campaigns a fetch of every campaign
            left out, and why.
        NoDataWarning: When no row came back: the days asked for, and what to check (not
            when ``sync`` is the caller: it reports its own way).

    Examples:
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> with Sandbox(seed=0) as sb, BrazeClient(sb.api_key, sb.url) as client:
        ...     df = fetch_data_series(sb.campaign_ids[0], length=7, client=client)
        >>> df.columns
        ['campaign_id', 'campaign_name', 'date', 'channel', 'variation', 'variation_name', 'metric', 'value']
        >>> df["campaign_name"].null_count()
        0
    """
    ids = None if campaign_ids is None else check_ids(campaign_ids)
    check_backend(backend)
    check_on_error(on_error)
    check_bool("names", names)
    check_bool("include_archived", include_archived)
    first, last = resolve_range(length=length, ending_at=ending_at, start=start, end=end,
                                today=utc_today())
    with client_scope(client) as cl:
        run = _fetch(cl, ids, first, last, names=names, on_error=on_error, progress=progress,
                     include_archived=include_archived)
    _warn_parsed(run.parsed)
    frame = to_backend(frame_from_parsed(run.parsed), backend)
    failures = run.failures
    if run.names_errors:
        _warn_names(run.names_errors, {}, whole_range=False)
    if run.skipped:
        warn_skipped(run.skipped)
    if failures and on_error == "warn":
        warn_failures(failures)
    if not run.parsed.n_rows and not failures and not _called_from_inside():
        _warn(no_data_message(len(run.ranges), first, last), NoDataWarning)
    if on_error == "collect":
        return FetchResult(frame, failures, run.skipped)
    return frame


def warn_failures(failures: Sequence[FetchFailure]) -> None:
    """One ``FetchFailedWarning`` naming the first failures (``on_error="warn"``)."""
    lines = "; ".join(str(f) for f in failures[:5])
    more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
    _warn(f"{len(failures)} request(s) failed, their days are missing: {lines}{more}",
          FetchFailedWarning)


def no_data_message(n_campaigns: int, first: dt.date, last: dt.date, *, what: str = "campaign") -> str:
    """What an empty fetch says: the days asked for, and what to check.

    Examples:
        >>> no_data_message(1, dt.date(2025, 1, 1), dt.date(2025, 1, 7))[:60]
        'no data for 1 campaign from 2025-01-01 to 2025-01-07 (7 days'
        >>> no_data_message(2, dt.date(2025, 1, 1), dt.date(2025, 1, 7), what="Canvas")[:24]
        'no data for 2 Canvases f'
    """
    days = (last - first).days + 1
    plural = "es" if what.endswith("s") else "s"
    which = f"{n_campaigns} {what}{plural * (n_campaigns != 1)}" if n_campaigns else f"any {what}"
    when = ("they sent in this range (their first and last send dates)" if what == "campaign"
            else "they ran in this range (their first and last entry dates)")
    return (
        f"no data for {which} from {first} to {last} ({days} day{'s' * (days != 1)} asked for). "
        f"Check that {when}, "
        "and that its days have begun: dates are days in the company's time zone, while "
        "the default end is today in UTC."
    )


class _Run(NamedTuple):
    parsed: ParsedColumns
    failures: list[FetchFailure]
    ranges: dict[str, tuple[dt.date, dt.date]]
    skipped: list[SkippedCampaign]
    names_errors: dict[str, BrazeError]


_PACKAGE: Final = os.path.dirname(__file__) + os.sep


def _called_from_inside() -> bool:
    """Whether the public function calling this was called by the package itself.

    ``sync`` fetches batch after batch, many of them rightly empty (a quiet campaign's
    restated days); it reports what it did in its own way, so an empty batch is no news.
    """
    return sys._getframe(2).f_code.co_filename.startswith(_PACKAGE)


def _warn(message: str, category: type[Warning]) -> None:
    """Warn at the caller's first frame outside this package, however deep the call."""
    level = 2
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def warn_skipped(skipped: Sequence[SkippedCampaign]) -> None:
    """One ``SkippedCampaignsWarning`` naming every campaign left out, and why."""
    shown = "; ".join(str(s) for s in skipped[:_MOST_NAMED])
    more = f" (and {len(skipped) - _MOST_NAMED} more)" if len(skipped) > _MOST_NAMED else ""
    _warn(f"{len(skipped)} campaign(s) left out, with no days in the range: {shown}{more}",
          SkippedCampaignsWarning)


def _warn_names(errors: Mapping[str, BrazeError], known: Mapping[str, str], *,
                whole_range: bool) -> None:
    """One ``NamesUnavailableWarning`` for the campaigns whose details could not be read."""
    ids = list(errors)
    shown = ", ".join(f"{known[c]} ({c})" if known.get(c) else c for c in ids[:_MOST_NAMED])
    more = f" (and {len(ids) - _MOST_NAMED} more)" if len(ids) > _MOST_NAMED else ""
    kinds = {type(e) for e in errors.values()}
    if kinds <= {PermissionDeniedError}:
        why = ("the API key lacks the campaigns.details permission (add it in Settings > "
               "APIs and Identifiers)")
    else:
        first = next(iter(errors.values()))
        why = f"/campaigns/details failed: {type(first).__name__}: {first.message}"
    then = ("they are fetched over the whole range and their names stay null" if whole_range
            else "their campaign_name and variation_name stay null; every row is kept")
    _warn(f"no names for {len(ids)} campaign(s), {shown}{more}: {why}; {then}",
          NamesUnavailableWarning)


#: How many campaigns a warning names before it says how many more.
_MOST_NAMED: Final = 20


def _fetch(
    client: BrazeClient,
    ids: list[str] | None,
    first: dt.date,
    last: dt.date,
    *,
    names: bool,
    on_error: OnError,
    progress: bool | None,
    include_archived: bool = True,
) -> _Run:
    failures: list[FetchFailure] = []
    details: dict[str, dict[str, Any]] = {}
    skipped: list[SkippedCampaign] = []
    errors: dict[str, BrazeError] = {}
    if ids is None:
        ranges, skipped, details = discover_campaigns(client, first, last,
                                                      include_archived=include_archived)
    else:
        ranges = dict.fromkeys(ids, (first, last))
        if names:
            details, errors = _read_details(client, ids)
    variation_names = {cid: variation_names_of(d) for cid, d in details.items()} if names else {}
    campaign_names = {cid: campaign_name_of(d) for cid, d in details.items()} if names else {}
    parsed = ParsedColumns()

    def request(cid: str, window: Window) -> Any:
        return client.data_series(cid, length=window.length, ending_at=window.ending_at_param)

    def days_of(body: Any, keep: tuple[dt.date, dt.date] | None) -> DayMap:
        return collect_days(body, keep=keep, parsed=parsed if keep is not None else None)

    def parse(cid: str, days: DayMap) -> None:
        _parse_campaign(parsed, cid, days, variation_names.get(cid), campaign_names.get(cid),
                        on_error=on_error, failures=failures)

    failures.extend(fetch_windows(
        client, CAMPAIGN_SERIES, ranges, request=request, days_of=days_of, parse=parse,
        on_error=on_error, progress=progress, desc="braze data_series",
    ))
    # A campaign whose data failed too is reported once, by its failure.
    failed = {f.campaign_id for f in failures}
    return _Run(parsed, failures, ranges, skipped,
                {cid: e for cid, e in errors.items() if cid not in failed})


def _parse_campaign(
    parsed: ParsedColumns,
    cid: str,
    days: DayMap,
    names: Mapping[str, str] | None,
    campaign_name: str | None,
    *,
    on_error: OnError,
    failures: list[FetchFailure],
) -> None:
    """Parse one campaign's days; unless ``on_error="raise"``, a malformed day is a failure."""

    def one(some: DayMap) -> None:
        parse_days(cid, some, into=parsed, variation_names=names, campaign_name=campaign_name)

    parse_each(parsed, cid, days, one, on_error=on_error, failures=failures)


def _active_span(
    details: Mapping[str, Any] | None, first: dt.date, last: dt.date
) -> tuple[dt.date, dt.date] | None:
    """Clip a range to a campaign's active days (``endpoints.details.active_days``); None if none."""
    span = active_days(details, first, last)
    return None if isinstance(span, str) else span


def _detail_date(value: object) -> dt.date | None:
    return detail_date(value)


def variation_names_from_details(details: Mapping[str, Any]) -> dict[str, str]:
    """``variation_api_id -> name`` from a ``/campaigns/details`` body (control groups left out).

    Examples:
        >>> variation_names_from_details({"messages": {"v1": {"name": "A", "channel": "email"}}})
        {'v1': 'A'}
    """
    return variation_names_of(details)


def discover_campaigns(
    client: BrazeClient,
    first: dt.date,
    last: dt.date,
    *,
    include_archived: bool = True,
) -> Discovery:
    """Choose the campaigns a fetch of every campaign asks for, and the days of each.

    Lists every campaign (``/campaigns/list``; archived ones too unless
    ``include_archived=False``), reads each one's details (``/campaigns/details``, cached
    on the client) and keeps those whose active days, first send to last send plus the
    longest conversion window, overlap ``first..last``. Nothing is dropped for want of
    facts: a campaign whose details lack ``first_sent``/``last_sent``, or whose details
    could not be read, is kept over the whole range (for the latter one
    ``NamesUnavailableWarning`` names them). ``fetch_data_series(None, ...)`` runs this;
    ``sync`` can too.

    Args:
        client: The client to ask.
        first: The first day wanted, inclusive.
        last: The last day wanted, inclusive.
        include_archived: Include archived campaigns.

    Returns:
        A ``Discovery``: ``ranges`` (campaign id -> days to fetch), ``skipped`` (the others
        and why; the caller reports them, e.g. with :func:`warn_skipped`) and ``details``
        (the bodies read, by campaign id).

    Raises:
        BrazeError: ``/campaigns/list`` failed (details failures are warned about, not raised).

    Examples:
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> day = dt.date(2025, 6, 30)
        >>> first = day - dt.timedelta(days=29)
        >>> with Sandbox(seed=0, today=day) as sb, BrazeClient(sb.api_key, sb.url) as client:
        ...     found = discover_campaigns(client, first, day)
        >>> all(first <= a <= b <= day for a, b in found.ranges.values())
        True
        >>> "never sent" in {s.reason for s in found.skipped}
        True
    """
    check_bool("include_archived", include_archived)
    listed = list_campaigns(client=client, include_archived=include_archived)
    known: dict[str, str] = {}
    for c in listed:
        cid = c.get("id")
        if isinstance(cid, str) and cid:
            name = c.get("name")
            known[cid] = name if isinstance(name, str) else ""
    ids = list(known)
    details, errors = _read_details(client, ids)
    if errors:
        _warn_names(errors, known, whole_range=True)
    ranges: dict[str, tuple[dt.date, dt.date]] = {}
    skipped: list[SkippedCampaign] = []
    for cid in ids:
        span = active_days(details.get(cid), first, last)
        if isinstance(span, str):
            name = campaign_name_of(details.get(cid)) or known[cid] or None
            skipped.append(SkippedCampaign(cid, name, span))
        else:
            ranges[cid] = span
    return Discovery(ranges, skipped, details)


def _read_details(
    client: BrazeClient, ids: Sequence[str], endpoint: Endpoint = CAMPAIGN_DETAILS
) -> tuple[dict[str, dict[str, Any]], dict[str, BrazeError]]:
    """Each object's details (through the client's cache), and the errors of the others.

    A 401 or 403 is the key's, not the campaign's: once one comes back, the campaigns not
    yet asked about get the same error without a request.
    """
    refused: list[BrazeError] = []

    def one(cid: str) -> dict[str, Any] | BrazeError:
        if refused:
            return refused[0]
        try:
            return client.details(endpoint, cid)
        except (PermissionDeniedError, AuthenticationError) as exc:
            refused.append(exc)
            return exc
        except BrazeError as exc:
            return exc

    calls = [(lambda cid=cid: one(cid)) for cid in ids]
    outcome = run_parallel(calls, workers=client.max_concurrency, on_error="collect", bar=None)
    found: dict[str, dict[str, Any]] = {}
    errors: dict[str, BrazeError] = {}
    for cid, result in zip(ids, outcome, strict=True):
        if isinstance(result, BrazeError):
            errors[cid] = result
        else:
            found[cid] = result
    return found, errors


def _warn_parsed(parsed: EncodedColumns) -> None:
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
    with client_scope(client) as cl:
        campaigns = list_pages(lambda page: cl.campaigns_list_page(
            page, include_archived=include_archived, sort_direction=sort_direction,
            last_edit_gt=since), "campaigns")
    return as_listing(campaigns, backend)


def as_listing(items: list[dict[str, Any]], backend: Backend | None) -> Any:
    """A list's items as they are (``backend=None``), or as a polars or pandas frame."""
    if backend is None:
        return items
    import polars as pl

    frame = pl.DataFrame(items, infer_schema_length=None) if items else pl.DataFrame()
    return to_backend(frame, backend)


def list_pages(ask: Callable[[int], Mapping[str, Any]], key: str) -> list[dict[str, Any]]:
    """Every page of a Braze list (``/campaigns/list``, ``/canvas/list``...), in order.

    Pages hold 100 items and carry no end marker, so paging stops on a short page.

    Args:
        ask: The body of page ``n`` (from 0).
        key: The body's key holding the page's items (``"campaigns"``, ``"canvases"``).
    """
    items: list[dict[str, Any]] = []
    page = 0
    while True:
        batch = ask(page).get(key) or []
        items.extend(c for c in batch if isinstance(c, dict))
        if len(batch) < _PAGE_SIZE:
            return items
        page += 1


#: Items on a full page of Braze's lists.
_PAGE_SIZE: Final = 100


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


def campaign_details(
    campaign_ids: str | Iterable[str], *, client: BrazeClient | None = None
) -> Any:
    """Campaigns' details from ``GET /campaigns/details`` (cached on the client).

    Args:
        campaign_ids: One campaign id, or several.
        client: A ``BrazeClient``; default from the environment.

    Returns:
        For one id, Braze's body: ``name``, ``channels``, ``first_sent``, ``last_sent``,
        ``messages`` (keyed by variation API id, each with ``name`` and ``channel``),
        ``conversion_behaviors`` (in event order, each ``window`` in seconds)... For a list
        of ids, ``{campaign_id: body}``, the form ``reconcile(details=...)`` takes.

    Raises:
        BrazeError: A request failed (``PermissionDeniedError`` without ``campaigns.details``).

    Examples:
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> with Sandbox(seed=0) as sb, BrazeClient(sb.api_key, sb.url) as client:
        ...     one = campaign_details(sb.campaign_ids[2], client=client)
        ...     both = campaign_details(sb.campaign_ids[:2], client=client)
        >>> one["name"], [d["name"] for d in both.values()]
        ('Cart Abandonment Push', ['Weekly Newsletter', 'Spring Sale 2023 (legacy opens)'])
    """
    ids = check_ids(campaign_ids)
    with client_scope(client) as cl:
        if isinstance(campaign_ids, str):
            return cl.campaign_details(ids[0])
        calls = [(lambda cid=cid: cl.campaign_details(cid)) for cid in ids]
        outcome = run_parallel(calls, workers=cl.max_concurrency, on_error="raise", bar=None)
    return dict(zip(ids, outcome, strict=True))
