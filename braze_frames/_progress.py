"""The one progress bar: on standard error, only when someone is watching.

Shown by default in a notebook and when standard error is a terminal, never in a pipe or
a scheduled job. In a notebook the widget bar needs ``ipywidgets``; without it the text bar
is used (``tqdm.auto`` would warn instead).
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["interactive", "progress_bar"]


def interactive() -> bool:
    """Whether a person is likely watching: a notebook, or standard error on a terminal."""
    if "ipykernel" in sys.modules:
        return True
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress_bar(total: int, progress: bool | None, desc: str, unit: str) -> Any:
    """A tqdm bar over ``total`` steps, or None when there is nothing worth showing.

    Args:
        total: Steps to come; a single step gets no bar.
        progress: True or False to force it; None to show it when :func:`interactive`.
        desc: The bar's label.
        unit: What a step is (``"req"``, ``"campaign"``).
    """
    show = interactive() if progress is None else progress
    if not show or total <= 1:
        return None
    import importlib.util

    if "ipykernel" in sys.modules and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm  # type: ignore[assignment]
    return tqdm(total=total, desc=desc, unit=unit, leave=False)
