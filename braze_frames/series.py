"""The workspace's own series (SPEC section 14), and an API campaign's results per send.

:func:`fetch_series` reads Braze's KPIs (``dau``, ``mau``, ``new_users``, ``uninstalls``),
``sessions``, custom ``events``, ``revenue`` and ``purchase_quantity``, and
``segment_size`` into one table (``SERIES_COLUMNS``: metric, key, key_name, app_id, date,
value). Each kind is data (``endpoints.series.SERIES_KINDS``); each (kind, key) is one
object for the windowed runner that every time series shares (``_runner.fetch_windows``),
and the kinds, which are separate endpoints, are fetched side by side within the client's
limits. :func:`fetch_send_series` reads ``/sends/data_series`` through the campaign
parser. :func:`list_events`, :func:`list_products` and :func:`list_segments` read the lists
that name the keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from ._errors import BrazeError, DataRepairWarning, UnexpectedResponseError
from ._progress import progress_bar
from ._runner import (
    FetchFailure,
    OnError,
    check_ids,
    check_on_error,
    client_scope,
    fetch_windows,
    run_parallel,
    utc_today,
)
from ._schema import SEND_COLUMNS
from ._tidy import Backend, check_backend, frame_from_parsed, series_frame, to_backend
from ._validate import check_bool, check_choice, check_text
from .endpoints.catalog import SEND_SERIES
from .endpoints.details import campaign_name_of, variation_names_of
from .endpoints.parse import DayMap, ParsedColumns, collect_days
from .endpoints.series import (
    EVENT_LIST,
    PRODUCT_LIST,
    SEGMENT_LIST,
    SERIES_KINDS,
    KeyList,
    SeriesColumns,
    SeriesKind,
    list_page,
    parse_series,
    series_days,
)
from .endpoints.windows import Unit, Window, resolve_hours, resolve_range
from .fetch import (
    FetchFailedWarning,
    FetchResult,
    NamesUnavailableWarning,
    NoDataWarning,
    _called_from_inside,
    _parse_campaign,
    _read_details,
    _warn,
    _warn_names,
    _warn_parsed,
)

if TYPE_CHECKING:
    from .http.client import BrazeClient

__all__ = [
    "SEND_RETENTION_DAYS",
    "SeriesName",
    "UntrackedSegmentsWarning",
    "fetch_send_series",
    "fetch_series",
    "list_events",
    "list_products",
    "list_segments",
]

SeriesName = Literal["dau", "mau", "new_users", "uninstalls", "sessions", "events", "revenue",
                     "purchase_quantity", "segment_size"]

#: Braze keeps a send's analytics this many days after the send.
SEND_RETENTION_DAYS: Final = 14
#: How many keys a warning names before it says how many more.
_MOST_NAMED: Final = 20


class UntrackedSegmentsWarning(UserWarning):
    """``fetch_series("segment_size")`` left out segments without analytics tracking.

    Braze keeps no size series for them (``/segments/data_series`` answers 400): turn on
    Analytics Tracking for a segment in the dashboard to start its series.
    """


@dataclass(frozen=True)
class _Target:
    """One series to fetch: a kind and one of its keys (None for none, or the total)."""

    kind: SeriesKind
    key: str | None
    key_name: str | None

    @property
    def label(self) -> str:
        return self.kind.name if self.key is None else f"{self.kind.name}:{self.key}"


def fetch_series(
    kind: SeriesName | str | Iterable[str],
    keys: str | Iterable[str] | None = None,
    *,
    length: int | None = None,
    ending_at: str | dt.date | dt.datetime | None = None,
    start: str | dt.date | dt.datetime | None = None,
    end: str | dt.date | dt.datetime | None = None,
    app_id: str | None = None,
    segment_id: str | None = None,
    unit: Unit = "day",
    client: BrazeClient | None = None,
    backend: Backend = "polars",
    names: bool = True,
    on_error: OnError = "raise",
    progress: bool | None = None,
) -> Any:
    """Fetch Braze's workspace series (KPIs, sessions, events, purchases, segments) as one table.

    One row per (metric, key, app_id, date), with exactly the columns ``metric`` (the
    kind), ``key`` (the event name, product or segment id; null where the kind has none,
    and for the purchase totals), ``key_name`` (the segment's name, or the event or
    product name itself; null where there is no key), ``app_id`` (the ``app_id`` filter;
    null for all apps), ``date`` (a Date, or a UTC Datetime with ``unit="hour"``) and
    ``value`` (Float64). A ``null`` or missing value is no row, never a zero.

    Any range works, as for campaigns: requests of at most 100 days (or hours), each day
    once whichever way the server reads ``ending_at`` (learned per endpoint and unit).
    Dates are days in the company's time zone, as Braze buckets them. Budgets:
    ``/events/list``, ``/purchases/product_list`` and the two purchase series share 1,000
    requests an hour; the client paces them with the rest, waits for a reset up to its
    ``max_wait``, and raises ``RateLimitError`` beyond.

    Args:
        kind: One kind or a list: ``"dau"``, ``"mau"``, ``"new_users"``, ``"uninstalls"``,
            ``"sessions"``, ``"events"``, ``"revenue"``, ``"purchase_quantity"``,
            ``"segment_size"`` (``endpoints.series.SERIES_KINDS``).
        keys: The keys of the keyed kinds: event names (``events``), products
            (``revenue``, ``purchase_quantity``) or segment ids (``segment_size``); keys
            of two kinds of key in one call are refused. None: every custom event
            (``/events/list``), every segment with analytics tracking (``/segments/list``;
            the others are named in one ``UntrackedSegmentsWarning``), and for purchases
            the total over every product (key null; :func:`list_products` lists them).
        length: Number of days (hours with ``unit="hour"``) ending on ``ending_at``.
        ending_at: Last day (or hour; a bare date means its last hour); default today
            (UTC), or the current hour.
        start: First day (or hour), inclusive, instead of ``length``.
        end: Last day (or hour; a bare date means its last hour), inclusive.
        app_id: Only this app (``sessions``, KPIs, ``events``, purchases).
        segment_id: Only this analytics-tracked segment (``sessions``, ``events``). The
            table has no column for it: keep it with the frame.
        unit: ``"day"``, or ``"hour"`` (``sessions``, ``events``, purchases). Hours are in
            UTC; naive datetimes are read as UTC.
        client: A ``BrazeClient``; by default one from the environment.
        backend: ``"polars"`` (default) or ``"pandas"``.
        names: Fill ``key_name``: segments' names from ``/segments/list``, and the event
            or product name itself. ``False`` leaves it null, unless the list was read
            anyway (``keys=None``).
        on_error: ``"raise"`` the first failure; ``"warn"`` and return what succeeded;
            ``"collect"`` and return a ``FetchResult`` with the failures.
        progress: Show a progress bar (requests, or kinds when several); default: when
            interactive.

    Returns:
        The series table (the backend's type), or a ``FetchResult`` with
        ``on_error="collect"``.

    Raises:
        ValueError: Bad arguments (checked before any request), with what to do.
        TypeError: Arguments of the wrong type.
        BrazeError: A request failed (with ``on_error="raise"``); a list needed for
            ``keys=None`` failed.

    Warns:
        UnknownFieldWarning: Once, naming the fields Braze sent beyond the series' own
            (kept as ``<kind>.<field>`` metrics).
        DataRepairWarning: Once, when the input needed repairs.
        UntrackedSegmentsWarning: Once, naming the segments left out.
        NamesUnavailableWarning: When ``/segments/list`` could not be read for names.
        NoDataWarning: When no row came back.

    Examples:
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> sb = Sandbox(seed=0, today=dt.date(2025, 6, 30))
        >>> with sb, BrazeClient(sb.api_key, sb.url) as client:
        ...     df = fetch_series(["dau", "mau"], length=7, ending_at="2025-06-29", client=client)
        ...     signups = fetch_series("events", "signup", length=3, ending_at="2025-06-29",
        ...                            client=client)
        >>> df.columns
        ['metric', 'key', 'key_name', 'app_id', 'date', 'value']
        >>> df.shape, sorted(df["metric"].unique().to_list())
        ((14, 6), ['dau', 'mau'])
        >>> signups.select("key", "key_name").unique().rows()
        [('signup', 'signup')]
    """
    kinds = _check_kinds(kind)
    check_choice("unit", unit, ("day", "hour"))
    wanted = None if keys is None else check_ids(keys, name="keys", what="key",
                                                  lister="bf.list_events()")
    _check_request(kinds, wanted, app_id=app_id, segment_id=segment_id, unit=unit)
    check_backend(backend)
    check_on_error(on_error)
    check_bool("names", names)
    first: dt.date
    last: dt.date
    if unit == "hour":
        first, last = resolve_hours(length=length, ending_at=ending_at, start=start, end=end,
                                    now=dt.datetime.now(dt.timezone.utc))
    else:
        first, last = resolve_range(length=length, ending_at=ending_at, start=start, end=end,
                                    today=utc_today())
    with client_scope(client) as cl:
        targets, untracked, unnamed = _targets(cl, kinds, wanted, names=names)
        if untracked:
            _warn_untracked(untracked)
        if unnamed is not None:
            _warn(f"no names for the segments {', '.join(t.key or '' for t in targets if t.key)}: "
                  f"/segments/list failed ({type(unnamed).__name__}: {unnamed.message}); their "
                  "key_name stays null, every row is kept (the key needs segments.list)",
                  NamesUnavailableWarning)
        columns, failures = _fetch_targets(cl, targets, (first, last), app_id=app_id,
                                           segment_id=segment_id, unit=unit, on_error=on_error,
                                           progress=progress)
    _warn_parsed(columns.notes)
    frame = to_backend(series_frame(columns, app_id=app_id, hourly=unit == "hour"), backend)
    if failures and on_error == "warn":
        _warn_failures(failures)
    if not columns.n_rows and not failures and not _called_from_inside():
        labels = ", ".join(t.label for t in targets[:_MOST_NAMED]) or ", ".join(k.name for k in kinds)
        if len(targets) > _MOST_NAMED:
            labels += f" (and {len(targets) - _MOST_NAMED} more)"
        _warn(f"no data for {labels} from {first} to {last}. Check the keys (bf.list_events(), "
              "bf.list_segments()) and that the range lies in the workspace's history; dates "
              "are days in the company's time zone, while the default end is today in UTC.",
              NoDataWarning)
    if on_error == "collect":
        return FetchResult(frame, failures)
    return frame


def _check_kinds(kind: object) -> list[SeriesKind]:
    names = check_ids(kind, name="kind", what="series kind", lister="SERIES_KINDS")
    unknown = [n for n in names if n not in SERIES_KINDS]
    if unknown:
        msg = f"unknown series kind {unknown}; choose from {list(SERIES_KINDS)}"
        raise ValueError(msg)
    return [SERIES_KINDS[n] for n in names]


def _check_request(kinds: Sequence[SeriesKind], keys: Sequence[str] | None, *, app_id: object,
                   segment_id: object, unit: str) -> None:
    """Refuse what no request could answer, before any request."""
    keyed = [k for k in kinds if k.lister is not None]
    if keys is not None:
        if not keyed:
            msg = (f"keys= applies to events, revenue, purchase_quantity and segment_size; "
                   f"{', '.join(k.name for k in kinds)} take no key")
            raise ValueError(msg)
        lists = {k.lister for k in keyed}
        if len(lists) > 1:
            what = " and ".join(sorted({f"{k.name} ({k.lister.what}s)" for k in keyed if k.lister}))
            msg = (f"keys of two kinds in one call: {what} are keyed differently; fetch them in "
                   "separate calls (or pass keys=None for every key of each)")
            raise ValueError(msg)
    for name, value in (("app_id", app_id), ("segment_id", segment_id)):
        if value is None:
            continue
        check_text(name, value, what=f"the {name.replace('_id', '')}'s API identifier")
        refused = [k.name for k in kinds if name not in k.filters]
        if refused:
            takes = [k for k, v in SERIES_KINDS.items() if name in v.filters]
            msg = (f"{name}= does not apply to {', '.join(refused)}: Braze filters only "
                   f"{', '.join(takes)} by it; fetch {', '.join(refused)} in a separate call")
            raise ValueError(msg)
    if unit == "hour":
        daily = [k.name for k in kinds if not k.hourly]
        if daily:
            hourly = [k for k, v in SERIES_KINDS.items() if v.hourly]
            msg = (f"unit='hour' does not apply to {', '.join(daily)}: Braze answers hours for "
                   f"{', '.join(hourly)} only")
            raise ValueError(msg)


def _targets(
    client: BrazeClient, kinds: Sequence[SeriesKind], keys: Sequence[str] | None, *, names: bool
) -> tuple[list[_Target], list[tuple[str, str | None]], BrazeError | None]:
    """The series to fetch, the untracked segments left out, and a failure to read names."""
    targets: list[_Target] = []
    untracked: list[tuple[str, str | None]] = []
    unnamed: BrazeError | None = None
    lists: dict[KeyList, list[Any]] = {}

    def listed(key_list: KeyList) -> list[Any]:
        if key_list not in lists:
            lists[key_list] = _read_list(client, key_list)
        return lists[key_list]

    for kind in kinds:
        if kind.lister is None or (keys is None and kind.total_without_key):
            targets.append(_Target(kind, None, None))
        elif keys is None and kind.lister is SEGMENT_LIST:
            for segment in listed(SEGMENT_LIST):
                name = segment.get("name") if isinstance(segment.get("name"), str) else None
                if segment.get("analytics_tracking_enabled") is False:
                    untracked.append((segment["id"], name))
                else:
                    targets.append(_Target(kind, segment["id"], name))
        elif keys is None:
            targets.extend(_Target(kind, name, name) for name in listed(kind.lister))
        elif kind.lister is SEGMENT_LIST:
            found: dict[str, str] = {}
            if names:
                try:
                    found = {s["id"]: s["name"] for s in listed(SEGMENT_LIST)
                             if isinstance(s.get("name"), str)}
                except BrazeError as exc:
                    unnamed = exc
            targets.extend(_Target(kind, key, found.get(key)) for key in keys)
        else:
            targets.extend(_Target(kind, key, key if names else None) for key in keys)
    return targets, untracked, unnamed


def _fetch_targets(
    client: BrazeClient,
    targets: Sequence[_Target],
    span: tuple[dt.date, dt.date],
    *,
    app_id: str | None,
    segment_id: str | None,
    unit: Unit,
    on_error: OnError,
    progress: bool | None,
) -> tuple[SeriesColumns, list[FetchFailure]]:
    """Fetch every target: one windowed run per kind (endpoint), the kinds side by side."""
    groups: dict[str, list[_Target]] = {}
    for target in targets:
        groups.setdefault(target.kind.name, []).append(target)
    # One bar: the requests' bar of a single kind, or one step per kind when they run side
    # by side (several bars at once garble a terminal and a notebook alike).
    bar = progress_bar(len(groups), progress, "braze series", "kind") if len(groups) > 1 else None

    def run(group: list[_Target]) -> tuple[SeriesColumns, list[FetchFailure]]:
        kind = group[0].kind
        by_label = {t.label: t for t in group}
        columns = SeriesColumns()
        failures: list[FetchFailure] = []
        params: dict[str, str | int | bool] = {}
        if app_id is not None:
            params["app_id"] = app_id
        if segment_id is not None:
            params["segment_id"] = segment_id
        if unit == "hour":
            params["unit"] = "hour"

        def request(label: str, window: Window) -> Any:
            key = by_label[label].key
            asked = dict(params, length=window.length, ending_at=window.ending_at_param)
            if key is not None and kind.key_param is not None:
                asked[kind.key_param] = key
            return client.get(kind.endpoint.path, asked)

        def days_of(body: Any, keep: tuple[dt.date, dt.date] | None) -> dict[dt.date, Any]:
            return series_days(body, keep=keep, unit=unit,
                               notes=columns.notes if keep is not None else None)

        def parse(label: str, days: dict[dt.date, Any]) -> None:
            _parse_one(columns, by_label[label], days, unit=unit, on_error=on_error,
                       failures=failures)

        failures.extend(fetch_windows(
            client, kind.endpoint, dict.fromkeys(by_label, span), request=request,
            days_of=days_of, parse=parse, on_error=on_error,
            progress=progress if len(groups) == 1 else False, desc=f"braze {kind.name}", unit=unit,
        ))
        return columns, failures

    calls = [(lambda g=g: run(g)) for g in groups.values()]
    try:
        outcome = run_parallel(calls, workers=len(calls), on_error=on_error, bar=bar)
    finally:
        if bar is not None:
            bar.close()
    total = SeriesColumns()
    failures: list[FetchFailure] = []
    for result in outcome:
        if isinstance(result, BrazeError):  # only with on_error="raise", which raised already
            raise result
        total.extend(result[0])
        failures.extend(result[1])
    return total, failures


def _parse_one(columns: SeriesColumns, target: _Target, days: dict[dt.date, Any], *, unit: Unit,
               on_error: OnError, failures: list[FetchFailure]) -> None:
    """Parse one series; unless ``on_error="raise"``, a malformed point fails its day alone."""
    mark = _mark(columns)
    try:
        parse_series(columns, target.kind, target.key, target.key_name, days, unit=unit)
    except UnexpectedResponseError:
        if on_error == "raise":
            raise
        _rollback(columns, mark)
    else:
        return
    for moment in sorted(days):
        mark = _mark(columns)
        try:
            parse_series(columns, target.kind, target.key, target.key_name, {moment: days[moment]},
                         unit=unit)
        except UnexpectedResponseError as exc:
            _rollback(columns, mark)
            failures.append(FetchFailure(target.label, moment, moment, exc))


def _mark(columns: SeriesColumns) -> tuple[int, int, int]:
    return len(columns.values), columns.notes.repair_count, len(columns.notes.repairs)


def _rollback(columns: SeriesColumns, mark: tuple[int, int, int]) -> None:
    rows, columns.notes.repair_count, notes = mark
    for column in (columns.row_series, columns.row_time, columns.values):
        del column[rows:]
    del columns.notes.repairs[notes:]


def _warn_untracked(untracked: Sequence[tuple[str, str | None]]) -> None:
    shown = ", ".join(f"{name} ({sid})" if name else sid for sid, name in untracked[:_MOST_NAMED])
    more = f" (and {len(untracked) - _MOST_NAMED} more)" if len(untracked) > _MOST_NAMED else ""
    _warn(f"{len(untracked)} segment(s) left out, without analytics tracking (Braze keeps no "
          f"size series for them): {shown}{more}. Turn on Analytics Tracking for a segment in "
          "the dashboard to start its series.", UntrackedSegmentsWarning)


def _warn_failures(failures: Sequence[FetchFailure]) -> None:
    lines = "; ".join(str(f) for f in failures[:5])
    more = f" (and {len(failures) - 5} more)" if len(failures) > 5 else ""
    _warn(f"{len(failures)} request(s) failed, their days are missing: {lines}{more}",
          FetchFailedWarning)


# ---------------------------------------------------------------------------------- lists


def _read_list(client: BrazeClient, key_list: KeyList) -> list[Any]:
    """Every entry of a key list, page after page (pages count from 0).

    Paging stops on an empty page, on a page shorter than a full one (the documented size,
    or the longest page seen), or on a page that names nothing new (a server that ignores
    ``page`` would otherwise be read forever). Entries are de-duplicated, in order.
    """
    notes = ParsedColumns()
    found: dict[str, Any] = {}
    longest = key_list.page_size or 0
    page = 0
    while True:
        params: dict[str, str | int | bool] = {"page": page}
        if key_list is SEGMENT_LIST:
            params["sort_direction"] = "asc"
        entries = list_page(client.get(key_list.endpoint.path, params), key_list, notes)
        before = len(found)
        for entry in entries:
            found.setdefault(entry["id"] if isinstance(entry, dict) else entry, entry)
        if not entries or len(entries) < longest or len(found) == before:
            break
        longest = max(longest, len(entries))
        page += 1
    if notes.repair_count:
        _warn(f"{notes.repair_count} odd entr{'y' if notes.repair_count == 1 else 'ies'} in "
              f"{key_list.endpoint.path}, skipped: {'; '.join(notes.repairs)}", DataRepairWarning)
    return list(found.values())


def list_events(*, client: BrazeClient | None = None, backend: Backend | None = None) -> Any:
    """The workspace's custom event names, from ``GET /events/list`` (every page of 250).

    ``/events/list`` spends the 1,000-an-hour budget it shares with the purchase
    endpoints: one request per 250 names.

    Args:
        client: A ``BrazeClient``; default from the environment.
        backend: ``None`` gives a list of names; ``"polars"`` or ``"pandas"`` a frame with
            one column, ``event``.

    Returns:
        The names, in Braze's order.

    Examples:
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> with Sandbox(seed=0) as sb, BrazeClient(sb.api_key, sb.url) as client:
        ...     events = list_events(client=client)
        >>> "signup" in events
        True
    """
    return _as_backend(_list(client, EVENT_LIST), "event", backend)


def list_products(*, client: BrazeClient | None = None, backend: Backend | None = None) -> Any:
    """The product ids that purchases recorded, from ``GET /purchases/product_list``.

    Pass them to ``fetch_series("revenue", keys=...)`` for one series per product (without
    keys, ``revenue`` and ``purchase_quantity`` are totals over every product). Spends the
    1,000-an-hour budget shared with ``/events/list`` and the purchase series.

    Args:
        client: A ``BrazeClient``; default from the environment.
        backend: ``None`` gives a list; ``"polars"`` or ``"pandas"`` a frame with one column,
            ``product``.

    Returns:
        The product ids, in Braze's order.

    Examples:
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> with Sandbox(seed=0) as sb, BrazeClient(sb.api_key, sb.url) as client:
        ...     products = list_products(client=client)
        >>> len(products) > 1
        True
    """
    return _as_backend(_list(client, PRODUCT_LIST), "product", backend)


def list_segments(*, client: BrazeClient | None = None, backend: Backend | None = None) -> Any:
    """The workspace's segments, from ``GET /segments/list`` (every page of 100, oldest first).

    Only segments with ``analytics_tracking_enabled`` have a size series
    (``fetch_series("segment_size")``) and can filter ``sessions`` and ``events``.

    Args:
        client: A ``BrazeClient``; default from the environment.
        backend: ``None`` gives a list of dicts (``id``, ``name``,
            ``analytics_tracking_enabled``, ``tags``); ``"polars"`` or ``"pandas"`` a frame.

    Returns:
        The segments as Braze describes them.

    Examples:
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> with Sandbox(seed=0) as sb, BrazeClient(sb.api_key, sb.url) as client:
        ...     segments = list_segments(client=client)
        >>> segments[0]["name"], sum(not s["analytics_tracking_enabled"] for s in segments)
        ('All Users', 2)
    """
    entries = _list(client, SEGMENT_LIST)
    if backend is None:
        return entries
    check_backend(backend)
    import polars as pl

    frame = pl.DataFrame(entries, infer_schema_length=None) if entries else pl.DataFrame(
        schema={"id": pl.String(), "name": pl.String(), "analytics_tracking_enabled": pl.Boolean()})
    return to_backend(frame, backend)


def _list(client: BrazeClient | None, key_list: KeyList) -> list[Any]:
    with client_scope(client) as cl:
        return _read_list(cl, key_list)


def _as_backend(names: list[str], column: str, backend: Backend | None) -> Any:
    if backend is None:
        return names
    check_backend(backend)
    import polars as pl

    return to_backend(pl.DataFrame({column: names}, schema={column: pl.String()}), backend)


# ---------------------------------------------------------------------------------- sends


def fetch_send_series(
    campaign_id: str,
    send_ids: str | Iterable[str],
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
) -> Any:
    """Fetch an API campaign's results per send (``GET /sends/data_series``) as a tidy table.

    Braze keeps a send's analytics for 14 days after the send (``SEND_RETENTION_DAYS``),
    so the default range is the last 14 days, ending today (UTC); older days come back
    empty. Conversions are attributed to the most recent send a user received from the
    campaign. Needs the ``sends.data_series`` permission; the endpoint is for API
    campaigns only (send ids come from the requests that sent them, e.g.
    ``/sends/id/create`` or the ``send_id`` of ``/campaigns/trigger/send``).

    The table is the campaign table (``fetch_data_series``) with ``send_id`` after
    ``campaign_name`` (``SEND_COLUMNS``): one row per (send_id, date, channel, variation,
    metric). Bodies are read by the campaign parser, with every repair and warning it makes.

    Args:
        campaign_id: The API campaign's id.
        send_ids: One send id or several.
        length: Number of days ending on ``ending_at``; default 14 (without ``start``).
        ending_at: Last day; default today (UTC).
        start: First day, inclusive (instead of ``length``).
        end: Last day, inclusive.
        client: A ``BrazeClient``; by default one from the environment.
        backend: ``"polars"`` (default) or ``"pandas"``.
        names: Fill ``campaign_name`` and ``variation_name`` from ``/campaigns/details``
            (one request, cached on the client); ``False`` skips it.
        on_error: ``"raise"``, ``"warn"`` or ``"collect"`` (a ``FetchResult``).
        progress: Show a progress bar; default: when interactive.

    Returns:
        The table (the backend's type), or a ``FetchResult`` with ``on_error="collect"``.

    Raises:
        ValueError: Bad arguments, with what to do.
        BrazeError: A request failed (with ``on_error="raise"``); a campaign that is not
            an API campaign, or an unknown send id, is Braze's 400.

    Examples:
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> day = dt.date(2025, 6, 30)
        >>> with Sandbox(seed=0, today=day) as sb, BrazeClient(sb.api_key, sb.url) as client:
        ...     digest = next(c for c in sb.catalogue if c.name == "Daily Digest (API)")
        ...     recent = day - dt.timedelta(days=2)
        ...     sends = [s for s, sent in sb.send_ids(digest.id).items() if sent >= recent]
        ...     df = fetch_send_series(digest.id, sends, ending_at=day, length=14, client=client)
        >>> df.columns[:4]
        ['campaign_id', 'campaign_name', 'send_id', 'date']
        >>> df["send_id"].n_unique()
        3
    """
    cid = check_text("campaign_id", campaign_id, what="the API campaign's identifier")
    sends = check_ids(send_ids, name="send_ids", what="send",
                      lister="the send_id of the request that sent it")
    check_backend(backend)
    check_on_error(on_error)
    check_bool("names", names)
    if length is None and start is None and end is None:
        length = SEND_RETENTION_DAYS
    first, last = resolve_range(length=length, ending_at=ending_at, start=start, end=end,
                                today=utc_today())
    parsed = ParsedColumns()
    failures: list[FetchFailure] = []
    with client_scope(client) as cl:
        details, errors = _read_details(cl, [cid]) if names else ({}, {})
        variation_names = variation_names_of(details[cid]) if cid in details else None
        campaign_name = campaign_name_of(details.get(cid))

        def request(send_id: str, window: Window) -> Any:
            return cl.get(SEND_SERIES.path, {"campaign_id": cid, "send_id": send_id,
                                             "length": window.length,
                                             "ending_at": window.ending_at_param})

        def days_of(body: Any, keep: tuple[dt.date, dt.date] | None) -> DayMap:
            return collect_days(body, keep=keep, parsed=parsed if keep is not None else None)

        def parse(send_id: str, days: DayMap) -> None:
            _parse_campaign(parsed, send_id, days, variation_names, campaign_name,
                            on_error=on_error, failures=failures)

        failures.extend(fetch_windows(
            cl, SEND_SERIES, dict.fromkeys(sends, (first, last)), request=request,
            days_of=days_of, parse=parse, on_error=on_error, progress=progress,
            desc="braze sends", unit="day",
        ))
    _warn_parsed(parsed)
    frame = _send_frame(parsed, cid)
    if errors and not failures:
        _warn_names(errors, {}, whole_range=False)
    if failures and on_error == "warn":
        _warn_failures(failures)
    if not parsed.n_rows and not failures and not _called_from_inside():
        _warn(f"no data for {len(sends)} send(s) of campaign {cid} from {first} to {last}: "
              f"Braze keeps a send's analytics for {SEND_RETENTION_DAYS} days after the send, "
              "and only for API campaigns", NoDataWarning)
    frame = to_backend(frame, backend)
    if on_error == "collect":
        return FetchResult(frame, failures)
    return frame


def _send_frame(parsed: ParsedColumns, campaign_id: str) -> Any:
    """The campaign frame of the parsed sends, its ``campaign_id`` (the send ids) renamed."""
    import polars as pl

    frame = frame_from_parsed(parsed).rename({"campaign_id": "send_id"})
    return frame.with_columns(
        pl.lit(campaign_id, pl.String()).cast(pl.Categorical()).alias("campaign_id")
    ).select(SEND_COLUMNS)
