"""``validate``: is this a tidy braze frame (SPEC section 3)?"""

from __future__ import annotations

from typing import Any, Final

import narwhals.stable.v2 as nw
from narwhals.typing import IntoFrameT

from .._errors import TidyFrameError
from .._schema import KEY_COLUMNS, SEND_COLUMNS
from ._common import STRING_COLUMNS, schema_error, schema_problems, sorted_strings, wrap
from .series import has_sends, is_series, validate_series

__all__ = ["validate"]

#: Shown in ``failure_cases``; more would not help anyone read the error.
_MAX_FAILURE_CASES: Final = 100


def validate(df: IntoFrameT) -> IntoFrameT:
    """Check that a frame is a tidy braze frame and return it unchanged.

    Checks, in this order: the exact columns in ``TIDY_COLUMNS`` order (naming missing
    and unexpected ones), their dtypes (the six key and name columns String or Categorical,
    ``date`` Date or Datetime, ``value`` Float64), and that no key (campaign_id, date,
    channel, variation, metric) appears twice. On a lazy frame the key check runs one
    query. A workspace series frame (``fetch_series``) is checked against its own table,
    ``SERIES_COLUMNS`` (``verbs.series.validate_series``); a frame of sends
    (``fetch_send_series``) against ``SEND_COLUMNS``, ``send_id`` in its key.

    Args:
        df: A pandas or polars DataFrame, a polars LazyFrame, or any narwhals frame.

    Returns:
        ``df`` itself, when it is valid.

    Raises:
        TidyFrameError: Naming every problem found; for duplicated keys its
            ``failure_cases`` holds them, with their ``count``.

    Examples:
        >>> from braze_frames._tidy import from_records
        >>> row = ("c1", "2024-07-01", "email", "v1", None, "sent", 10.0)
        >>> validate(from_records([row])).shape
        (1, 8)
        >>> validate(from_records([row, row]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        braze_frames._errors.TidyFrameError: not a tidy braze frame: 1 duplicated key ...
    """
    frame = wrap(df)
    schema: dict[str, Any] = dict(frame.collect_schema())
    if is_series(schema):
        return validate_series(df)
    key = list(KEY_COLUMNS)
    if has_sends(schema):
        if list(schema) != list(SEND_COLUMNS):
            raise schema_error([f"columns {list(schema)}, expected a send frame's {list(SEND_COLUMNS)}"])
        schema = {c: t for c, t in schema.items() if c != "send_id"}
        key.insert(1, "send_id")
    problems = schema_problems(schema, exact=True)
    if problems:
        raise schema_error(problems)
    dups = (
        frame.lazy()
        .group_by(*key)
        .agg(nw.len().alias("count"))
        .filter(nw.col("count") > 1)
        .collect()
    )
    if len(dups):
        cases = sorted_strings(dups, [*STRING_COLUMNS, "send_id"], key)
        n = len(cases)
        keys = ", ".join(key)
        problem = f"{n} duplicated key{'s' if n != 1 else ''} ({keys})"
        raise TidyFrameError(
            f"not a tidy braze frame: {problem}; see .failure_cases",
            problems=[problem],
            failure_cases=cases.head(_MAX_FAILURE_CASES).to_native(),
            n_failure_cases=n,
            hint=(
                "keep one row per key, e.g. df.unique(subset=KEY_COLUMNS, keep='last') in "
                "polars or df.drop_duplicates(subset=KEY_COLUMNS, keep='last') in pandas "
                "(KEY_COLUMNS from braze_frames._schema), or sum them with a group_by."
            ),
        )
    return df
