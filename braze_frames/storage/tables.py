"""The tables a sync store keeps, as data: where each lives, what fetches it, how it is keyed.

A store holds one table per endpoint, each apart from the others: its own folder, its own
manifest (the same format, with its records under its own section name) and its own month
partitions. The campaigns live at the store's root, as they always did; every other table
lives in a ``_``-prefixed folder, which Parquet readers of the root (pyarrow, Spark, this
library) skip, so the root stays the campaign dataset it was::

    store/
      _braze_sync.json                 campaigns' manifest  {"campaigns": {...}}
      month=2025-06/part-0.parquet     campaigns
      _canvas/
        _braze_sync.json               Canvases' manifest   {"canvases": {...}}
        month=2025-06/part-0.parquet   Canvases (CANVAS_COLUMNS)
      _series/
        _braze_sync.json               workspace series' manifest {"series": {"dau": ...}}
        month=2025-06/part-0.parquet   daily series (SERIES_COLUMNS)

A glob reader picks one table with its folder: ``store/month=*/*.parquet`` (campaigns),
``store/_canvas/month=*/*.parquet`` (Canvases), ``store/_series/month=*/*.parquet`` (the
workspace series). A Delta store is laid out the same way, one Delta table per folder, each
commit carrying its table's manifest.

A new table is a new :class:`StoreTable` in :data:`STORE_TABLES` (and a keyword of
``sync``): the store's code reads everything else from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import polars as pl

from .._tables import CAMPAIGN_TABLE, CANVAS_TABLE, SERIES_TABLE, Table
from .._tidy import CANVAS_POLARS_SCHEMA, POLARS_SCHEMA, SERIES_POLARS_SCHEMA
from ..canvas import fetch_canvas_series
from ..fetch import FetchResult, fetch_data_series
from ..series import fetch_series
from .arrow import Kind

__all__ = ["CAMPAIGNS", "CANVASES", "SERIES", "STORE_TABLES", "StoreTable"]


@dataclass(frozen=True)
class StoreTable:
    """One table of a sync store.

    Attributes:
        table: Its tidy table (columns, keys, id and name columns).
        folder: Its folder under the store's root (``""``: the root itself).
        section: The manifest's key for its records (``"campaigns"``, ``"canvases"``).
        kind: Its Parquet kind (``storage.arrow``): ``"tidy"``, ``"canvas"``.
        dtypes: Its polars dtypes.
        what: What one id names, for messages (``"campaign"``, ``"Canvas"``).
        max_length: The most days one request covers (to size batches).
        fetch: What fetches it, called as
            ``fetch(ids, start=, end=, client=, names=, on_error=, progress=)``.
    """

    table: Table
    folder: str
    section: str
    kind: Kind
    dtypes: Mapping[str, Any]
    what: str
    max_length: int
    fetch: Callable[..., Any]

    @property
    def name(self) -> str:
        """The table's name, as ``read_store(table=...)`` takes it."""
        return self.table.name

    def empty(self) -> pl.DataFrame:
        """An empty frame of the table, with its dtypes."""
        return pl.DataFrame(schema=dict(self.dtypes))


#: ``/campaigns/data_series``: the store's root.
CAMPAIGNS: Final = StoreTable(CAMPAIGN_TABLE, "", "campaigns", "tidy", POLARS_SCHEMA, "campaign",
                              100, fetch_data_series)
#: ``/canvas/data_series``: ``_canvas/``.
CANVASES: Final = StoreTable(CANVAS_TABLE, "_canvas", "canvases", "canvas", CANVAS_POLARS_SCHEMA,
                             "Canvas", 14, fetch_canvas_series)



def _fetch_series_days(ids: list[str], **options: Any) -> Any:
    """``fetch_series`` as the store calls it: daily, every key, failures by kind.

    A failed request is labelled ``kind:key``; the store certifies days per kind, so a
    failure leaves its kind's days uncertified (the next sync fetches them again).
    """
    result = fetch_series(ids, unit="day", **options)
    if isinstance(result, FetchResult):
        failures = [f._replace(campaign_id=f.campaign_id.split(":", 1)[0]) for f in result.failures]
        return FetchResult(result.frame, failures)
    return result


#: The workspace series (``fetch_series``; daily): ``_series/``, one object per kind.
SERIES: Final = StoreTable(SERIES_TABLE, "_series", "series", "series", SERIES_POLARS_SCHEMA,
                           "series", 100, _fetch_series_days)

#: Every table a store can keep, by name.
STORE_TABLES: Final[Mapping[str, StoreTable]] = MappingProxyType(
    {t.name: t for t in (CAMPAIGNS, CANVASES, SERIES)}
)
