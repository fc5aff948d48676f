"""Import time: ``import braze_frames`` against ``import polars``, in fresh interpreters.

Each measurement is a new ``python`` process that times its own import statement (so the
interpreter's start-up, the same for both, does not dilute the ratio); baseline and
candidate alternate, and the best of N is kept. Bytecode is cached as for an installed
package (this repository's sessions set ``PYTHONDONTWRITEBYTECODE``, which would make every
run compile braze_frames from source): the children write their ``.pyc`` files under a
temporary ``PYTHONPYCACHEPREFIX``, after one warm-up import each. The same run checks that pandas is not
imported, lists the heavy packages ``import braze_frames`` pulls in beyond polars, and
attributes the time with ``python -X importtime``.

Run alone: ``python bench/bench_import.py [--quick]``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

TARGET_RATIO = 1.5
#: Heavy dependencies that ``braze_frames/__init__.py`` loads on first use only.
LAZY = ("pyarrow", "requests", "narwhals", "numpy")
#: Packages worth naming when ``import braze_frames`` loads them (polars is the baseline).
HEAVY = ("pandas", "pyarrow", "numpy", "narwhals", "requests", "urllib3", "charset_normalizer",
         "idna", "certifi", "tqdm", "click", "matplotlib", "duckdb", "orjson")

_TIMED = """
import json, sys, time
before = {{m.split(".")[0] for m in sys.modules}}
start = time.perf_counter()
import {module}
seconds = time.perf_counter() - start
loaded = sorted({{m.split(".")[0] for m in sys.modules}} - before)
print(json.dumps({{"seconds": seconds, "modules": loaded}}))
"""


_ENV: dict[str, str] = {}


def child_env() -> dict[str, str]:
    """The environment of the timed interpreters: bytecode cached in a temporary prefix."""
    if not _ENV:
        _ENV.update(os.environ)
        _ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        _ENV["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="bench-import-pyc-")
    return _ENV


def timed_import(module: str) -> dict[str, Any]:
    """Import ``module`` in a fresh interpreter; seconds and the top-level modules loaded."""
    out = subprocess.run([sys.executable, "-c", _TIMED.format(module=module)], capture_output=True,
                         text=True, check=True, env=child_env())
    return dict(json.loads(out.stdout))


def importtime_tree(module: str) -> list[tuple[int, int, int, str]]:
    """``python -X importtime -c 'import module'`` as (self us, cumulative us, depth, name)."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                         capture_output=True, text=True, check=True, env=child_env())
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line or "self [us]" in line:
            continue
        self_us, cum_us, name = line[len("import time:"):].split("|")
        depth = (len(name) - len(name.lstrip(" "))) // 2
        rows.append((int(self_us), int(cum_us), depth, name.strip()))
    return rows


def attribute(rows: list[tuple[int, int, int, str]]) -> dict[str, Any]:
    """Cumulative milliseconds per braze_frames module, and per package a module of it imports.

    ``-X importtime`` prints a module after its imports, one level deeper, so a line's
    importer is the next line one level up. A package is charged to the first
    braze_frames module that imports it (a later import finds it loaded and is not printed).
    """
    own: dict[str, float] = {}
    direct: dict[str, tuple[float, str]] = {}
    importer_at: dict[int, str] = {}
    for _, cum_us, depth, name in reversed(rows):
        importer_at[depth] = name
        parent = importer_at.get(depth - 1, "")
        top = name.split(".")[0]
        if top == "braze_frames":
            own[name] = cum_us / 1e3
        elif parent.startswith("braze_frames"):
            # ``import a.b`` prints ``a`` and ``a.b`` both under the importer: add them up.
            ms, _ = direct.get(top, (0.0, ""))
            direct[top] = (ms + cum_us / 1e3, parent)
    by_cost = sorted(direct.items(), key=lambda kv: -kv[1][0])
    return {
        "import_ms_by_module": {k: round(v, 1) for k, v in sorted(own.items(), key=lambda kv: -kv[1])
                                if v >= 1.0},
        "import_ms_by_package": {f"{k} (by {who})": round(ms, 1) for k, (ms, who) in by_cost if ms >= 1.0},
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Time the imports; see the module docstring."""
    repeats = 3 if quick else 9
    polars_s: list[float] = []
    bf_s: list[float] = []
    loaded: list[str] = []
    timed_import("polars")  # warm-up runs write the .pyc files
    timed_import("braze_frames")
    for _ in range(repeats):
        polars_s.append(timed_import("polars")["seconds"])
        result = timed_import("braze_frames")
        bf_s.append(result["seconds"])
        loaded = result["modules"]
    best = min(bf_s) / min(polars_s)
    median = sorted(bf_s)[repeats // 2] / sorted(polars_s)[repeats // 2]
    tree = attribute(importtime_tree("braze_frames"))
    shutil.rmtree(child_env()["PYTHONPYCACHEPREFIX"], ignore_errors=True)
    _ENV.clear()
    heavy = [m for m in HEAVY if m in loaded]
    return {
        "benchmark": "import time (fresh interpreters)",
        "data": {"repeats": repeats},
        "results": [
            {"case": "import polars (baseline)", "best_s": round(min(polars_s), 3),
             "median_s": round(sorted(polars_s)[repeats // 2], 3)},
            {"case": "import braze_frames", "best_s": round(min(bf_s), 3),
             "median_s": round(sorted(bf_s)[repeats // 2], 3), "vs": "import polars",
             "ratio": round(best, 2), "ratio_median": round(median, 2),
             "target": f"<= {TARGET_RATIO}x", "ok": best <= TARGET_RATIO},
            {"case": "pandas imported by `import braze_frames`", "value": "pandas" in loaded,
             "target": "no", "ok": "pandas" not in loaded},
            {"case": "pyarrow, requests, narwhals, numpy imported by `import braze_frames`",
             "value": ", ".join(m for m in LAZY if m in loaded) or "none",
             "target": "none (loaded on first use)", "ok": not any(m in loaded for m in LAZY)},
        ],
        "heavy_packages_loaded": heavy,
        **tree,
    }


if __name__ == "__main__":
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
