"""Braze's endpoints as data: path, permission, rate-limit budget, id parameter, window cap.

A new endpoint is a new entry here (and, for a time series, a parser of its body): the
client reads the permission for its error hints and the budget for its pacing, the
window planner reads the cap, and the fetch functions read the rest.

Budgets: Braze limits some endpoints alone and others together. Endpoints that share a
``budget`` share one limiter bucket, so that concurrent requests to any of them are paced
against the same ``X-RateLimit-*`` headers
(https://www.braze.com/docs/api/api_limits/).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

__all__ = [
    "BUDGET_CAMPAIGN_SERIES",
    "BUDGET_HOURLY",
    "BUDGET_HOURLY_SMALL",
    "CAMPAIGN_DETAILS",
    "CAMPAIGN_LIST",
    "CAMPAIGN_SERIES",
    "CANVAS_DETAILS",
    "CANVAS_LIST",
    "CANVAS_SERIES",
    "ENDPOINTS",
    "SEND_SERIES",
    "WORKSPACE_ENDPOINTS",
    "Endpoint",
    "budget_of",
    "permission_of",
]

#: ``/campaigns/data_series``: 50,000 requests a minute, its own.
BUDGET_CAMPAIGN_SERIES: Final = "campaigns.data_series"
#: Lists, details, Canvas, KPIs, sessions, segments and sends: 250,000 an hour, shared.
BUDGET_HOURLY: Final = "hourly"
#: ``/events/list``, ``/purchases/product_list`` and the purchase series: 1,000 an hour, shared.
BUDGET_HOURLY_SMALL: Final = "hourly_small"


@dataclass(frozen=True)
class Endpoint:
    """One ``GET`` endpoint of Braze's REST API.

    Attributes:
        path: The API path, such as ``"/campaigns/data_series"``.
        permission: The API key permission it needs (Settings > APIs and Identifiers).
        budget: The rate-limit bucket it spends (endpoints with one budget share it).
        id_param: The query parameter naming the object asked about, if any.
        max_length: The most days (or hours) one request may cover, for time series.
        conversion_suffix: The suffix of the second attribution of conversions
            (``"_by_send_time"``, ``"_by_entry_time"``), for series that carry one.
    """

    path: str
    permission: str
    budget: str
    id_param: str | None = None
    max_length: int | None = None
    conversion_suffix: str | None = None


CAMPAIGN_SERIES: Final = Endpoint(
    "/campaigns/data_series", "campaigns.data_series", BUDGET_CAMPAIGN_SERIES,
    id_param="campaign_id", max_length=100, conversion_suffix="_by_send_time",
)
CAMPAIGN_LIST: Final = Endpoint("/campaigns/list", "campaigns.list", BUDGET_HOURLY)
CAMPAIGN_DETAILS: Final = Endpoint(
    "/campaigns/details", "campaigns.details", BUDGET_HOURLY, id_param="campaign_id"
)
#: ``/canvas/data_series``: 14 days a request at most, conversions also by entry time.
CANVAS_SERIES: Final = Endpoint(
    "/canvas/data_series", "canvas.data_series", BUDGET_HOURLY,
    id_param="canvas_id", max_length=14, conversion_suffix="_by_entry_time",
)
CANVAS_LIST: Final = Endpoint("/canvas/list", "canvas.list", BUDGET_HOURLY)
CANVAS_DETAILS: Final = Endpoint("/canvas/details", "canvas.details", BUDGET_HOURLY, id_param="canvas_id")

#: ``/sends/data_series``: one send of an API campaign, in the campaign's shape (SPEC 14).
SEND_SERIES: Final = Endpoint(
    "/sends/data_series", "sends.data_series", BUDGET_HOURLY,
    id_param="send_id", max_length=100, conversion_suffix="_by_send_time",
)


def _workspace(path: str, budget: str = BUDGET_HOURLY, id_param: str | None = None) -> Endpoint:
    # Braze's permission is the path's words joined by dots (/kpi/dau/data_series ->
    # kpi.dau.data_series); every series takes length 1..100, a list no length.
    series = path.endswith("_series")
    return Endpoint(path, path.strip("/").replace("/", "."), budget, id_param=id_param,
                    max_length=100 if series else None)


#: The workspace series of SPEC section 14 and the lists of their keys. The 1,000 an hour
#: that ``/events/list``, ``/purchases/product_list`` and the purchase series share is
#: their own budget; the rest spend Braze's default 250,000 an hour.
WORKSPACE_ENDPOINTS: Final = (
    *(_workspace(f"/kpi/{kind}/data_series") for kind in ("dau", "mau", "new_users", "uninstalls")),
    _workspace("/sessions/data_series"),
    _workspace("/events/data_series", id_param="event"),
    _workspace("/events/list", BUDGET_HOURLY_SMALL),
    _workspace("/purchases/product_list", BUDGET_HOURLY_SMALL),
    _workspace("/purchases/revenue_series", BUDGET_HOURLY_SMALL, id_param="product"),
    _workspace("/purchases/quantity_series", BUDGET_HOURLY_SMALL, id_param="product"),
    _workspace("/segments/list"),
    _workspace("/segments/data_series", id_param="segment_id"),
    SEND_SERIES,
)

#: Every endpoint the library calls, by path.
ENDPOINTS: Final[Mapping[str, Endpoint]] = MappingProxyType(
    {e.path: e for e in (CAMPAIGN_SERIES, CAMPAIGN_LIST, CAMPAIGN_DETAILS,
                         CANVAS_SERIES, CANVAS_LIST, CANVAS_DETAILS, *WORKSPACE_ENDPOINTS)}
)


def budget_of(path: str) -> str:
    """The limiter bucket of a path: its endpoint's budget, or the path itself when unknown.

    Examples:
        >>> budget_of("/campaigns/details"), budget_of("/some/new/path")
        ('hourly', '/some/new/path')
    """
    endpoint = ENDPOINTS.get(path)
    return endpoint.budget if endpoint is not None else path


def permission_of(path: str) -> str | None:
    """The permission a path needs, when the library knows it."""
    endpoint = ENDPOINTS.get(path)
    return endpoint.permission if endpoint is not None else None
