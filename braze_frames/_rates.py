"""STUB: RATES, Rate, rates (owned by the verbs helper)."""
from __future__ import annotations
from typing import Any
RATES: Any = ()
class Rate:
    """Stub."""
def rates(df: Any, **kwargs: Any) -> Any:
    """Stub."""
    raise NotImplementedError
