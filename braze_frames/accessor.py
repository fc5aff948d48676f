"""STUB: the braze accessor (owned by the verbs helper)."""
from __future__ import annotations
from typing import Any
class BrazeAccessor:
    """Stub."""
    def __init__(self, obj: Any) -> None:
        self._obj = obj
def register() -> None:
    """Stub."""
