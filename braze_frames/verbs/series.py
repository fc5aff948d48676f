"""The workspace series table in the verbs: recognise it, validate it, pivot it.

A series frame (``SERIES_COLUMNS``: metric, key, key_name, app_id, date, value, as
``fetch_series`` returns it) is told from a campaign frame by its columns, so that
``validate`` and ``pivot`` take either; ``series_rates`` (``verbs.series_rates``) gives its
workspace ratios.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import narwhals.stable.v2 as nw
from narwhals.typing import IntoFrameT

from .._errors import TidyFrameError
from .._schema import SERIES_COLUMNS, SERIES_KEY_COLUMNS
from ..endpoints.series import SERIES_KINDS
from ._common import finish, sorted_strings, string_keys, widen, wrap

__all__ = [
    "SERIES_INDEX",
    "SERIES_KEY_SEPARATOR",
    "has_sends",
    "is_series",
    "pivot_series",
    "series_lazy",
    "series_problems",
    "validate_series",
]

#: The row key of a pivoted series frame; every other column is a series.
SERIES_INDEX: Final = ("app_id", "date")
#: A pivoted series' column is ``<metric>`` for a series without key (``dau``, the revenue
#: total) and ``<metric>:<key>`` for a keyed one (``events:signup``). Metrics never hold
#: the separator, so the first one splits the name back (keys may hold it).
SERIES_KEY_SEPARATOR: Final = ":"

_TEXT: Final = ("metric", "key", "key_name", "app_id")
_NULLABLE: Final = frozenset({"key", "key_name", "app_id"})
_MAX_FAILURE_CASES: Final = 100


def is_series(df: Any) -> bool:
    """Say whether a frame (any backend, or a narwhals schema) is a workspace series table.

    Its columns include ``metric``, ``key``, ``app_id``, ``date`` and ``value``, and no
    ``campaign_id`` (a campaign frame's).

    Examples:
        >>> import polars as pl
        >>> is_series(pl.DataFrame(schema=list(SERIES_COLUMNS)))
        True
        >>> is_series(pl.DataFrame(schema=["campaign_id", "metric", "value"]))
        False
    """
    names = set(df) if isinstance(df, Mapping) else set(wrap(df).collect_schema())
    return {"metric", "key", "app_id", "date", "value"} <= names and "campaign_id" not in names


def has_sends(schema: Mapping[str, Any]) -> bool:
    """Whether a campaign frame carries ``send_id`` (``fetch_send_series``), a text column.

    The verbs then keep sends apart: ``send_id`` joins the key, after ``campaign_id``.

    Raises:
        TidyFrameError: ``send_id`` holds something else than text.
    """
    dtype = schema.get("send_id")
    if dtype is None:
        return False
    if dtype not in (nw.String, nw.Categorical, nw.Enum):
        problem = f"send_id has dtype {dtype}, expected String or Categorical (pandas: str or category)"
        raise TidyFrameError(f"not a braze send frame: {problem}", problems=[problem])
    return True


def series_problems(schema: Mapping[str, Any], *, exact: bool,
                    required: Iterable[str] = SERIES_COLUMNS) -> list[str]:
    """What is wrong with a series frame's columns and dtypes (empty when nothing is)."""
    required = list(required)
    problems: list[str] = []
    missing = [c for c in required if c not in schema]
    if missing:
        problems.append(f"missing column{'s' * (len(missing) > 1)}: {', '.join(missing)}")
    if exact:
        extra = [c for c in schema if c not in SERIES_COLUMNS]
        if extra:
            problems.append(f"unexpected column{'s' * (len(extra) > 1)}: {', '.join(extra)}")
        if not missing and not extra and list(schema) != list(SERIES_COLUMNS):
            problems.append(f"columns out of order: {list(schema)}, expected {list(SERIES_COLUMNS)}")
    for name in required:
        dtype = schema.get(name)
        if dtype is None:
            continue
        if name == "value":
            ok, want = dtype == nw.Float64, "Float64 (pandas: float64)"
        elif name == "date":
            ok, want = dtype in (nw.Date, nw.Datetime), "Date, or Datetime for hours"
        else:
            ok = dtype in (nw.String, nw.Categorical, nw.Enum) or (
                name in _NULLABLE and dtype == nw.Unknown)
            want = "String or Categorical (pandas: str or category)"
        if not ok:
            problems.append(f"{name} has dtype {dtype}, expected {want}")
    return problems


def _error(problems: list[str], **extra: Any) -> TidyFrameError:
    return TidyFrameError(
        "not a braze series frame: " + "; ".join(problems), problems=problems,
        hint=(f"a series frame has exactly the columns {list(SERIES_COLUMNS)}, as "
              "braze_frames.fetch_series returns it"), **extra)


def series_lazy(df: Any, required: Iterable[str] = SERIES_COLUMNS) -> tuple[nw.LazyFrame[Any], bool]:
    """Wrap a series frame for a verb: check the columns it needs, go lazy.

    Returns:
        The narwhals LazyFrame, and whether the caller passed an eager frame.

    Raises:
        TidyFrameError: A needed column is missing or has the wrong dtype.
    """
    frame = wrap(df)
    eager = isinstance(frame, nw.DataFrame)
    lazy = frame.lazy()
    problems = series_problems(lazy.collect_schema(), exact=False, required=required)
    if problems:
        raise _error(problems)
    return lazy, eager


def validate_series(df: IntoFrameT) -> IntoFrameT:
    """Check that a frame is a workspace series table and return it unchanged.

    Checks the exact columns of ``SERIES_COLUMNS`` in order, their dtypes (``metric``,
    ``key``, ``key_name``, ``app_id`` String or Categorical; ``date`` Date, or Datetime for
    hours; ``value`` Float64), and that no (metric, key, app_id, date) appears twice.

    Raises:
        TidyFrameError: Naming every problem; duplicated keys are in ``failure_cases``.

    Examples:
        >>> import polars as pl, datetime as dt
        >>> row = {"metric": "dau", "key": None, "key_name": None, "app_id": None,
        ...        "date": dt.date(2025, 6, 1), "value": 5.0}
        >>> validate_series(pl.DataFrame([row, row]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        braze_frames._errors.TidyFrameError: not a braze series frame: 1 duplicated key ...
    """
    frame = wrap(df)
    problems = series_problems(frame.collect_schema(), exact=True)
    if problems:
        raise _error(problems)
    dups = (frame.lazy().group_by(*SERIES_KEY_COLUMNS).agg(nw.len().alias("count"))
            .filter(nw.col("count") > 1).collect())
    if len(dups):
        cases = sorted_strings(dups, ["metric", "key", "app_id"], SERIES_KEY_COLUMNS)
        n = len(cases)
        problem = f"{n} duplicated key{'s' * (n != 1)} ({', '.join(SERIES_KEY_COLUMNS)})"
        raise _error([problem], failure_cases=cases.head(_MAX_FAILURE_CASES).to_native(),
                     n_failure_cases=n)
    return df


def series_columns(pairs: Iterable[tuple[str, str | None]]) -> list[str]:
    """The columns of a pivoted series frame, in order.

    The kinds in ``SERIES_KINDS`` order, then other metrics (a kind's unknown fields) by
    name; within a metric the series without key first, then its keys by name.

    Examples:
        >>> series_columns([("events", "b"), ("mau", None), ("events", "a"), ("dau", None)])
        ['dau', 'mau', 'events:a', 'events:b']
    """
    order = {k: i for i, k in enumerate(SERIES_KINDS)}
    ordered = sorted(set(pairs), key=lambda p: (order.get(p[0], len(order)), p[0], p[1] is not None,
                                                p[1] or ""))
    return [m if k is None else f"{m}{SERIES_KEY_SEPARATOR}{k}" for m, k in ordered]


def pivot_series(df: IntoFrameT) -> IntoFrameT:
    """Spread a series table wide: one row per (app_id, date), one column per series.

    A series without key is named by its metric (``dau``, ``revenue`` for the total over
    every product), a keyed one ``<metric>:<key>`` (``events:signup``,
    ``revenue:premium_plan``, ``segment_size:<segment id>``); null where a series has no
    value that day. ``key_name`` is not carried (it names the key of a column; the long
    table keeps it). Rows are sorted by app_id (all apps first), then date.

    Examples:
        >>> import polars as pl, datetime as dt
        >>> day = dt.date(2025, 6, 1)
        >>> df = pl.DataFrame({"metric": ["dau", "events"], "key": [None, "signup"],
        ...                    "key_name": [None, "signup"], "app_id": [None, None],
        ...                    "date": [day, day], "value": [5.0, 2.0]})
        >>> pivot_series(df).rows(named=True)
        [{'app_id': None, 'date': datetime.date(2025, 6, 1), 'dau': 5.0, 'events:signup': 2.0}]
    """
    lazy, eager = series_lazy(df, required=("metric", "key", "app_id", "date", "value"))
    # Strings first, the library's way: pandas' own cast turns a missing category into "nan".
    lazy = string_keys(lazy.select("metric", "key", "app_id", "date", "value"),
                       ["metric", "key", "app_id"])
    metric, key = nw.col("metric"), nw.col("key")
    label = (nw.when(key.is_null()).then(metric)
             .otherwise(nw.concat_str(metric, nw.lit(SERIES_KEY_SEPARATOR), key)))
    # pandas reads a missing key back as NaN: ask which keys are null instead.
    pairs = lazy.select("metric", "key", key.is_null().alias("_none")).unique().collect()
    names = series_columns((str(m), None if none else str(k)) for m, k, none in pairs.iter_rows())
    long = lazy.select("app_id", "date", label.alias("metric"), "value")
    wide = widen(long, list(SERIES_INDEX), names)
    wide = sorted_strings(wide, ["app_id"], list(SERIES_INDEX))
    result: IntoFrameT = finish(wide, eager)
    return result
