"""``braze-frames fetch --series``: the workspace series (SPEC section 14) into one file.

``fetch`` hands over here when ``--series`` is given, so that the campaign path stays as
it was and the series' options (keys, app, segment, unit) are read in one place.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import click

from ._support import _client, _rows, _say, _stderr_is_terminal, _write

__all__ = ["fetch_series_command"]


def fetch_series_command(
    series: str,
    *,
    keys: tuple[str, ...],
    app_id: str | None,
    segment_id: str | None,
    unit: str,
    length: int | None,
    ending_at: str | None,
    start: str | None,
    end: str | None,
    rest_endpoint: str | None,
    output: Path,
    backend: str,
    names: bool,
) -> None:
    """Fetch the kinds named in ``series`` (comma-separated) and write them to ``output``."""
    from ..fetch import NoDataWarning
    from ..series import fetch_series

    kinds = [k.strip() for k in series.split(",") if k.strip()]
    if not kinds:
        raise click.UsageError("--series needs kinds, e.g. --series dau,mau")
    with _client(rest_endpoint, needs="kpi.dau.data_series (or the series' own)") as client, \
            warnings.catch_warnings():
        # Said below in this program's terms.
        warnings.simplefilter("ignore", NoDataWarning)
        frame = fetch_series(
            kinds, list(keys) or None, length=length, ending_at=ending_at, start=start, end=end,
            app_id=app_id, segment_id=segment_id, unit=unit,  # type: ignore[arg-type]
            client=client, backend=backend, names=names,  # type: ignore[arg-type]
            progress=_stderr_is_terminal(),
        )
    written = _write(frame, output)
    summary = _summary(frame)
    if summary is None:
        click.echo(f"wrote 0 rows to {written}")
        _say(f"warning: no data for {', '.join(kinds)}: check the keys ('bf.list_events()', "
             "'bf.list_segments()') and that the range lies in the workspace's history")
        return
    click.echo(f"wrote {_rows(frame):,} rows to {written}: {summary}")


def _summary(frame: Any) -> str | None:
    """``dau, mau (2 series), 2025-06-01 .. 2025-06-30``, or None for an empty frame."""
    import narwhals.stable.v2 as nw

    df = nw.from_native(frame, eager_only=True)
    if len(df) == 0:
        return None
    pairs = df.select(nw.col("metric").cast(nw.String), nw.col("key").is_null().alias("_none"),
                      nw.col("key").cast(nw.String)).unique(maintain_order=True)
    metrics = list(dict.fromkeys(str(m) for m in pairs["metric"].to_list()))
    low, high = df.select(nw.col("date").min().alias("lo"), nw.col("date").max().alias("hi")).row(0)
    n = len(pairs)
    return f"{', '.join(metrics)} ({n} series), {low} .. {high}"
