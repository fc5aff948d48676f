"""The tidy tables as data: each table's columns, keys, names; the Canvas table's own facts.

Every endpoint with a tidy table of its own (campaigns, Canvas; the workspace series next)
describes it here once, as a :class:`Table`; the verbs (``validate``, ``pivot``), Parquet
(``storage.arrow``) and the store read these instead of spelling columns out again. A
frame's table is told by its id column (:func:`table_of`).

The Canvas facts (SPEC section 12) that more than one layer reads live here too: which
metrics are known, how a step's second entry in one channel is named (``email#2``) and
found again (:func:`base_channel`), which variant is a control group
(:func:`is_control_variant`), and the Canvas rates as data (:data:`CANVAS_RATES`).
Metric names keep Braze's spelling
(https://www.braze.com/docs/api/endpoints/export/canvas/get_canvas_analytics/).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal

from ._schema import (
    ALL_CHANNEL,
    CHANNEL_SCHEMAS,
    KEY_COLUMNS,
    SEND_COLUMNS,
    SERIES_COLUMNS,
    SERIES_KEY_COLUMNS,
    TIDY_COLUMNS,
    is_known_metric,
)

__all__ = [
    "CAMPAIGN_TABLE",
    "CANVAS_COLUMNS",
    "CANVAS_CONVERSION_PATTERN",
    "CANVAS_KEY_COLUMNS",
    "CANVAS_RATES",
    "CANVAS_TABLE",
    "SEND_TABLE",
    "SERIES_TABLE",
    "TABLES",
    "CanvasRate",
    "RowKind",
    "Table",
    "base_channel",
    "canvas_row_kind",
    "is_control_variant",
    "is_known_canvas_channel",
    "is_known_canvas_metric",
    "table_of",
]


@dataclass(frozen=True)
class Table:
    """One tidy table: what its columns are and which of them identify a row.

    Attributes:
        name: The table's name (``"campaign"``, ``"canvas"``), as ``read_store(table=...)``
            takes it.
        columns: Its columns, in order.
        key_columns: The columns that identify a row; no key appears twice.
        id_column: The column of the object each request asks about.
        names: Key column -> the column that names it (null where unknown).
        nullable: The key columns that may be null (the rows of totals).
        wide_index: The row key of ``pivot(layout="metrics")``: the key columns but
            ``metric``, each followed by its name column.
        conversion_suffix: The suffix of the second attribution of conversions.
    """

    name: str
    columns: tuple[str, ...]
    key_columns: tuple[str, ...]
    id_column: str
    names: Mapping[str, str]
    nullable: frozenset[str]
    wide_index: tuple[str, ...]
    conversion_suffix: str

    @property
    def name_columns(self) -> tuple[str, ...]:
        """The columns that name a key column, in column order."""
        named = set(self.names.values())
        return tuple(c for c in self.columns if c in named)

    @property
    def string_columns(self) -> tuple[str, ...]:
        """Every column but ``date`` and ``value``: keys and names, String or Categorical."""
        return tuple(c for c in self.columns if c not in ("date", "value"))

    @property
    def may_be_null(self) -> frozenset[str]:
        """The columns that may hold nulls: the nullable keys, the names and ``value``."""
        return self.nullable | set(self.name_columns) | {"value"}


#: ``/campaigns/data_series``: SPEC section 3.
CAMPAIGN_TABLE: Final = Table(
    name="campaign",
    columns=TIDY_COLUMNS,
    key_columns=KEY_COLUMNS,
    id_column="campaign_id",
    names=MappingProxyType({"campaign_id": "campaign_name", "variation": "variation_name"}),
    nullable=frozenset({"variation"}),
    wide_index=("campaign_id", "campaign_name", "date", "channel", "variation", "variation_name"),
    conversion_suffix="_by_send_time",
)

#: The Canvas table's columns, in order (SPEC section 12).
CANVAS_COLUMNS: Final = ("canvas_id", "canvas_name", "date", "variant", "variant_name", "step",
                         "step_name", "channel", "metric", "value")
#: The columns that identify a Canvas row.
CANVAS_KEY_COLUMNS: Final = ("canvas_id", "date", "variant", "step", "channel", "metric")

#: ``/canvas/data_series``: SPEC section 12.
CANVAS_TABLE: Final = Table(
    name="canvas",
    columns=CANVAS_COLUMNS,
    key_columns=CANVAS_KEY_COLUMNS,
    id_column="canvas_id",
    names=MappingProxyType({"canvas_id": "canvas_name", "variant": "variant_name", "step": "step_name"}),
    nullable=frozenset({"variant", "step"}),
    wide_index=("canvas_id", "canvas_name", "date", "variant", "variant_name", "step", "step_name",
                "channel"),
    conversion_suffix="_by_entry_time",
)

#: ``/sends/data_series``: the campaign table with ``send_id`` after ``campaign_name`` (SPEC 14).
SEND_TABLE: Final = Table(
    name="send",
    columns=SEND_COLUMNS,
    key_columns=("campaign_id", "send_id", *KEY_COLUMNS[1:]),
    id_column="send_id",
    names=MappingProxyType({"campaign_id": "campaign_name", "variation": "variation_name"}),
    nullable=frozenset({"variation"}),
    wide_index=("campaign_id", "campaign_name", "send_id", "date", "channel", "variation",
                "variation_name"),
    conversion_suffix="_by_send_time",
)

#: The workspace series (SPEC 14) as a sync store keeps them: one object per series kind
#: (``metric``), each key named by ``key_name``. Not in :data:`TABLES`: every tidy frame has
#: a ``metric`` column, so frames are told apart by ``verbs.series.is_series`` instead.
SERIES_TABLE: Final = Table(
    name="series",
    columns=SERIES_COLUMNS,
    key_columns=SERIES_KEY_COLUMNS,
    id_column="metric",
    names=MappingProxyType({"key": "key_name"}),
    nullable=frozenset({"key", "app_id"}),
    wide_index=("key", "key_name", "app_id", "date"),
    conversion_suffix="",
)

#: Every tidy table, by name. ``table_of`` tries them in this order: a send frame also has
#: a ``campaign_id``, so it comes first.
TABLES: Final[Mapping[str, Table]] = MappingProxyType(
    {t.name: t for t in (SEND_TABLE, CAMPAIGN_TABLE, CANVAS_TABLE)}
)


def table_of(columns: Iterable[str]) -> Table:
    """The table a frame's columns belong to, told by its id column (campaigns otherwise).

    Examples:
        >>> table_of(CANVAS_COLUMNS).name, table_of(["campaign_id", "date"]).name
        ('canvas', 'campaign')
    """
    present = set(columns)
    for table in TABLES.values():
        if table.id_column in present:
            return table
    return CAMPAIGN_TABLE


# ---- the Canvas table's own facts ---------------------------------------------------------

#: ``conversions``, ``conversions1``, ... and their ``_by_entry_time`` twins.
CANVAS_CONVERSION_PATTERN: Final = re.compile(r"conversions(\d*)(_by_entry_time)?")
#: What Canvas totals and variants carry besides conversions.
_TOTAL_METRICS: Final = frozenset({"entries", "revenue"})
#: ``email#2``: the second entry of one step's ``email`` list.
_SUFFIX: Final = re.compile(r"#\d+\Z")


def base_channel(channel: str) -> str:
    """A Canvas channel without the ``#2``, ``#3``... that a step's later entries get.

    Rates look a channel's schema up by this name.

    Examples:
        >>> base_channel("email#2"), base_channel("email"), base_channel("all")
        ('email', 'email', 'all')
    """
    found = _SUFFIX.search(channel)
    return channel if found is None else channel[: found.start()]


def is_known_canvas_metric(channel: str, metric: str) -> bool:
    """Say whether a metric is expected on a Canvas row of a channel.

    On ``"all"`` rows (totals, variants, step totals): ``entries``, ``revenue`` and the
    conversions with their ``_by_entry_time`` twins. On a step's message rows: what the
    campaign schema knows on that channel (``email#2`` is read as ``email``).

    Examples:
        >>> is_known_canvas_metric("all", "conversions2_by_entry_time")
        True
        >>> is_known_canvas_metric("email#2", "unique_opens"), is_known_canvas_metric("all", "sent")
        (True, False)
    """
    if CANVAS_CONVERSION_PATTERN.fullmatch(metric):
        return True
    if channel == ALL_CHANNEL:
        return metric in _TOTAL_METRICS
    return is_known_metric(base_channel(channel), metric)


def is_known_canvas_channel(channel: str) -> bool:
    """Say whether a step's channel key is documented (``email#2`` is read as ``email``)."""
    return base_channel(channel) in CHANNEL_SCHEMAS


def is_control_variant(name: str | None, *, marked: bool = False) -> bool:
    """Say whether a Canvas variant is a control group (SPEC section 12).

    A variant is control when ``/canvas/details`` marks it so (``marked``), or when its
    name is "Control" or starts with "Control " (case-insensitive).

    Examples:
        >>> [is_control_variant(n) for n in ("Control Group", "control", "Controlled test", None)]
        [True, True, False, False]
        >>> is_control_variant("Variant 2", marked=True)
        True
    """
    if marked:
        return True
    if not isinstance(name, str):
        return False
    folded = name.strip().casefold()
    return folded == "control" or folded.startswith("control ")


RowKind = Literal["canvas", "variant", "step", "message"]


def canvas_row_kind(variant: str | None, step: str | None, channel: str) -> RowKind:
    """What a Canvas row holds, from its keys (SPEC section 12).

    ``"canvas"`` (totals: no variant, no step, channel ``"all"``), ``"variant"`` (a
    variant's totals), ``"step"`` (a step's totals, channel ``"all"``) or ``"message"``
    (a step's stats on one channel).

    Examples:
        >>> canvas_row_kind(None, None, "all"), canvas_row_kind("v1", None, "all")
        ('canvas', 'variant')
        >>> canvas_row_kind(None, "s1", "all"), canvas_row_kind(None, "s1", "email#2")
        ('step', 'message')
    """
    if step is not None:
        return "step" if channel == ALL_CHANNEL else "message"
    return "canvas" if variant is None else "variant"


@dataclass(frozen=True)
class CanvasRate:
    """A conversion rate of Canvas totals and variants, per conversion event.

    For event ``k`` (0 for the primary event) the rate ``name{k}`` is
    ``numerator{k} / denominator``, summed over the days where both are present, on the
    rows of :attr:`rows`; ``k`` is written only when it is not 0 (``conversion_rate``,
    ``conversion_rate1``...).

    Attributes:
        name: The rate's name for the primary event.
        numerator: The numerator metric, with ``{k}`` where the event number goes.
        denominator: The denominator metric.
        rows: The kinds of rows it is defined on (:func:`canvas_row_kind`). Steps have no
            ``entries``, so no conversion rate.
        attribution: The day a conversion is counted on.
        description: One line for people.

    Examples:
        >>> CANVAS_RATES[1].for_event(2)
        ('cohort_conversion_rate2', 'conversions2_by_entry_time', 'entries')
    """

    name: str
    numerator: str
    denominator: str
    rows: frozenset[RowKind]
    attribution: Literal["conversion date", "entry date"]
    description: str

    def for_event(self, event: int) -> tuple[str, str, str]:
        """``(name, numerator, denominator)`` for conversion event ``event``."""
        k = str(event) if event else ""
        return f"{self.name}{k}", self.numerator.format(k=k), self.denominator


_TOTALS: Final[frozenset[RowKind]] = frozenset({"canvas", "variant"})

#: The Canvas conversion rates (SPEC section 12). A step's message rows get the channel
#: rates of SPEC section 5 (``RATES``), looked up by :func:`base_channel`; a control variant
#: (:func:`is_control_variant`) keeps its own rates, with entries as the denominator too.
CANVAS_RATES: Final = (
    CanvasRate("conversion_rate", "conversions{k}", "entries", _TOTALS, "conversion date",
               "conversions of event k on the day they happened, per entry that day"),
    CanvasRate("cohort_conversion_rate", "conversions{k}_by_entry_time", "entries", _TOTALS,
               "entry date", "conversions of event k credited to the day their users entered, "
               "per entry that day: the one to compare periods with"),
)
