"""fetch_data_series end to end against a small local server (no mocks)."""

from __future__ import annotations

import datetime as dt
import warnings

import pandas as pd
import polars as pl
import pytest
from _support_fake_braze import KEY, day_value, fake_braze

import braze_frames as bf


def client_for(url: str, **kw: object) -> bf.BrazeClient:
    return bf.BrazeClient(api_key=KEY, rest_endpoint=url, sleep=lambda s: None, **kw)  # type: ignore[arg-type]


def sent_by_day(df: pl.DataFrame, cid: str) -> dict[dt.date, float]:
    rows = df.filter((pl.col("campaign_id") == cid) & (pl.col("channel") == "email")
                     & (pl.col("metric") == "sent"))
    return dict(zip(rows["date"].to_list(), rows["value"].to_list(), strict=True))


@pytest.mark.parametrize("inclusive", [True, False])
@pytest.mark.parametrize("length", [1, 7, 99, 100, 101, 250])
def test_exact_days_whatever_the_servers_reading(inclusive: bool, length: int) -> None:
    end = dt.date(2025, 6, 30)
    with fake_braze(inclusive=inclusive) as fb, client_for(fb.url) as client:
        df = bf.fetch_data_series(["c1", "c2"], length=length, ending_at=end, client=client)
    wanted = [end - dt.timedelta(days=i) for i in range(length)]
    for cid in ("c1", "c2"):
        got = sent_by_day(df, cid)
        assert sorted(got) == sorted(wanted)
        assert all(got[d] == day_value(cid, d) for d in wanted)
    key = ["campaign_id", "date", "channel", "variation", "metric"]
    assert df.select(key).is_duplicated().sum() == 0


def test_reading_is_learned_and_saves_requests() -> None:
    with fake_braze(inclusive=False) as fb, client_for(fb.url) as client:
        bf.fetch_data_series("c1", start="2025-01-01", end="2025-12-31", client=client)
        first_job = len(fb.requests)
        assert client.window_reading == "exclusive"  # type: ignore[attr-defined]
        fb.requests.clear()
        bf.fetch_data_series("c1", length=100, ending_at="2025-06-30", client=client)
        assert len(fb.requests) == 1  # exact 100-day window now
    assert first_job == 4  # 365 days: one probe of 99 days, then exact 100-day windows


def test_backends_agree_and_have_spec_dtypes() -> None:
    with fake_braze() as fb, client_for(fb.url) as client:
        pdf = bf.fetch_data_series("c1", length=5, ending_at="2025-01-05", client=client,
                                   backend="pandas")
        df = bf.fetch_data_series("c1", length=5, ending_at="2025-01-05", client=client)
    assert isinstance(pdf, pd.DataFrame) and isinstance(df, pl.DataFrame)
    assert list(pdf.columns) == list(bf.TIDY_COLUMNS) == df.columns
    assert df.schema["date"] == pl.Date and df.schema["value"] == pl.Float64
    assert str(pdf["value"].dtype) == "float64" and str(pdf["date"].dtype).startswith("datetime64")
    back = pl.from_pandas(pdf).with_columns(pl.col("date").cast(pl.Date))
    assert back.cast(df.schema).equals(df)


@pytest.mark.parametrize(
    ("args", "kwargs", "exc"),
    [
        ((123,), {"length": 1}, TypeError),
        (([],), {"length": 1}, ValueError),
        ((["ok", 5],), {"length": 1}, TypeError),
        (("c",), {"length": 0}, ValueError),
        (("c",), {"start": "2025-02-01", "end": "2025-01-01"}, ValueError),
        (("c",), {"start": "not-a-date"}, ValueError),
        (("c",), {"length": 1, "backend": "spark"}, ValueError),
        (("c",), {"length": 1, "on_error": "ignore"}, ValueError),
    ],
)
def test_bad_arguments_fail_before_any_request(args: tuple[object, ...], kwargs: dict[str, object],
                                                exc: type[Exception]) -> None:
    with fake_braze() as fb, client_for(fb.url) as client:
        with pytest.raises(exc):
            bf.fetch_data_series(*args, client=client, **kwargs)  # type: ignore[arg-type]
        assert fb.requests == []


def test_unknown_fields_warn_once_naming_all() -> None:
    body = {"message": "success", "data": [
        {"time": f"2025-01-0{d}", "new_metric": 1,
         "messages": {"email": [{"variation_api_id": "v", "sent": 1, "other_new": 2}],
                      "holo": [{"variation_api_id": "h", "beams": 1}]}} for d in (1, 2, 3)]}
    with (fake_braze(bodies={"c1": body}) as fb, client_for(fb.url) as client,
          warnings.catch_warnings(record=True) as caught):
        warnings.simplefilter("always")
        df = bf.fetch_data_series("c1", length=3, ending_at="2025-01-03", client=client)
    unknown = [w for w in caught if issubclass(w.category, bf.UnknownFieldWarning)]
    assert len(unknown) == 1
    text = str(unknown[0].message)
    assert "holo" in text and "email.other_new" in text and "all.new_metric" in text
    assert df.height == 3 * 4


def test_on_error_collect_and_warn() -> None:
    with fake_braze(failing={"bad"}) as fb, client_for(fb.url) as client:
        result = bf.fetch_data_series(["c1", "bad"], length=3, ending_at="2025-01-03",
                                      client=client, on_error="collect")
        assert isinstance(result, bf.FetchResult)
        assert [f.campaign_id for f in result.failures] == ["bad"]
        assert isinstance(result.failures[0].error, bf.BrazeAPIError)
        assert set(result.frame["campaign_id"].cast(pl.String)) == {"c1"}
        with pytest.warns(bf.FetchFailedWarning, match="bad"):
            df = bf.fetch_data_series(["c1", "bad"], length=3, ending_at="2025-01-03",
                                      client=client, on_error="warn")
        assert df.height == result.frame.height
        with pytest.raises(bf.BrazeAPIError, match="Invalid campaign_id"):
            bf.fetch_data_series(["c1", "bad"], length=3, ending_at="2025-01-03", client=client)


def test_client_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with fake_braze() as fb:
        monkeypatch.setenv("BRAZE_API_KEY", KEY)
        monkeypatch.setenv("BRAZE_REST_ENDPOINT", fb.url)
        df = bf.fetch_data_series("c1", length=2, ending_at="2025-01-02")
    assert df.height > 0


def test_missing_key_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BRAZE_API_KEY", raising=False)
    monkeypatch.setenv("BRAZE_REST_ENDPOINT", "US-01")
    with pytest.raises(bf.ConfigError, match="BRAZE_API_KEY"):
        bf.fetch_data_series("c1", length=2)


def test_loopback_endpoints_ignore_environment_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy that refuses every connection: reaching the local server must not go through it.
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with fake_braze() as fb, client_for(fb.url, max_retries=0) as client:
        df = bf.fetch_data_series("c1", length=2, ending_at="2025-01-02", client=client)
    assert df.height > 0
