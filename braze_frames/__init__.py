"""braze_frames: Braze campaign analytics as tidy pandas and polars frames.

Braze's ``GET /campaigns/data_series`` returns, per campaign, nested JSON of daily stats
per channel and per variation. ``fetch_data_series`` turns it into one tidy long table
(campaign_id, date, channel, variation, variation_name, metric, value); the ``braze``
accessor on pandas and polars frames (and the same verbs as functions) pivots it, computes
Braze's rates, reconciles conversions and writes Parquet.

Examples:
    >>> import braze_frames as bf
    >>> from braze_frames.sandbox import Sandbox
    >>> with Sandbox(seed=0) as sb, bf.BrazeClient(sb.api_key, sb.url) as client:
    ...     df = bf.fetch_data_series(sb.campaign_ids[:2], length=14, client=client)
    >>> df.columns[:3]
    ['campaign_id', 'date', 'channel']
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
    UnexpectedResponseError,
    UnknownFieldWarning,
)
from ._schema import CHANNEL_SCHEMAS, TIDY_COLUMNS
from ._tidy import from_records
from .accessor import BrazeAccessor
from .accessor import register as _register_accessor
from .api import (
    FetchFailedWarning,
    FetchFailure,
    FetchResult,
    campaign_details,
    fetch_data_series,
    list_campaigns,
)

if _typing.TYPE_CHECKING:
    from ._client import BrazeClient, ClientStats
    from ._frames import TidyFrameError, pivot, unpivot, validate
    from ._parquet import parquet_metadata, read_parquet, write_csv, write_parquet
    from ._plot import plot, plot_reconcile
    from ._rates import RATES, Rate, rates
    from ._reconcile import reconcile
    from ._sync import SyncReport, read_store, sync

# Heavy dependencies load on first use, so `import braze_frames` costs little more than
# `import polars`: requests with the client, narwhals with the verbs, pyarrow with Parquet.
_LAZY = {
    "BrazeClient": "_client",
    "ClientStats": "_client",
    "TidyFrameError": "_frames",
    "pivot": "_frames",
    "unpivot": "_frames",
    "validate": "_frames",
    "parquet_metadata": "_parquet",
    "read_parquet": "_parquet",
    "write_csv": "_parquet",
    "write_parquet": "_parquet",
    "plot": "_plot",
    "plot_reconcile": "_plot",
    "RATES": "_rates",
    "Rate": "_rates",
    "rates": "_rates",
    "reconcile": "_reconcile",
    "SyncReport": "_sync",
    "read_store": "_sync",
    "sync": "_sync",
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
    "CHANNEL_SCHEMAS",
    "RATES",
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
    "PermissionDeniedError",
    "Rate",
    "RateLimitError",
    "SyncReport",
    "TidyFrameError",
    "UnexpectedResponseError",
    "UnknownFieldWarning",
    "__version__",
    "campaign_details",
    "fetch_data_series",
    "from_records",
    "list_campaigns",
    "parquet_metadata",
    "pivot",
    "plot",
    "plot_reconcile",
    "rates",
    "read_parquet",
    "read_store",
    "reconcile",
    "sync",
    "unpivot",
    "validate",
    "write_csv",
    "write_parquet",
]

_register_accessor()
