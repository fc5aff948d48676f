"""pivot's numpy path leaves out name columns their id determines; it must still equal the plan.

Names usually follow their ids (one campaign, one name), and then they add nothing to the
group numbers; when a campaign or a variation was renamed, they do. Random frames with
both cases, eager (the numpy path) against lazy (the narwhals plan), exactly.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from braze_frames._tidy import from_records
from braze_frames.verbs.pivot import pivot


@st.composite
def named_rows(draw: st.DrawFn) -> list[tuple[object, ...]]:
    renamed = draw(st.booleans())
    row = st.tuples(
        st.sampled_from(["c1", "c2", "c3"]),
        st.sampled_from([dt.date(2024, 7, 1) + dt.timedelta(days=i) for i in range(4)]),
        st.sampled_from(["email", "all", "webhook"]),
        st.sampled_from(["v1", "v2", None]),
        st.sampled_from(["sent", "opens", "conversions"]),
        st.integers(0, 9),
        st.integers(0, 2),
    )
    drawn = draw(st.lists(row, max_size=40, unique_by=lambda r: (r[0], r[1], r[2], r[3], r[4])))
    rows = []
    for campaign, day, channel, variation, metric, value, alias in drawn:
        # Renamed: a campaign and a variation carry one of several names on different rows.
        suffix = f" {alias}" if renamed else ""
        campaign_name = f"Campaign {campaign}{suffix}" if campaign != "c3" else None
        variation_name = None if variation is None else f"Name {variation}{suffix}"
        rows.append((campaign, campaign_name, day, channel, variation, variation_name, metric, float(value)))
    return rows


@given(rows=named_rows())
def test_the_numpy_path_equals_the_plan(rows: list[tuple[object, ...]]) -> None:
    frame = from_records(rows)
    expected = pivot(frame.lazy()).collect()
    assert isinstance(expected, pl.DataFrame)
    assert_frame_equal(pivot(frame), expected, check_exact=True)
