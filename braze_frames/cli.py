"""STUB: the braze-frames command line."""
from __future__ import annotations
def main() -> None:
    """Stub."""
    raise NotImplementedError
