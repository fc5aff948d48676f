"""STUB: reconcile (owned by the verbs helper)."""
from __future__ import annotations
from typing import Any
def reconcile(df: Any, **kwargs: Any) -> Any:
    """Stub."""
    raise NotImplementedError
