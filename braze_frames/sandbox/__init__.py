"""STUB: the Braze simulator (owned by the sandbox helper)."""
from __future__ import annotations
from typing import Any
class Sandbox:
    """Stub."""
    def __init__(self, **kwargs: Any) -> None:
        raise NotImplementedError
