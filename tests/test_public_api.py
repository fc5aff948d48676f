"""The public surface: __all__, docstrings, import side effects, the schema tables."""

from __future__ import annotations

import subprocess
import sys

import braze_frames as bf
from braze_frames._schema import CHANNEL_SCHEMAS, PUSH_CHANNELS


def test_all_is_exactly_the_sorted_public_names() -> None:
    public = {name for name in dir(bf) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(bf, name)).__name__ == "module"}
    assert set(bf.__all__) == (public - modules) | {"__version__"}
    assert len(bf.__all__) == len(set(bf.__all__))
    for name in bf.__all__:
        getattr(bf, name)  # lazy names resolve


def test_heavy_dependencies_load_on_first_use() -> None:
    code = ("import sys, braze_frames; "
            "bad = [m for m in ('pandas', 'requests', 'pyarrow', 'matplotlib') if m in sys.modules]; "
            "assert not bad, bad; braze_frames.BrazeClient; assert 'requests' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_public_name_has_a_docstring() -> None:
    for name in bf.__all__:
        obj = getattr(bf, name)
        if callable(obj) and not isinstance(obj, type(bf.RATES)):
            assert (obj.__doc__ or "").strip(), name


def test_import_does_not_import_pandas_or_read_the_environment() -> None:
    code = ("import os, sys; os.environ['BRAZE_API_KEY'] = 'x'; "
            "os.environ['BRAZE_REST_ENDPOINT'] = 'not a url'; import braze_frames; "
            "assert 'pandas' not in sys.modules, 'pandas imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_pandas_accessor_appears_when_pandas_is_imported_later() -> None:
    code = ("import braze_frames, sys; assert 'pandas' not in sys.modules; import pandas as pd; "
            "df = pd.DataFrame({'a': [1]}); assert hasattr(df, 'braze')")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_polars_accessor_exists() -> None:
    import polars as pl

    assert hasattr(pl.DataFrame(), "braze")
    assert hasattr(pl.LazyFrame(), "braze")


def test_error_tree() -> None:
    for cls in (bf.ConfigError, bf.BrazeConnectionError, bf.BrazeAPIError, bf.UnexpectedResponseError):
        assert issubclass(cls, bf.BrazeError)
    for cls in (bf.AuthenticationError, bf.PermissionDeniedError, bf.RateLimitError):
        assert issubclass(cls, bf.BrazeAPIError)
    assert issubclass(bf.ConfigError, ValueError)
    assert issubclass(bf.UnknownFieldWarning, UserWarning)


def test_schema_table_matches_the_spec() -> None:
    assert CHANNEL_SCHEMAS["email"] == ("sent", "opens", "unique_opens", "clicks", "unique_clicks",
                                        "unsubscribes", "bounces", "delivered", "reported_spam")
    for channel in PUSH_CHANNELS:
        assert CHANNEL_SCHEMAS[channel] == ("sent", "direct_opens", "total_opens", "bounces",
                                            "body_clicks")
    assert CHANNEL_SCHEMAS["whats_app"] == ("sent", "delivered", "failed", "read")
    assert bf.TIDY_COLUMNS == ("campaign_id", "campaign_name", "date", "channel", "variation",
                               "variation_name", "metric", "value")
