"""STUB: Parquet (owned by the parquet helper)."""
from __future__ import annotations
from typing import Any
def write_parquet(df: Any, path: Any, **kwargs: Any) -> Any:
    """Stub."""
    raise NotImplementedError
def read_parquet(path: Any, **kwargs: Any) -> Any:
    """Stub."""
    raise NotImplementedError
