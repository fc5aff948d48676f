"""Canvas analytics end to end (SPEC section 12): rows, windows, oddities, names, lists.

Every row is checked against an independent flattening of the very bodies Braze (here the
sandbox) serves (``_support_canvas.expect_canvas``, written from the SPEC, not from the
library's parser), and the numbers against the sandbox's simulated truth. Both backends,
both readings of ``ending_at``.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections import Counter
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest
from _support_canvas import Row, expect_canvas
from _support_http import RecordedRequest, Reply, ScriptedServer

import braze_frames as bf
from braze_frames._errors import DataRepairWarning, UnknownFieldWarning
from braze_frames.endpoints.catalog import BUDGET_HOURLY, budget_of
from braze_frames.fetch import FetchResult, NamesUnavailableWarning, NoDataWarning
from braze_frames.sandbox import CANVAS_ODDITIES, Sandbox

TODAY = dt.date(2025, 6, 30)
CS = "/canvas/data_series"
KEYS = list(bf.CANVAS_COLUMNS[:-1])
#: Covers every Canvas's life in the catalogue, the deleted step's deletion included.
FIRST = TODAY - dt.timedelta(days=380)
FullRow = tuple[Any, ...]


@pytest.fixture(scope="module", params=[False, True], ids=["exclusive", "inclusive"])
def served(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=TODAY, ending_at_inclusive=request.param) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=TODAY) as sandbox:
        yield sandbox


def client_for(url: str, key: str, **kw: Any) -> bf.BrazeClient:
    return bf.BrazeClient(api_key=key, rest_endpoint=url, sleep=lambda s: None, **kw)


def windows(sb: Sandbox, first: dt.date, last: dt.date) -> Iterator[tuple[dt.date, dt.date, dict[str, str]]]:
    """Non-overlapping 14-day requests for the sandbox's own reading of ending_at."""
    b = last
    while b >= first:
        a = max(first, b - dt.timedelta(days=13))
        end = b if sb.ending_at_inclusive else b + dt.timedelta(days=1)
        yield a, b, {"length": str((b - a).days + 1), "ending_at": end.isoformat()}
        b = a - dt.timedelta(days=1)


def reference(sb: Sandbox, canvas_id: str, first: dt.date, last: dt.date, *, variants: bool = True,
              steps: bool = True) -> list[FullRow]:
    """The rows of the bodies a plain client gets, flattened by the independent reading."""
    rows: list[FullRow] = []
    name = None
    for a, b, params in windows(sb, first, last):
        status, body = sb.handle_request(CS, {
            "canvas_id": canvas_id, **params, "include_variant_breakdown": str(variants).lower(),
            "include_step_breakdown": str(steps).lower(), "include_deleted_step_data": "true"})
        assert status == 200, body
        expected = expect_canvas(body, canvas_id, (a, b))
        name = name or expected.name
        rows.extend(expected.rows)
    return [(canvas_id, name, *row) for row in rows]


def rows_of(frame: Any) -> list[FullRow]:
    """A Canvas frame's rows as plain Python values, from either backend."""
    if not isinstance(frame, pl.DataFrame):
        frame = pl.from_pandas(frame).with_columns(pl.col("date").cast(pl.Date))
    assert frame.columns == list(bf.CANVAS_COLUMNS)
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String)).rows()


def fetch(sb: Sandbox, ids: str | list[str], **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataRepairWarning)
        with client_for(sb.url, sb.api_key) as client:
            return bf.fetch_canvas_series(ids, client=client, **kw)


def canvas_at(sb: Sandbox, oddity: str) -> str:
    return sb.canvas_ids[CANVAS_ODDITIES[oddity][0]]


# ------------------------------------------------------------------------------ the rows


@pytest.mark.parametrize("backend", ["polars", "pandas"])
def test_rows_are_the_served_bodies_flattened(served: Sandbox, backend: str) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with client_for(served.url, served.api_key) as client:
            frame = bf.fetch_canvas_series(served.canvas_ids, start=FIRST, end=TODAY, client=client,
                                           backend=backend)  # type: ignore[arg-type]
    expected = [row for cid in served.canvas_ids for row in reference(served, cid, FIRST, TODAY)]
    got = rows_of(frame)
    assert Counter(got) == Counter(expected)
    assert len(expected) > 50_000
    # No key twice, and every key column is where SPEC 12 puts it.
    assert len({r[:1] + r[2:4] + r[5:6] + r[7:9] for r in got}) == len(got)
    kinds = {(r[3] is None, r[5] is None, r[7] == "all") for r in got}
    assert kinds == {(True, True, True), (False, True, True), (True, False, True), (True, False, False)}
    categories = [w.category for w in caught]
    assert categories.count(DataRepairWarning) == 1  # two emails in one step, a step without id
    assert UnknownFieldWarning not in categories


def test_dtypes_on_both_backends(sb: Sandbox) -> None:
    polars_frame = fetch(sb, sb.canvas_ids[1], length=14, ending_at=TODAY)
    assert polars_frame.schema == pl.Schema(bf._tidy.CANVAS_POLARS_SCHEMA)
    pandas_frame = fetch(sb, sb.canvas_ids[1], length=14, ending_at=TODAY, backend="pandas")
    dtypes = {c: str(t) for c, t in pandas_frame.dtypes.items()}
    assert dtypes.pop("date").startswith("datetime64")
    assert dtypes.pop("value") == "float64"
    assert set(dtypes.values()) == {"category"}


def test_numbers_are_the_simulated_truth(sb: Sandbox) -> None:
    frame = fetch(sb, sb.canvas_ids, start=FIRST, end=TODAY)
    text = frame.with_columns(pl.col(pl.Categorical).cast(pl.String))
    for cid in sb.canvas_ids:
        truth = sb.canvas_truth(cid)
        days = [d for d in truth.dates if d >= FIRST]
        if not days:
            continue
        rows = text.filter(pl.col("canvas_id") == cid, pl.col("step").is_null(), pl.col("channel") == "all")

        def series(metric: str, variant: str | None, rows: pl.DataFrame = rows) -> dict[dt.date, float]:
            which = pl.col("variant").is_null() if variant is None else pl.col("variant") == variant
            picked = rows.filter(pl.col("metric") == metric, which)
            return dict(zip(picked["date"], picked["value"], strict=True))

        for variant in [None, *[v.id for v in sb.canvas(cid).variants]]:
            entries = truth.entries(variant)
            by_conversion = truth.conversions(0, variant, by="conversion")
            by_entry = truth.conversions(0, variant, by="entry")
            got_entries = series("entries", variant)
            got_conv = series("conversions", variant)
            got_entry = series("conversions_by_entry_time", variant)
            for day in days:
                # A day whose totals are all zero may come as {} (no rows): zero, not missing data.
                assert got_entries.get(day, 0.0) == entries.get(day, 0), (cid, variant, day)
                assert got_conv.get(day, 0.0) == by_conversion.get(day, 0), (cid, variant, day)
                assert got_entry.get(day, 0.0) == by_entry.get(day, 0), (cid, variant, day)


# ------------------------------------------------------------------------------- windows


@pytest.mark.parametrize("inclusive", [False, True])
def test_windows_of_14_days_learned_per_endpoint(inclusive: bool) -> None:
    """28 days: one 13-day request while the reading is unknown, then exact 14-day ones."""
    with Sandbox(seed=0, today=TODAY, ending_at_inclusive=inclusive) as sandbox:
        cid = sandbox.canvas_ids[0]
        seen: list[RecordedRequest] = []

        def proxy(request: RecordedRequest) -> Reply:
            seen.append(request)
            status, body = sandbox.handle_request(request.path, request.query)
            return Reply.json(body, status)

        with ScriptedServer(handler=proxy) as server, client_for(server.url, "any-key") as client:
            frame = fetch_quiet(client, cid, length=28, ending_at=TODAY)
            assert client.window_readings == {CS: "inclusive" if inclusive else "exclusive"}
            series = [r for r in seen if r.path == CS]
            assert [int(r.query["length"]) for r in series][:1] == [14]  # 13 days and a margin
            assert len(series) == 3
            again = fetch_quiet(client, cid, length=28, ending_at=TODAY)
            assert len([r for r in seen if r.path == CS]) == 3 + 2  # exact windows now
    assert frame["date"].n_unique() == 28
    assert frame["date"].min() == TODAY - dt.timedelta(days=27)
    assert frame.equals(again)
    for request in series:
        assert request.query["include_deleted_step_data"] == "true"
        assert request.query["include_variant_breakdown"] == "true"
        assert request.query["include_step_breakdown"] == "true"
        assert int(request.query["length"]) <= 14


def fetch_quiet(client: bf.BrazeClient, ids: str | list[str], **kw: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataRepairWarning)
        return bf.fetch_canvas_series(ids, client=client, **kw)


def test_length_alone_ends_today() -> None:
    today = dt.datetime.now(dt.timezone.utc).date()
    with Sandbox(seed=0, today=today) as sandbox, client_for(sandbox.url, sandbox.api_key) as client:
        frame = fetch_quiet(client, sandbox.canvas_ids[0], length=20)
    days = sorted(set(frame["date"]))
    assert days == [today - dt.timedelta(days=19 - i) for i in range(20)]


def test_breakdowns_follow_variants_and_steps(sb: Sandbox) -> None:
    cid = sb.canvas_ids[1]
    first = TODAY - dt.timedelta(days=40)
    for variants, steps in [(False, False), (True, False), (False, True)]:
        frame = fetch(sb, cid, start=first, end=TODAY - dt.timedelta(days=5), variants=variants,
                      steps=steps)
        assert Counter(rows_of(frame)) == Counter(
            reference(sb, cid, first, TODAY - dt.timedelta(days=5), variants=variants, steps=steps))
        assert (frame["variant"].null_count() < frame.height) == variants
        assert (frame["step"].null_count() < frame.height) == steps


def test_shares_the_hourly_budget_with_lists_and_details(sb: Sandbox) -> None:
    for path in (CS, "/canvas/list", "/canvas/details", "/campaigns/details"):
        assert budget_of(path) == BUDGET_HOURLY
    with client_for(sb.url, sb.api_key) as client:
        fetch_quiet(client, sb.canvas_ids[:2], length=30, ending_at=TODAY)
        bf.campaign_details(sb.campaign_ids[0], client=client)
        spent = client.stats.requests
        budget = client._limiter.budget(BUDGET_HOURLY)
    # One bucket counts every request of the family, as the server's headers do.
    assert budget.limit == sb.hourly_limit
    assert budget.remaining is not None
    assert budget.remaining <= sb.hourly_limit - spent


# ------------------------------------------------------------------------------ oddities


def text_frame(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String))


def test_multi_entry_channel_keeps_both_emails_in_order(sb: Sandbox) -> None:
    cid = canvas_at(sb, "multi_entry_channel")
    with client_for(sb.url, sb.api_key) as client, pytest.warns(DataRepairWarning, match=r"email#2"):
        frame = text_frame(bf.fetch_canvas_series(cid, length=10, ending_at=TODAY, client=client))
    step = next(s for s in sb.canvas(cid).steps if s.entries_per_channel == 2)
    emails = frame.filter(pl.col("step") == step.id, pl.col("channel").str.starts_with("email"))
    assert set(emails["channel"]) == {"email", "email#2"}
    day = TODAY - dt.timedelta(days=3)
    served = sb.canvas_truth(cid).days[day]["step_stats"][step.id]["messages"]["email"]
    for channel, entry in zip(("email", "email#2"), served, strict=True):
        got = emails.filter(pl.col("date") == day, pl.col("channel") == channel)
        assert dict(zip(got["metric"], got["value"], strict=True)) == {
            k: float(v) for k, v in entry.items() if v is not None}


def test_list_shaped_stats_give_the_same_ids(sb: Sandbox) -> None:
    for cid in (sb.canvas_ids[i] for i in CANVAS_ODDITIES["list_stats"]):
        canvas = sb.canvas(cid)
        last = canvas.last_entry
        assert last is not None
        frame = text_frame(fetch(sb, cid, length=14, ending_at=last))
        assert set(frame["variant"].drop_nulls()) == {v.id for v in canvas.variants}
        named = {s.id: s.name for s in canvas.steps if s.name != "Push Nudge"}
        steps = frame.filter(pl.col("step").is_not_null()).select("step", "step_name").unique()
        assert {k: v for k, v in steps.rows() if not k.startswith("#")} == named


def test_entry_without_id_is_numbered_by_position(sb: Sandbox) -> None:
    cid = canvas_at(sb, "anonymous_entry")
    canvas = sb.canvas(cid)
    assert canvas.last_entry is not None
    with client_for(sb.url, sb.api_key) as client, \
            pytest.warns(DataRepairWarning, match="neither api_id nor id"):
        frame = text_frame(bf.fetch_canvas_series(cid, length=14, ending_at=canvas.last_entry,
                                                  client=client))
    position = [s.name for s in canvas.steps].index("Push Nudge") + 1
    nudge = frame.filter(pl.col("step_name") == "Push Nudge")
    assert set(nudge["step"]) == {f"#{position}"}
    assert set(nudge["channel"]) == {"all", "web_push"}


def test_time_suffix_and_data_as_a_list(sb: Sandbox) -> None:
    for oddity in ("time_suffix", "data_list"):
        cid = canvas_at(sb, oddity)
        last = sb.canvas(cid).last_entry
        assert last is not None
        frame = fetch(sb, cid, length=14, ending_at=last)
        assert sorted(set(frame["date"])) == [last - dt.timedelta(days=13 - i) for i in range(14)]
        assert frame["canvas_name"].cast(pl.String).unique().to_list() == [sb.canvas(cid).name]


def test_empty_totals_give_no_rows_not_zeros(sb: Sandbox) -> None:
    cid = canvas_at(sb, "empty_totals")
    frame = text_frame(fetch(sb, cid, length=14, ending_at=TODAY - dt.timedelta(days=2)))
    totals = frame.filter(pl.col("variant").is_null(), pl.col("step").is_null())
    with_totals = set(totals["date"])
    truth = sb.canvas_truth(cid)
    for day in set(frame["date"]) | with_totals:
        assert (day in with_totals) == any(truth.days[day]["total_stats"].values())
    assert 0 < len(with_totals) < 14
    assert (totals["value"] != 0).any()


def test_deleted_step_is_history_until_it_was_deleted(sb: Sandbox) -> None:
    cid = canvas_at(sb, "deleted_step")
    step = next(s for s in sb.canvas(cid).steps if s.deleted_on is not None)
    assert step.deleted_on is not None
    frame = text_frame(fetch(sb, cid, start=step.deleted_on - dt.timedelta(days=20),
                             end=step.deleted_on + dt.timedelta(days=20)))
    rows = frame.filter(pl.col("step") == step.id)
    assert rows.height > 0
    assert rows["date"].max() < step.deleted_on
    assert set(rows["step_name"]) == {step.name}
    assert set(rows["channel"]) == {"all", "sms"}


# ------------------------------------------------------------------------------- names


def body_of(days: list[dict[str, Any]], name: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"stats": days}
    if name is not None:
        data["name"] = name
    return {"data": data, "message": "success"}


DAY = {"time": "2025-06-29", "total_stats": {"entries": 5, "conversions": 1},
       "variant_stats": {"v1": {"name": "Variant A", "entries": 5}, "v2": {"entries": 0}},
       "step_stats": {"s1": {"name": "Email", "revenue": 2.5, "messages": {"email": [{"sent": 4}]}},
                      "s2": {"conversions": 1}}}
DETAILS = {"name": "From Details", "message": "success",
           "variants": [{"id": "v1", "name": "Renamed A"}, {"id": "v2", "name": "Variant B"}],
           "steps": [{"id": "s1", "name": "Email (renamed)"}, {"id": "s3", "name": "Other"}]}


def scripted(routes: dict[str, Any]) -> ScriptedServer:
    def handler(request: RecordedRequest) -> Reply:
        answer = routes.get(request.path)
        if answer is None:
            return Reply.json({"message": f"no route {request.path}"}, 404)
        return answer if isinstance(answer, Reply) else Reply.json(answer)

    return ScriptedServer(handler=handler)


@pytest.mark.parametrize("names", [True, False])
def test_response_names_kept_details_fill_the_rest(names: bool) -> None:
    with scripted({CS: body_of([DAY]), "/canvas/details": DETAILS}) as server, \
            client_for(server.url, "k") as client:
        frame = text_frame(bf.fetch_canvas_series("k1", length=1, ending_at="2025-06-29",
                                                  client=client, names=names))
        asked = Counter(r.path for r in server.requests)
    assert asked["/canvas/details"] == (1 if names else 0)
    pairs = frame.select(key=pl.coalesce("variant", "step"), name=pl.coalesce("variant_name", "step_name"))
    got = dict(pairs.filter(pl.col("key").is_not_null()).unique().rows())
    # The response's names win; details fill only what the response lacks.
    assert got == ({"v1": "Variant A", "v2": "Variant B", "s1": "Email", "s2": None}
                   if names else {"v1": "Variant A", "v2": None, "s1": "Email", "s2": None})
    assert frame["canvas_name"].unique().to_list() == (["From Details"] if names else [None])


def test_response_name_wins_over_details() -> None:
    with scripted({CS: body_of([DAY], name="Served Name"), "/canvas/details": DETAILS}) as server, \
            client_for(server.url, "k") as client:
        frame = bf.fetch_canvas_series("k1", length=1, ending_at="2025-06-29", client=client)
    assert frame["canvas_name"].cast(pl.String).unique().to_list() == ["Served Name"]


def test_without_details_permission_rows_and_served_names_stay(sb: Sandbox) -> None:
    key = sb.key_with("canvas.data_series")
    cid = sb.canvas_ids[1]
    with client_for(sb.url, key) as client, pytest.warns(NamesUnavailableWarning, match="canvas.details"):
        frame = bf.fetch_canvas_series(cid, length=7, ending_at=TODAY - dt.timedelta(days=5),
                                       client=client)
    assert frame.height > 0
    assert frame["canvas_name"].cast(pl.String).unique().to_list() == ["Cart Recovery Flow"]
    assert frame.filter(pl.col("variant").is_not_null())["variant_name"].null_count() == 0


# ------------------------------------------------------------------------------ failures


def test_malformed_day_is_a_failure_of_that_day_only() -> None:
    bad = {"time": "2025-06-28", "step_stats": {"s1": 7}}
    with scripted({CS: body_of([DAY, bad]), "/canvas/details": DETAILS}) as server, \
            client_for(server.url, "k") as client:
        result = bf.fetch_canvas_series("k1", start="2025-06-28", end="2025-06-29", client=client,
                                        on_error="collect")
        with pytest.raises(bf.UnexpectedResponseError, match="step_stats"):
            bf.fetch_canvas_series("k1", start="2025-06-28", end="2025-06-29", client=client)
    assert isinstance(result, FetchResult)
    assert [(f.campaign_id, f.first, f.last) for f in result.failures] == [
        ("k1", dt.date(2025, 6, 28), dt.date(2025, 6, 28))]
    assert set(result.frame["date"]) == {dt.date(2025, 6, 29)}


def test_no_data_warns_with_the_days_asked_for(sb: Sandbox) -> None:
    draft = next(c.id for c in sb.canvases if c.first_entry is None)
    with client_for(sb.url, sb.api_key) as client, pytest.warns(NoDataWarning, match="1 Canvas from"):
        frame = bf.fetch_canvas_series(draft, length=3, ending_at=TODAY, client=client)
    assert frame.height == 0
    assert frame.columns == list(bf.CANVAS_COLUMNS)


@pytest.mark.parametrize(("args", "kwargs", "error"), [
    ((), {"length": 3}, TypeError),
    (([],), {"length": 3}, ValueError),
    (("k1",), {}, ValueError),
    (("k1",), {"length": 3, "variants": "yes"}, TypeError),
    (("k1",), {"length": 3, "backend": "arrow"}, ValueError),
    (("k1",), {"length": 3, "on_error": "ignore"}, ValueError),
])
def test_bad_arguments_fail_before_any_request(args: tuple[Any, ...], kwargs: dict[str, Any],
                                               error: type[Exception]) -> None:
    with ScriptedServer() as server, client_for(server.url, "k") as client, pytest.raises(error):
        bf.fetch_canvas_series(*args, client=client, **kwargs)
    assert server.requests == []


# --------------------------------------------------------------------- list and details


def test_list_canvases_pages_until_a_short_page() -> None:
    pages = [[{"id": f"k{p}-{i}", "name": f"Canvas {p}.{i}"} for i in range(n)] for p, n in
             enumerate([100, 100, 3])]
    with ScriptedServer() as server, client_for(server.url, "k") as client:
        server.enqueue(*(Reply.json({"canvases": page, "message": "success"}) for page in pages))
        listed = bf.list_canvases(client=client, include_archived=True, edited_since=dt.date(2025, 1, 1))
    assert [r.query["page"] for r in server.requests] == ["0", "1", "2"]
    assert {r.path for r in server.requests} == {"/canvas/list"}
    assert server.requests[0].query["include_archived"] == "true"
    assert server.requests[0].query["last_edit.time[gt]"] == "2025-01-01T00:00:00+00:00"
    assert len(listed) == 203


def test_list_and_details_against_the_sandbox(sb: Sandbox) -> None:
    with client_for(sb.url, sb.api_key) as client:
        frame = bf.list_canvases(client=client, include_archived=True, backend="polars")
        details = bf.canvas_details(sb.canvas_ids, client=client)
        before = client.stats.requests
        again = bf.canvas_details(sb.canvas_ids[0], client=client)
        assert client.stats.requests == before  # cached on the client
    assert sorted(frame["id"]) == sorted(sb.canvas_ids)
    assert list(details) == sb.canvas_ids
    assert [d["name"] for d in details.values()] == [c.name for c in sb.canvases]
    assert again == details[sb.canvas_ids[0]]


def test_stream_of_windows_is_parsed_without_a_frame_library() -> None:
    # The parser yields plain columns (tests/test_layout.py checks its imports).
    from braze_frames.endpoints.canvas import collect_canvas_days, parse_canvas_days

    days, name = collect_canvas_days(body_of([DAY], name="N"), "k1")
    cols = parse_canvas_days("k1", days, canvas_name=name)
    expected: list[Row] = expect_canvas(body_of([DAY], name="N"), "k1").rows
    got = [(d, *k, m, float(v)) for d, k, m, v in zip(
        [d for d, n in zip(cols.seg_date, cols.seg_count, strict=True) for _ in range(n)],
        [k for k, n in zip(cols.seg_keys, cols.seg_count, strict=True) for _ in range(n)],
        cols.metric, cols.value, strict=True)]
    assert got == expected
