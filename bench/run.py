"""Run every braze_frames benchmark in one process and print a table of ratios.

Usage::

    python bench/run.py            # full size (~2M tidy rows), a few minutes
    python bench/run.py --quick    # small data, fewer repeats, under a minute
    python bench/run.py --json     # the same figures as one JSON object
    python bench/run.py --only parse,import

Every figure is a ratio against a baseline measured in the same run (``orjson.loads`` of the
same bytes, ``import polars``, the same rows with String keys...), timed interleaved with
its baseline, best (and median) of N repeats: the machine is small and shared, so absolute
seconds move from run to run while ratios hold. The benchmarks are modules of this folder,
each with ``run(...) -> dict``; one that is missing or not written yet is skipped with a note.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: (name, module, how to call its ``run``); quick mode shrinks the data and the repeats.
BENCHMARKS: list[tuple[str, str, Callable[[Any, bool], dict[str, Any]]]] = [
    ("parse", "bench_parse", lambda mod, quick: mod.run(quick)),
    ("import", "bench_import", lambda mod, quick: mod.run(quick)),
    ("memory", "bench_memory", lambda mod, quick: mod.run(quick)),
    ("verbs", "bench_verbs", lambda mod, quick: mod.run(400_000 if quick else 5_000_000, quick)),
    ("fetch", "bench_fetch", lambda mod, quick: mod.run(quick)),
    ("stores", "bench_stores", lambda mod, quick: mod.run(quick)),
    ("series", "bench_series", lambda mod, quick: mod.run(quick)),
    ("canvas", "bench_canvas", lambda mod, quick: mod.run(quick)),
]
COLUMNS = [("case", "case"), ("best_s", "best s"), ("median_s", "median s"), ("value", "value"),
           ("unit", "unit"), ("vs", "vs"), ("ratio", "ratio"), ("ratio_median", "ratio (median)"),
           ("target", "target"), ("ok", "ok")]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    versions = {name: _version(name) for name in ("polars", "orjson", "pandas", "pyarrow", "narwhals")}
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average": _load(),
        "versions": versions,
    }


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _load() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def run_all(quick: bool, only: set[str] | None, log: Callable[[str], None]) -> dict[str, Any]:
    """Run the benchmarks; each result, or a note saying why it was skipped."""
    results: dict[str, Any] = {}
    for name, module_name, call in BENCHMARKS:
        if only and name not in only:
            continue
        log(f"running {name} ...")
        start = time.perf_counter()
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            results[name] = {"skipped": f"bench/{module_name}.py does not exist yet"}
            continue
        try:
            results[name] = call(module, quick)
        except NotImplementedError as exc:
            results[name] = {"skipped": f"not implemented yet: {exc}"}
        except Exception as exc:
            results[name] = {"error": f"{type(exc).__name__}: {exc}",
                             "traceback": traceback.format_exc(limit=5)}
        else:
            results[name]["elapsed_s"] = round(time.perf_counter() - start, 1)
    return results


def table(result: dict[str, Any]) -> str:
    """One benchmark's rows as a markdown table (columns that no row has are left out)."""
    rows = [r for r in result.get("results", []) if isinstance(r, dict)]
    if not rows:
        return ""
    columns = [(key, title) for key, title in COLUMNS if any(key in r for r in rows)]
    extra = sorted({k for r in rows for k in r} - {k for k, _ in COLUMNS})
    columns += [(k, k) for k in extra]
    lines = ["| " + " | ".join(title for _, title in columns) + " |",
             "|" + "|".join("---" for _ in columns) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(key)) for key, _ in columns) + " |")  # noqa: PERF401
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def report(results: dict[str, Any], info: dict[str, Any]) -> str:
    """The human-readable report."""
    out = [f"# braze_frames benchmarks ({'quick' if info['quick'] else 'full'})", "",
           f"python {info['machine']['python']}, {info['machine']['cpus']} CPUs, "
           f"load {info['machine']['load_average']}, polars {info['machine']['versions']['polars']}"]
    for name, result in results.items():
        out += ["", f"## {name}: {result.get('benchmark', '')}".rstrip(": ")]
        if "skipped" in result or "error" in result:
            out.append(f"skipped: {result['skipped']}" if "skipped" in result else f"ERROR {result['error']}")
            continue
        if "data" in result:
            out.append("data: " + ", ".join(f"{k}={v}" for k, v in result["data"].items()))
        rendered = table(result)
        if rendered:
            out += ["", rendered]
        for key, value in result.items():
            if key in ("benchmark", "data", "results", "elapsed_s"):
                continue
            out.append("")
            out.append(_section(key, value))
    return "\n".join(out)


def _section(key: str, value: Any) -> str:
    """A benchmark's other entries: a table for a mapping of flat mappings, else one line."""
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        inner = [v for v in value.values() if all(not isinstance(x, (dict, list)) for x in v.values())]
        if len(inner) == len(value):
            columns = list(dict.fromkeys(k for v in value.values() for k in v))
            lines = [f"{key}:", "", "| | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
            lines += ["| " + name + " | " + " | ".join(_cell(v.get(c)) for c in columns) + " |"
                      for name, v in value.items()]
            return "\n".join(lines)
    flat = isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values())
    if flat and len(value) > 3:
        rows = [f"| {k} | {_cell(v)} |" for k, v in value.items()]
        return "\n".join([f"{key}:", "", "| | |", "|---|---|", *rows])
    return f"{key}: {json.dumps(value)}"


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exit status 1 when a benchmark raised."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, fewer repeats (< 1 minute)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    names = ",".join(b[0] for b in BENCHMARKS)
    parser.add_argument("--only", help=f"comma-separated benchmark names: {names}")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    start = time.perf_counter()
    def log(message: str) -> None:
        if sys.stderr.isatty() or not args.json:
            print(message, file=sys.stderr)

    info: dict[str, Any] = {"quick": args.quick, "machine": machine(),
                            "command": "python bench/run.py" + (" --quick" if args.quick else "")}
    results = run_all(args.quick, only, log)
    info["elapsed_s"] = round(time.perf_counter() - start, 1)
    info["machine"]["load_average_end"] = _load()
    if args.json:
        print(json.dumps({**info, "benchmarks": results}, indent=2, default=str))
    else:
        print(report(results, info))
        print(f"\n({info['elapsed_s']} s in all; rerun: {info['command']})")
    return 1 if any("error" in r for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
