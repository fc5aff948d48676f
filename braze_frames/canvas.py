"""Canvas analytics: ``/canvas/data_series`` as a tidy frame; list and describe Canvases.

The second endpoint, on the first one's machinery: the windowed runner
(``_runner.fetch_windows``: windows of at most 14 days, the reading of ``ending_at``
learned for this endpoint), the client (retries, the hourly budget it shares with the lists
and details), the parser's checks and repairs (``endpoints.canvas`` on ``endpoints._repair``),
the frame built once (``_tidy.canvas_frame_from_parsed``) and the warnings of
``fetch_data_series``. SPEC section 12 fixes the names and the table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

from ._errors import BrazeError, PermissionDeniedError
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
from ._tidy import Backend, canvas_frame_from_parsed, check_backend, to_backend
from ._validate import check_bool, check_choice
from .endpoints.canvas import (
    CanvasColumns,
    CanvasDays,
    CanvasNames,
    canvas_names_of,
    collect_canvas_days,
    parse_canvas_days,
)
from .endpoints.catalog import CANVAS_DETAILS, CANVAS_LIST, CANVAS_SERIES
from .endpoints.windows import Window, resolve_range
from .fetch import (
    _MOST_NAMED,
    FetchResult,
    NamesUnavailableWarning,
    NoDataWarning,
    _called_from_inside,
    _read_details,
    _since_param,
    _warn,
    _warn_parsed,
    as_listing,
    list_pages,
    no_data_message,
    warn_failures,
)

if TYPE_CHECKING:
    from .http.client import BrazeClient

__all__ = ["canvas_details", "fetch_canvas_series", "list_canvases"]

_IDS: Final = {"name": "canvas_ids", "what": "Canvas", "lister": "bf.list_canvases()"}


def fetch_canvas_series(
    canvas_ids: str | Iterable[str],
    *,
    length: int | None = None,
    ending_at: str | dt.date | dt.datetime | None = None,
    start: str | dt.date | dt.datetime | None = None,
    end: str | dt.date | dt.datetime | None = None,
    client: BrazeClient | None = None,
    backend: Backend = "polars",
    variants: bool = True,
    steps: bool = True,
    names: bool = True,
    on_error: OnError = "raise",
    progress: bool | None = None,
) -> Any:
    """Fetch ``/canvas/data_series`` for Canvases and days, as one tidy frame.

    One row per (canvas_id, date, variant, step, channel, metric), with exactly the
    columns ``CANVAS_COLUMNS``: ``canvas_id``, ``canvas_name``, ``date``, ``variant``,
    ``variant_name``, ``step``, ``step_name``, ``channel``, ``metric``, ``value``
    (Categorical keys and names, a Date, a Float64; pandas: category, datetime64, float64):

    - the Canvas's totals: null variant and step, channel ``"all"`` (``entries``,
      ``revenue``, ``conversions*`` and their ``conversions*_by_entry_time`` twins);
    - a variant's totals: the variant, a null step, channel ``"all"``;
    - a step's totals: the step, a null variant, channel ``"all"``;
    - a step's message stats: the step, a null variant and the channel (a second entry in
      one step's channel list is ``email#2``, with a warning).

    Any number of days: Braze caps a request at 14, so the range is split into windows,
    run concurrently within the client's limits (the Canvas endpoints share Braze's
    250,000 requests an hour with the lists and details). Each day wanted appears exactly
    once, whether the server reads ``ending_at`` inclusively or not. Deleted steps are
    history: ``include_deleted_step_data`` is always sent as true. Dates are days in the
    company's time zone; the default end, today in UTC, can be a day off the company's.

    Args:
        canvas_ids: One Canvas id or several (``list_canvases`` lists them).
        length: Number of days ending on ``ending_at`` (D's date included); any size.
        ending_at: Last day (date, datetime or ISO string); default today (UTC).
        start: First day, inclusive (instead of ``length``).
        end: Last day, inclusive; default today (UTC).
        client: A ``BrazeClient``; by default one is made from ``BRAZE_API_KEY`` and
            ``BRAZE_REST_ENDPOINT``.
        backend: ``"polars"`` (default) or ``"pandas"``.
        variants: Ask for the variants' rows (``include_variant_breakdown``).
        steps: Ask for the steps' rows (``include_step_breakdown``).
        names: Read ``/canvas/details`` once per Canvas (permission ``canvas.details``;
            cached on the client) to fill the names the response lacks: the Canvas's name,
            deleted steps' names. The response's own names are kept whatever ``names``
            says. Without the permission, or when details fail, one
            ``NamesUnavailableWarning`` names the Canvases: every row is still returned.
        on_error: ``"raise"`` the first failure; ``"warn"`` and return what succeeded;
            ``"collect"`` and return a ``FetchResult`` with the failures.
        progress: Show a progress bar; default: when interactive and there are several
            requests.

    Returns:
        The Canvas frame (the backend's type), or a ``FetchResult`` with
        ``on_error="collect"``.

    Raises:
        ValueError: Bad arguments (checked before any request), with what to do.
        TypeError: Arguments of the wrong type.
        BrazeError: A request failed (with ``on_error="raise"``).

    Warns:
        UnknownFieldWarning: Once, naming every unknown channel and metric (all kept).
        DataRepairWarning: Once, when the input needed repairs (several entries in one
            step's channel list, list entries without an id...; see ``endpoints.canvas``).
        NamesUnavailableWarning: Once, naming the Canvases whose details could not be read.
        NoDataWarning: When no row came back: the days asked for, and what to check.

    Examples:
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> with Sandbox(seed=0) as sb, BrazeClient(sb.api_key, sb.url) as client:
        ...     df = fetch_canvas_series(sb.canvas_ids[1], length=30, client=client)
        >>> df.columns[:5]
        ['canvas_id', 'canvas_name', 'date', 'variant', 'variant_name']
        >>> df["canvas_name"].unique().to_list(), df["date"].n_unique()
        (['Cart Recovery Flow'], 30)
    """
    ids = check_ids(canvas_ids, **_IDS)
    check_backend(backend)
    check_on_error(on_error)
    for flag, value in (("variants", variants), ("steps", steps), ("names", names)):
        check_bool(flag, value)
    first, last = resolve_range(length=length, ending_at=ending_at, start=start, end=end,
                                today=utc_today())
    with client_scope(client) as cl:
        run = _fetch(cl, ids, first, last, variants=variants, steps=steps, names=names,
                     on_error=on_error, progress=progress)
    _warn_parsed(run.parsed)
    frame = to_backend(canvas_frame_from_parsed(run.parsed), backend)
    failures = run.failures
    if run.names_errors:
        _warn_names(run.names_errors)
    if failures and on_error == "warn":
        warn_failures(failures)
    if not run.parsed.n_rows and not failures and not _called_from_inside():
        _warn(no_data_message(len(ids), first, last, what="Canvas"), NoDataWarning)
    if on_error == "collect":
        return FetchResult(frame, failures)
    return frame


class _Run(NamedTuple):
    parsed: CanvasColumns
    failures: list[FetchFailure]
    names_errors: dict[str, BrazeError]


def _fetch(
    client: BrazeClient,
    ids: list[str],
    first: dt.date,
    last: dt.date,
    *,
    variants: bool,
    steps: bool,
    names: bool,
    on_error: OnError,
    progress: bool | None,
) -> _Run:
    details, errors = _read_details(client, ids, CANVAS_DETAILS) if names else ({}, {})
    known = {cid: canvas_names_of(body) for cid, body in details.items()}
    parsed = CanvasColumns()
    failures: list[FetchFailure] = []
    # The Canvas's name as the responses give it: the one of the newest day wins.
    said: dict[str, tuple[dt.date, str]] = {}
    flags: dict[str, str | int | bool] = {
        "include_variant_breakdown": variants, "include_step_breakdown": steps,
        "include_deleted_step_data": True}

    def request(cid: str, window: Window) -> tuple[str, Any]:
        params: dict[str, str | int | bool] = {
            CANVAS_SERIES.id_param or "canvas_id": cid, "length": window.length,
            "ending_at": window.ending_at_param, **flags}
        return cid, client.get(CANVAS_SERIES.path, params)

    def days_of(reply: tuple[str, Any], keep: tuple[dt.date, dt.date] | None) -> CanvasDays:
        cid, body = reply
        days, name = collect_canvas_days(body, cid, keep=keep, parsed=parsed if keep else None)
        if keep is not None and name is not None and days:
            newest = max(days)
            if cid not in said or said[cid][0] <= newest:
                said[cid] = (newest, name)
        return days

    def parse(cid: str, days: CanvasDays) -> None:
        name = said[cid][1] if cid in said else None
        names_of = known.get(cid, CanvasNames())

        def one(some: Mapping[dt.date, Any]) -> None:
            parse_canvas_days(cid, dict(some), into=parsed, canvas_name=name, names=names_of)

        parse_each(parsed, cid, days, one, on_error=on_error, failures=failures)

    failures.extend(fetch_windows(
        client, CANVAS_SERIES, dict.fromkeys(ids, (first, last)), request=request,
        days_of=days_of, parse=parse, on_error=on_error, progress=progress,
        desc="braze canvas/data_series",
    ))
    # A Canvas whose data failed too is reported once, by its failure.
    failed = {f.campaign_id for f in failures}
    return _Run(parsed, failures, {cid: e for cid, e in errors.items() if cid not in failed})


def _warn_names(errors: Mapping[str, BrazeError]) -> None:
    """One ``NamesUnavailableWarning`` for the Canvases whose details could not be read."""
    ids = list(errors)
    shown = ", ".join(ids[:_MOST_NAMED])
    more = f" (and {len(ids) - _MOST_NAMED} more)" if len(ids) > _MOST_NAMED else ""
    if {type(e) for e in errors.values()} <= {PermissionDeniedError}:
        why = ("the API key lacks the canvas.details permission (add it in Settings > APIs and "
               "Identifiers)")
    else:
        first = next(iter(errors.values()))
        why = f"/canvas/details failed: {type(first).__name__}: {first.message}"
    _warn(f"no details for {len(ids)} Canvas(es), {shown}{more}: {why}; the names the responses "
          "give are kept, those only the details know (deleted steps', a missing Canvas name) "
          "stay null; every row is kept", NamesUnavailableWarning)


def list_canvases(
    *,
    client: BrazeClient | None = None,
    include_archived: bool = False,
    edited_since: str | dt.date | dt.datetime | None = None,
    sort_direction: Literal["asc", "desc"] = "desc",
    backend: Backend | None = None,
) -> Any:
    """List Canvases with ``GET /canvas/list``, every page (permission ``canvas.list``).

    Pages hold 100 Canvases and carry no end marker, so paging stops on a short page.

    Args:
        client: A ``BrazeClient``; default from the environment.
        include_archived: Include archived Canvases.
        edited_since: Only Canvases edited after this time (``last_edit.time[gt]``).
        sort_direction: ``"desc"`` (newest first) or ``"asc"``.
        backend: ``None`` gives a list of dicts; ``"polars"`` or ``"pandas"`` a frame.

    Returns:
        The Canvases as Braze describes them (``id``, ``name``, ``last_edited``, ``tags``).

    Examples:
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> with Sandbox(seed=0) as sb, BrazeClient(sb.api_key, sb.url) as client:
        ...     live = list_canvases(client=client)
        ...     every = list_canvases(client=client, include_archived=True)
        >>> len(live), [c["name"] for c in every if c not in live]
        (6, ['Subscription Upsell'])
    """
    check_choice("sort_direction", sort_direction, ("asc", "desc"))
    check_bool("include_archived", include_archived)
    since = _since_param(edited_since)
    if backend is not None:
        check_backend(backend)
    params: dict[str, str | int | bool] = {"include_archived": include_archived,
                                           "sort_direction": sort_direction}
    if since is not None:
        params["last_edit.time[gt]"] = since
    with client_scope(client) as cl:
        canvases = list_pages(lambda page: cl.get(CANVAS_LIST.path, {**params, "page": page}),
                              "canvases")
    return as_listing(canvases, backend)


def canvas_details(canvas_ids: str | Iterable[str], *, client: BrazeClient | None = None) -> Any:
    """Canvases' details from ``GET /canvas/details`` (cached on the client).

    Args:
        canvas_ids: One Canvas id, or several.
        client: A ``BrazeClient``; default from the environment.

    Returns:
        For one id, Braze's body: ``name``, ``variants`` (``id``, ``name``...), ``steps``
        (``id``, ``name``, ``channels``...), ``first_entry``, ``last_entry``,
        ``conversion_behaviors`` (in event order, each ``window`` in seconds)... For a list
        of ids, ``{canvas_id: body}``.

    Raises:
        BrazeError: A request failed (``PermissionDeniedError`` without ``canvas.details``).

    Examples:
        >>> from braze_frames import BrazeClient
        >>> from braze_frames.sandbox import Sandbox
        >>> with Sandbox(seed=0) as sb, BrazeClient(sb.api_key, sb.url) as client:
        ...     one = canvas_details(sb.canvas_ids[0], client=client)
        ...     both = canvas_details(sb.canvas_ids[:2], client=client)
        >>> one["name"], [d["name"] for d in both.values()]
        ('Welcome Journey', ['Welcome Journey', 'Cart Recovery Flow'])
    """
    ids = check_ids(canvas_ids, **_IDS)
    with client_scope(client) as cl:
        if isinstance(canvas_ids, str):
            return cl.details(CANVAS_DETAILS, ids[0])
        calls = [(lambda cid=cid: cl.details(CANVAS_DETAILS, cid)) for cid in ids]
        outcome = run_parallel(calls, workers=cl.max_concurrency, on_error="raise", bar=None)
    return dict(zip(ids, outcome, strict=True))
