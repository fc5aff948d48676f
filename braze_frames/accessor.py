"""The ``braze`` namespace on pandas and polars frames: one stateless accessor.

``register()`` (called when ``braze_frames`` is imported) puts ``.braze`` on polars
``DataFrame`` and ``LazyFrame`` at once, and on pandas ``DataFrame`` as soon as pandas is
imported: right away if it already is, otherwise from a tiny import hook, so that
``import braze_frames`` never imports pandas itself.

DuckDB relations and PySpark DataFrames have no accessor: neither engine offers a way to
register one (PySpark's accessors are for its pandas API only), and patching their
classes would break with their next release. The functions serve them instead:
``bf.rates(relation)``, ``bf.reconcile(spark_df, summary=True)``, ``bf.pivot(...)``, each
returning the engine's own type.

The accessor holds the frame and nothing else: pandas caches one accessor object per
frame, so any state kept on it would go stale (pyjanitor's stateful accessors show how).
Every method calls the module-level function of the same name, which checks the columns
and dtypes it needs.
"""

from __future__ import annotations

import datetime as dt
import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from .verbs.pivot import Layout
    from .verbs.rates import Period, Rate

__all__ = ["NAMESPACE", "BrazeAccessor", "register"]

#: The attribute name on frames.
NAMESPACE = "braze"


class BrazeAccessor:
    """``df.braze``: the braze_frames verbs on a frame, returning the frame's own type.

    Examples:
        >>> import braze_frames.accessor as accessor
        >>> accessor.register()
        >>> from braze_frames._tidy import from_records
        >>> df = from_records([("c1", "2024-07-01", "webhook", "v1", None, "sent", 10.0)])
        >>> df.braze.pivot().columns[-2:]
        ['sent', 'errors']
    """

    def __init__(self, df: Any) -> None:
        self._df = df

    def validate(self) -> Any:
        """Check the frame is tidy (``braze_frames.validate``); return it unchanged."""
        from .verbs.validate import validate

        return validate(self._df)

    def pivot(self, *, layout: Layout = "metrics") -> Any:
        """Wide table, one column per metric (``braze_frames.pivot``)."""
        from .verbs.pivot import pivot

        return pivot(self._df, layout=layout)

    def unpivot(self) -> Any:
        """Back from ``pivot(layout="metrics")`` to the tidy table (``braze_frames.unpivot``)."""
        from .verbs.pivot import unpivot

        return unpivot(self._df)

    def rates(
        self,
        period: Period = "day",
        by: Sequence[str] | str = ("campaign_id", "channel", "variation"),
        *,
        rates: Iterable[str | Rate] | None = None,
        start: str | dt.date | None = None,
        end: str | dt.date | None = None,
    ) -> Any:
        """Braze's rates per period, as ratios of sums over present days (``braze_frames.rates``)."""
        from .verbs.rates import rates as compute

        return compute(self._df, period, by, rates=rates, start=start, end=end)

    def reconcile(
        self,
        *,
        summary: bool = False,
        window_days: int | Mapping[str, int] | None = None,
        details: Mapping[str, Any] | None = None,
        as_of: str | dt.date | None = None,
    ) -> Any:
        """Conversions by conversion date against by send date (``braze_frames.reconcile``)."""
        from .verbs.reconcile import reconcile

        return reconcile(self._df, summary=summary, window_days=window_days, details=details, as_of=as_of)

    def experiment(
        self, *, rate: str = "cohort_conversion_rate", baseline: str = "control", alpha: float = 0.05
    ) -> Any:
        """The A/B readout: each variation against a baseline (``braze_frames.experiment``)."""
        from .verbs.experiment import experiment

        return experiment(self._df, rate=rate, baseline=baseline, alpha=alpha)

    def to_parquet(self, path: Any, **kwargs: Any) -> Any:
        """Write the frame to Parquet (``braze_frames.write_parquet``)."""
        from .storage.parquet import write_parquet

        return write_parquet(self._df, path, **kwargs)

    def plot(
        self,
        metric: str | None = None,
        rate: str | Rate | None = None,
        *,
        period: Period = "day",
        start: str | dt.date | None = None,
        end: str | dt.date | None = None,
        colors: Mapping[str | None, str] | None = None,
        ax: Axes | None = None,
    ) -> Figure:
        """A metric or a rate over time, one line per variation (``braze_frames.plot``)."""
        from .charts import plot

        return plot(self._df, metric, rate, period=period, start=start, end=end, colors=colors, ax=ax)

    def plot_reconcile(
        self,
        *,
        event: str = "conversions",
        campaign_id: str | None = None,
        channel: str = "all",
        variation: str | None = None,
        ax: Axes | None = None,
    ) -> Figure:
        """The two cumulative conversion curves and their gap (``braze_frames.plot_reconcile``)."""
        from .charts import plot_reconcile

        return plot_reconcile(
            self._df,
            event=event,
            campaign_id=campaign_id,
            channel=channel,
            variation=variation,
            ax=ax,
        )

    def plot_experiment(
        self,
        *,
        rate: str | Rate | None = None,
        baseline: str | None = None,
        alpha: float | None = None,
        colors: Mapping[str | None, str] | None = None,
        ax: Axes | None = None,
    ) -> Figure:
        """The A/B readout as a forest plot, from a tidy frame or a readout (``bf.plot_experiment``)."""
        from .charts import plot_experiment

        return plot_experiment(self._df, rate=rate, baseline=baseline, alpha=alpha, colors=colors, ax=ax)


def register() -> None:
    """Put ``.braze`` on polars DataFrame/LazyFrame now and on pandas DataFrame when it loads.

    Idempotent and silent: calling it again, or after a reload of this module, does not
    re-register (pandas and polars would warn about overriding an accessor).
    """
    import polars as pl

    for cls, registrar in (
        (pl.DataFrame, pl.api.register_dataframe_namespace),
        (pl.LazyFrame, pl.api.register_lazyframe_namespace),
    ):
        if not _is_ours(getattr(cls, NAMESPACE, None)):
            registrar(NAMESPACE)(BrazeAccessor)
    if "pandas" in sys.modules:
        _register_pandas()
    else:
        _install_hook()


def _is_ours(attr: Any) -> bool:
    # By name, not identity: a reloaded module makes a new class object.
    return getattr(attr, "__module__", None) == __name__ and getattr(
        attr, "__qualname__", None
    ) == BrazeAccessor.__qualname__


def _register_pandas() -> None:
    pandas = sys.modules.get("pandas")
    frame = getattr(pandas, "DataFrame", None)
    if frame is None or _is_ours(getattr(frame, NAMESPACE, None)):
        return
    from pandas.api.extensions import register_dataframe_accessor

    register_dataframe_accessor(NAMESPACE)(BrazeAccessor)


_hook_lock = threading.Lock()


class _PandasImportHook(importlib.abc.MetaPathFinder):
    """Finds nothing itself: wraps the loader that the other finders return for pandas."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "pandas":
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RegisterAfterLoad(spec.loader)
        return spec


class _RegisterAfterLoad(importlib.abc.Loader):
    """Runs pandas' own loader, then registers the accessor and steps aside."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        # Give pandas its real loader back first: its import machinery and resources
        # code look at __spec__.loader / __loader__.
        module.__loader__ = self._loader
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _remove_hook()
        _register_pandas()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


def _install_hook() -> None:
    with _hook_lock:
        if not any(_is_hook(f) for f in sys.meta_path):
            sys.meta_path.insert(0, _PandasImportHook())


def _remove_hook() -> None:
    with _hook_lock:
        sys.meta_path[:] = [f for f in sys.meta_path if not _is_hook(f)]


def _is_hook(finder: object) -> bool:
    kind = type(finder)
    return kind.__module__ == __name__ and kind.__qualname__ == _PandasImportHook.__qualname__
