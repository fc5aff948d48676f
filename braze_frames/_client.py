"""STUB: BrazeClient (owned by the client helper)."""
from __future__ import annotations
from typing import Any
class BrazeClient:
    """Stub."""
    def __init__(self, api_key: str | None = None, rest_endpoint: str | None = None, **kwargs: Any) -> None:
        raise NotImplementedError
