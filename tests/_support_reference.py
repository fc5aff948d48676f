"""Rules of SPEC section 3 written out plainly, for the tests' reference parsers.

The reference parsers in ``test_hostile`` and ``test_perf_equivalence`` check the library's
parser against an independent reading of the SPEC, so they share this and not the
library's own helpers.
"""

from __future__ import annotations

from typing import Any


def id_text(value: Any) -> str | None:
    """A variation id or name as text: empty is none, numbers are spelled, others are none."""
    if value is None or isinstance(value, str):
        return value or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None
