"""The ``braze`` accessor: registration (without importing pandas), statelessness, and
that every method is the function of the same name."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
from _support_frames import assert_same, tidy

import braze_frames
from braze_frames import TidyFrameError, accessor
from braze_frames.storage import parquet as _parquet
from braze_frames.verbs.pivot import pivot, unpivot
from braze_frames.verbs.rates import rates
from braze_frames.verbs.reconcile import reconcile

ROWS = [
    ("c1", "2024-07-01", "all", None, None, "conversions", 3.0),
    ("c1", "2024-07-01", "all", None, None, "conversions_by_send_time", 4.0),
    ("c1", "2024-07-01", "all", None, None, "unique_recipients", 40.0),
    ("c1", "2024-07-02", "all", None, None, "conversions", 1.0),
    ("c1", "2024-07-01", "webhook", "v1", "A", "sent", 10.0),
    ("c1", "2024-07-01", "webhook", "v1", "A", "errors", 1.0),
]


def run_python(code: str) -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_importing_braze_frames_does_not_import_pandas() -> None:
    run_python("import braze_frames, sys; assert 'pandas' not in sys.modules")


def test_register_without_pandas_then_pandas_gets_the_accessor() -> None:
    run_python(
        "import sys\n"
        "import braze_frames.accessor as a\n"
        "a.register(); a.register()\n"
        "assert 'pandas' not in sys.modules\n"
        "import polars as pl\n"
        "assert pl.DataFrame.braze is a.BrazeAccessor\n"
        "assert pl.LazyFrame.braze is a.BrazeAccessor\n"
        "import pandas as pd\n"
        "assert pd.DataFrame.braze is a.BrazeAccessor\n"
        "assert not any(type(f).__name__ == '_PandasImportHook' for f in sys.meta_path)\n"
        "assert pd.__spec__.loader is not None and 'RegisterAfterLoad' not in repr(pd.__loader__)\n"
        "assert hasattr(pd.DataFrame({'a': [1]}), 'braze')\n"
    )


def test_registered_on_every_frame_type() -> None:
    assert pl.DataFrame.braze is braze_frames.BrazeAccessor  # type: ignore[attr-defined]
    assert pl.LazyFrame.braze is braze_frames.BrazeAccessor  # type: ignore[attr-defined]
    assert pd.DataFrame.braze is braze_frames.BrazeAccessor  # type: ignore[attr-defined]


def test_registering_again_is_silent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        accessor.register()
        accessor.register()
        accessor._register_pandas()
    assert pd.DataFrame.braze is accessor.BrazeAccessor  # type: ignore[attr-defined]


def test_accessor_is_stateless(backend: str) -> None:
    df = tidy(ROWS, backend)
    ns = df.braze
    ns.rates()
    ns.pivot()
    assert vars(ns) == {"_df": df}


def test_methods_are_the_functions(backend: str) -> None:
    df = tidy(ROWS, backend)
    assert df.braze.validate() is df
    assert_same(df.braze.pivot(), pivot(df))
    assert_same(df.braze.pivot(layout="channels"), pivot(df, layout="channels"))
    assert_same(df.braze.pivot().braze.unpivot(), unpivot(pivot(df)))
    assert_same(df.braze.rates("total", ("campaign_id",)), rates(df, "total", ("campaign_id",)))
    assert_same(df.braze.rates(rates=["error_rate"]), rates(df, rates=["error_rate"]))
    assert_same(df.braze.reconcile(), reconcile(df))
    assert_same(
        df.braze.reconcile(summary=True, window_days=2), reconcile(df, summary=True, window_days=2)
    )
    assert_same(df.braze.rates("week", start="2024-06-24", end="2024-07-14"),
                rates(df, "week", start="2024-06-24", end="2024-07-14"))
    details = {"conversion_behaviors": [{"type": "Starts Session", "window": 86_400}]}
    assert_same(df.braze.reconcile(summary=True, details=details, as_of="2030-01-01"),
                reconcile(df, summary=True, details=details, as_of="2030-01-01"))
    assert type(df.braze.rates()) is type(df)


def test_lazy_frames_get_lazy_results() -> None:
    lazy = tidy(ROWS).lazy()
    assert isinstance(lazy.braze.rates("week"), pl.LazyFrame)
    assert isinstance(lazy.braze.reconcile(summary=True), pl.LazyFrame)
    assert lazy.braze.validate() is lazy


def test_validation_errors_come_through(backend: str) -> None:
    df = tidy([*ROWS, ROWS[0]], backend)
    with pytest.raises(TidyFrameError, match="duplicated key"):
        df.braze.validate()
    frame = tidy(ROWS, backend)
    dropped = frame.drop(columns=["metric"]) if backend == "pandas" else frame.drop("metric")
    with pytest.raises(TidyFrameError, match="missing column"):
        dropped.braze.rates()


def test_to_parquet_calls_write_parquet(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[tuple[Any, Any, dict[str, Any]]] = []

    def record(df: Any, path: Any, **kwargs: Any) -> Path:
        calls.append((df, path, kwargs))
        return Path(path)

    monkeypatch.setattr(_parquet, "write_parquet", record)
    df = tidy(ROWS)
    target = tmp_path / "x.parquet"
    assert df.braze.to_parquet(target, compression="snappy") == target
    assert calls == [(df, target, {"compression": "snappy"})]
