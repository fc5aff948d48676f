"""braze_frames: Braze campaign analytics as tidy pandas and polars frames.

Braze's ``GET /campaigns/data_series`` returns, per campaign, nested JSON of daily stats
per channel and per variation. ``fetch_data_series`` turns it into one tidy long table
(campaign_id, campaign_name, date, channel, variation, variation_name, metric, value); the ``braze``
accessor on pandas and polars frames (and the same verbs as functions) pivots it, computes
Braze's rates, reconciles conversions, reads out A/B tests and writes Parquet.

Examples:
    >>> import braze_frames as bf
    >>> from braze_frames.sandbox import Sandbox
    >>> with Sandbox(seed=0) as sb, bf.BrazeClient(sb.api_key, sb.url) as client:
    ...     df = bf.fetch_data_series(sb.campaign_ids[:2], length=14, client=client)
    >>> df.columns[:3]
    ['campaign_id', 'campaign_name', 'date']
"""

import typing as _typing

from ._errors import (
    AuthenticationError,
    BrazeAPIError,
    BrazeConnectionError,
    BrazeError,
    ConfigError,
    DataRepairWarning,
    PermissionDeniedError,
    RateLimitError,
    TidyFrameError,
    UnexpectedResponseError,
    UnknownFieldWarning,
)
from ._schema import CHANNEL_SCHEMAS, TIDY_COLUMNS
from ._tables import CANVAS_COLUMNS
from ._tidy import from_records
from .accessor import BrazeAccessor
from .accessor import register as _register_accessor
from .fetch import (
    FetchFailedWarning,
    FetchFailure,
    FetchResult,
    NamesUnavailableWarning,
    NoDataWarning,
    SkippedCampaign,
    SkippedCampaignsWarning,
    campaign_details,
    fetch_data_series,
    list_campaigns,
)

if _typing.TYPE_CHECKING:
    from ._schema import SEND_COLUMNS, SERIES_COLUMNS
    from .canvas import canvas_details, fetch_canvas_series, list_canvases
    from .charts import plot, plot_experiment, plot_reconcile, variation_colors
    from .http.client import BrazeClient
    from .http.stats import ClientStats
    from .series import (
        UntrackedSegmentsWarning,
        fetch_send_series,
        fetch_series,
        list_events,
        list_products,
        list_segments,
    )
    from .storage.lock import StoreLockedError, StoreLockWarning
    from .storage.parquet import parquet_metadata, read_parquet, write_csv, write_parquet
    from .storage.store import SyncReport, SyncWarning, read_store, sync
    from .verbs.experiment import experiment
    from .verbs.pivot import pivot, unpivot
    from .verbs.rates import RATES, Rate, rates
    from .verbs.reconcile import reconcile
    from .verbs.series_rates import SERIES_RATES, SeriesRate, series_rates
    from .verbs.validate import validate

# Heavy dependencies load on first use, so `import braze_frames` costs little more than
# `import polars`: requests with the client, narwhals with the verbs, pyarrow with Parquet.
_LAZY = {
    "BrazeClient": "http.client",
    "canvas_details": "canvas",
    "fetch_canvas_series": "canvas",
    "list_canvases": "canvas",
    "ClientStats": "http.stats",
    "pivot": "verbs.pivot",
    "unpivot": "verbs.pivot",
    "validate": "verbs.validate",
    "parquet_metadata": "storage.parquet",
    "read_parquet": "storage.parquet",
    "write_csv": "storage.parquet",
    "write_parquet": "storage.parquet",
    "plot": "charts",
    "plot_experiment": "charts",
    "plot_reconcile": "charts",
    "variation_colors": "charts",
    "RATES": "verbs.rates",
    "Rate": "verbs.rates",
    "rates": "verbs.rates",
    "reconcile": "verbs.reconcile",
    "experiment": "verbs.experiment",
    "StoreLockWarning": "storage.lock",
    "StoreLockedError": "storage.lock",
    "SyncReport": "storage.store",
    "SyncWarning": "storage.store",
    "read_store": "storage.store",
    "sync": "storage.store",
    # The workspace series (SPEC section 14).
    "SEND_COLUMNS": "_schema",
    "SERIES_COLUMNS": "_schema",
    "UntrackedSegmentsWarning": "series",
    "fetch_send_series": "series",
    "fetch_series": "series",
    "list_events": "series",
    "list_products": "series",
    "list_segments": "series",
    "SERIES_RATES": "verbs.series_rates",
    "SeriesRate": "verbs.series_rates",
    "series_rates": "verbs.series_rates",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        msg = f"module 'braze_frames' has no attribute {name!r}"
        raise AttributeError(msg)
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__version__ = "0.1.0"

__all__ = [
    "CANVAS_COLUMNS",
    "CHANNEL_SCHEMAS",
    "RATES",
    "SEND_COLUMNS",
    "SERIES_COLUMNS",
    "SERIES_RATES",
    "TIDY_COLUMNS",
    "AuthenticationError",
    "BrazeAPIError",
    "BrazeAccessor",
    "BrazeClient",
    "BrazeConnectionError",
    "BrazeError",
    "ClientStats",
    "ConfigError",
    "DataRepairWarning",
    "FetchFailedWarning",
    "FetchFailure",
    "FetchResult",
    "NamesUnavailableWarning",
    "NoDataWarning",
    "PermissionDeniedError",
    "Rate",
    "RateLimitError",
    "SeriesRate",
    "SkippedCampaign",
    "SkippedCampaignsWarning",
    "StoreLockWarning",
    "StoreLockedError",
    "SyncReport",
    "SyncWarning",
    "TidyFrameError",
    "UnexpectedResponseError",
    "UnknownFieldWarning",
    "UntrackedSegmentsWarning",
    "__version__",
    "campaign_details",
    "canvas_details",
    "experiment",
    "fetch_canvas_series",
    "fetch_data_series",
    "fetch_send_series",
    "fetch_series",
    "from_records",
    "list_campaigns",
    "list_canvases",
    "list_events",
    "list_products",
    "list_segments",
    "parquet_metadata",
    "pivot",
    "plot",
    "plot_experiment",
    "plot_reconcile",
    "rates",
    "read_parquet",
    "read_store",
    "reconcile",
    "series_rates",
    "sync",
    "unpivot",
    "validate",
    "variation_colors",
    "write_csv",
    "write_parquet",
]

_register_accessor()
