"""Timing helpers shared by the benchmarks: interleaved repeats, best and median.

The machine the figures come from is small and shared (2 cores, other jobs running), so a
single timing means little. Every benchmark times its candidates *interleaved* (round 1:
baseline, candidate; round 2: baseline, candidate; ...) so that a burst of load hits both,
collects garbage before each timing, and reports ratios of the best and of the median run.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Timing:
    """Seconds of each repeat of one candidate."""

    name: str
    seconds: list[float] = field(default_factory=list)

    @property
    def best(self) -> float:
        """The fastest repeat (the least disturbed by other load)."""
        return min(self.seconds)

    @property
    def median(self) -> float:
        """The median repeat."""
        return statistics.median(self.seconds)


def interleaved(
    candidates: Mapping[str, Callable[[], Any]],
    repeats: int,
    *,
    only_once: frozenset[str] = frozenset(),
) -> dict[str, Timing]:
    """Time each candidate ``repeats`` times, interleaved; results are dropped each time.

    Args:
        candidates: Name to a function of no argument.
        repeats: Rounds.
        only_once: Names timed in the first round only (slow baselines).
    """
    timings = {name: Timing(name) for name in candidates}
    for round_ in range(repeats):
        for name, func in candidates.items():
            if round_ and name in only_once:
                continue
            gc.collect()
            start = time.perf_counter()
            result = func()
            timings[name].seconds.append(time.perf_counter() - start)
            del result
    gc.collect()
    return timings


def ratio(num: Timing, den: Timing) -> dict[str, float]:
    """``num / den`` on the best and on the median repeat."""
    return {"best": num.best / den.best, "median": num.median / den.median}
