"""fetch_send_series: /sends/data_series in the campaign table, with send_id, both readings.

Values are checked against a plain-Python flattening of the sandbox's own bodies (one
request per send over its whole retained life, read without the library).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import polars as pl
import pytest

import braze_frames as bf
from braze_frames.fetch import NoDataWarning
from braze_frames.sandbox import SEND_RETENTION_DAYS, Sandbox
from braze_frames.series import fetch_send_series

TODAY = dt.date(2025, 6, 30)
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module", params=[False, True], ids=["exclusive", "inclusive"])
def sb(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=TODAY, ending_at_inclusive=request.param) as sandbox:
        yield sandbox


def campaign(sb: Sandbox, name: str) -> Any:
    return next(c for c in sb.catalogue if c.name == name)


def leaves(obj: Any, prefix: str = "") -> list[tuple[str, float]]:
    """Every numeric leaf of a JSON object, named by its path."""
    if isinstance(obj, dict):
        return [leaf for k, v in obj.items() for leaf in leaves(v, f"{prefix}{k}.")]
    if isinstance(obj, list):
        return [leaf for i, v in enumerate(obj) for leaf in leaves(v, f"{prefix}{i}.")]
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return [(prefix, float(obj))]
    return []


def raw_days(sb: Sandbox, cid: str, send_id: str) -> dict[dt.date, dict[str, Any]]:
    """The send's days as the sandbox serves them, asked so that both readings cover today."""
    status, body = sb.handle_request("/sends/data_series", {
        "campaign_id": cid, "send_id": send_id, "length": 30,
        "ending_at": (TODAY + DAY).isoformat()})
    assert status == 200, body
    return {dt.date.fromisoformat(d["time"]): d for d in body["data"]}


@pytest.mark.parametrize("name", ["Daily Digest (API)", "Flash Deal API Push",
                                  "Order Confirmation Webhook"])
def test_every_number_of_every_send_day_is_kept(sb: Sandbox, name: str) -> None:
    c = campaign(sb, name)
    sends = [s for s, sent in sb.send_ids(c.id).items() if sent >= TODAY - 5 * DAY]
    with bf.BrazeClient(sb.api_key, sb.url) as client:
        df = fetch_send_series(c.id, sends, ending_at=TODAY, client=client)
    assert df.columns == list(bf.SEND_COLUMNS)
    assert df["campaign_id"].unique().to_list() == [c.id]
    assert df["campaign_name"].unique().to_list() == [c.name]
    assert df.select("send_id", "date", "channel", "variation", "metric").is_duplicated().sum() == 0
    for send_id in sends:
        days = raw_days(sb, c.id, send_id)
        assert days, send_id
        mine = df.filter(pl.col("send_id") == send_id)
        assert sorted(set(mine["date"].to_list())) == sorted(d for d in days if d >= TODAY - 13 * DAY)
        for date, day in days.items():
            expected = sum(v for _, v in leaves({k: v for k, v in day.items() if k != "time"}))
            got = mine.filter(pl.col("date") == date)["value"].sum()
            assert got == pytest.approx(expected), (send_id, date)


def test_the_default_range_is_the_last_fourteen_days() -> None:
    with Sandbox(seed=0) as sb, bf.BrazeClient(sb.api_key, sb.url) as client:  # today: the real one
        c = campaign(sb, "Daily Digest (API)")
        ids = sb.send_ids(c.id)
        recent = [s for s, sent in ids.items() if sent == sb.today - 3 * DAY]
        old = [s for s, sent in ids.items() if sent == sb.today - 30 * DAY]
        df = fetch_send_series(c.id, recent, client=client)
        assert df["date"].min() == sb.today - 3 * DAY
        assert df["date"].max() <= sb.today
        with pytest.warns(NoDataWarning, match=f"{SEND_RETENTION_DAYS} days"):
            assert fetch_send_series(c.id, old, client=client).is_empty()


def test_names_false_and_pandas(sb: Sandbox) -> None:
    c = campaign(sb, "Flash Deal API Push")
    send = next(s for s, sent in sb.send_ids(c.id).items() if sent == TODAY - 2 * DAY)
    sb.reset_stats()
    with bf.BrazeClient(sb.api_key, sb.url) as client:
        pdf = fetch_send_series(c.id, send, length=3, ending_at=TODAY, client=client, names=False,
                                backend="pandas")
    assert "/campaigns/details" not in sb.stats.by_path
    assert list(pdf.columns) == list(bf.SEND_COLUMNS)
    assert pdf["campaign_name"].isna().all()
    assert set(pdf["metric"].astype(str)) >= {"sent", "delivered", "undelivered", "direct_opens"}


def test_a_campaign_that_is_not_an_api_campaign_is_braze_s_400(sb: Sandbox) -> None:
    other = next(c for c in sb.catalogue if not c.is_api_campaign and c.first_sent)
    with bf.BrazeClient(sb.api_key, sb.url) as client, \
            pytest.raises(bf.BrazeAPIError, match="not an API campaign"):
        fetch_send_series(other.id, "some-send", client=client, names=False)


@pytest.mark.parametrize(
    ("args", "exc", "needle"),
    [(("c1", []), ValueError, "send_ids is empty"), (("", "s"), ValueError, "campaign_id is empty"),
     (("c1", [3]), TypeError, "send ids must be strings")],
)
def test_bad_arguments(args: tuple[Any, ...], exc: type[Exception], needle: str) -> None:
    with bf.BrazeClient("unused-key-0000", "http://127.0.0.1:9") as client, pytest.raises(exc, match=needle):
        fetch_send_series(*args, client=client)


@pytest.mark.parametrize("backend", ["polars", "pandas"])
def test_the_verbs_keep_sends_apart(sb: Sandbox, backend: str) -> None:
    c = campaign(sb, "Daily Digest (API)")
    sends = [s for s, sent in sb.send_ids(c.id).items() if sent >= TODAY - 3 * DAY]
    with bf.BrazeClient(sb.api_key, sb.url) as client:
        df = fetch_send_series(c.id, sends, length=5, ending_at=TODAY, client=client, backend=backend)
    tidy = pl.from_pandas(df) if backend == "pandas" else df
    wide = bf.pivot(df)
    wide = pl.from_pandas(wide) if backend == "pandas" else wide
    assert wide.columns[:3] == ["campaign_id", "campaign_name", "send_id"]
    keys = ["send_id", "date", "channel", "variation"]
    assert len(wide) == tidy.select(keys).n_unique()  # one row per send, never two sends in one
    assert wide.select(pl.exclude(*bf.TIDY_COLUMNS[:6], "send_id")).sum_horizontal().sum() == \
        pytest.approx(tidy["value"].sum())
    daily = bf.pivot(df, layout="channels")
    daily = pl.from_pandas(daily) if backend == "pandas" else daily
    assert daily.columns[:4] == ["campaign_id", "campaign_name", "send_id", "date"]
    assert bf.validate(df) is df
    doubled = pl.concat([tidy, tidy.head(1)])
    with pytest.raises(bf.TidyFrameError, match="1 duplicated key"):
        bf.validate(doubled if backend == "polars" else doubled.to_pandas())
    with pytest.raises(bf.TidyFrameError, match="columns"):
        bf.validate(tidy.select("send_id", *bf.TIDY_COLUMNS))
