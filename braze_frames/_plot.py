"""STUB: charts (owned by the verbs helper)."""
from __future__ import annotations
from typing import Any
def plot(df: Any, **kwargs: Any) -> Any:
    """Stub."""
    raise NotImplementedError
def plot_reconcile(df: Any, **kwargs: Any) -> Any:
    """Stub."""
    raise NotImplementedError
