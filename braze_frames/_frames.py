"""STUB: pivot, unpivot, validate (owned by the verbs helper)."""
from __future__ import annotations
from typing import Any
def pivot(df: Any, **kwargs: Any) -> Any:
    """Stub."""
    raise NotImplementedError
def unpivot(df: Any, **kwargs: Any) -> Any:
    """Stub."""
    raise NotImplementedError
def validate(df: Any, **kwargs: Any) -> Any:
    """Stub."""
    raise NotImplementedError
