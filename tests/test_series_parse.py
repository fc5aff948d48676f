"""The series parser on hand-written bodies, without any dataframe library."""

from __future__ import annotations

import datetime as dt

import pytest

from braze_frames._errors import UnexpectedResponseError
from braze_frames.endpoints.catalog import BUDGET_HOURLY, BUDGET_HOURLY_SMALL, budget_of, permission_of
from braze_frames.endpoints.parse import ParsedColumns
from braze_frames.endpoints.series import (
    EVENT_LIST,
    PRODUCT_LIST,
    SEGMENT_LIST,
    SERIES_KINDS,
    SeriesColumns,
    list_page,
    parse_series,
    series_days,
)

# One body per kind, as Braze's docs show them (the field named after the kind, or count/size).
FIELDS = {"dau": "dau", "mau": "mau", "new_users": "new_users", "uninstalls": "uninstalls",
          "sessions": "sessions", "events": "count", "revenue": "revenue",
          "purchase_quantity": "purchase_quantity", "segment_size": "size"}


def test_every_kind_is_data() -> None:
    assert list(SERIES_KINDS) == list(FIELDS)
    for name, kind in SERIES_KINDS.items():
        assert kind.field == FIELDS[name]
        assert kind.endpoint.max_length == 100
        assert permission_of(kind.endpoint.path) == kind.endpoint.path.strip("/").replace("/", ".")
    small = {k for k, v in SERIES_KINDS.items() if budget_of(v.endpoint.path) == BUDGET_HOURLY_SMALL}
    assert small == {"revenue", "purchase_quantity"}
    assert budget_of("/events/list") == budget_of("/purchases/product_list") == BUDGET_HOURLY_SMALL
    assert budget_of("/events/data_series") == budget_of("/segments/list") == BUDGET_HOURLY
    assert budget_of("/sends/data_series") == BUDGET_HOURLY
    assert {k for k, v in SERIES_KINDS.items() if v.hourly} == {
        "sessions", "events", "revenue", "purchase_quantity"}
    assert [SERIES_KINDS[k].key_param for k in ("events", "revenue", "segment_size", "dau")] == [
        "event", "product", "segment_id", None]


@pytest.mark.parametrize("name", list(FIELDS))
def test_each_kind_gives_one_row_per_point(name: str) -> None:
    field = FIELDS[name]
    body = {"message": "success", "data": [
        {"time": "2025-06-01", field: 3}, {"time": "2025-06-02", field: 4.5},
        {"time": "2025-06-03", field: None},
    ]}
    cols = SeriesColumns()
    days = series_days(body, keep=(dt.date(2025, 6, 1), dt.date(2025, 6, 3)), unit="day")
    parse_series(cols, SERIES_KINDS[name], "k", "K", days)
    assert cols.values == [3, 4.5]
    assert cols.row_time == [dt.date(2025, 6, d).toordinal() - dt.date(1970, 1, 1).toordinal()
                             for d in (1, 2)]
    assert [cols.series_metric[i] for i in cols.row_series] == [name, name]
    assert (cols.series_key, cols.series_key_name) == (["k"], ["K"])
    assert not cols.notes.repair_count
    assert not cols.notes.unknown_metrics


def test_keep_drops_points_outside_the_window() -> None:
    body = {"data": [{"time": f"2025-06-0{d}", "dau": d} for d in range(1, 8)]}
    days = series_days(body, keep=(dt.date(2025, 6, 2), dt.date(2025, 6, 4)), unit="day")
    assert sorted(days) == [dt.date(2025, 6, d) for d in (2, 3, 4)]


def test_list_pages() -> None:
    notes = ParsedColumns()
    assert list_page({"message": "success", "events": ["a", "b"]}, EVENT_LIST, notes) == ["a", "b"]
    assert list_page({"products": ["p", None, "q"]}, PRODUCT_LIST, notes) == ["p", "q"]
    segments = [{"id": "s1", "name": "All"}, {"id": 5}, "s3", {"id": "s4", "name": None}]
    assert [s["id"] for s in list_page({"segments": segments}, SEGMENT_LIST, notes)] == ["s1", "s4"]
    assert notes.repair_count == 3
    with pytest.raises(UnexpectedResponseError, match="no list 'events'"):
        list_page({"message": "success"}, EVENT_LIST, notes)
