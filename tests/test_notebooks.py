"""The notebooks: stored without outputs, and each runs top to bottom in a fresh kernel.

Each notebook starts its own sandbox (port 0), so they run offline, in any order, on a
machine with no key. They run in CI; deselect them locally with ``-m "not notebooks"``.

The kernel is ``python3``: ipykernel (a dev dependency) provides it even where no
kernelspec was ever installed, because jupyter_client falls back to ipykernel's native
spec, which runs this interpreter.
"""

from __future__ import annotations

from pathlib import Path

import ipykernel  # noqa: F401  (the python3 kernel; a dev dependency, never skipped)
import nbclient
import nbformat
import pytest

pytestmark = pytest.mark.notebooks

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
EXPECTED = (
    "01_quickstart",
    "02_rates_and_variations",
    "03_reconciling_conversions",
    "04_beyond_memory",
    "05_experiments",
    "06_canvas",
    "07_workspace",
)
#: Notebooks whose charts must reach the page (inline display works).
WITH_CHARTS = {"02_rates_and_variations", "03_reconciling_conversions", "07_workspace"}
CELL_TIMEOUT = 120


def notebook_path(name: str) -> Path:
    return NOTEBOOKS_DIR / f"{name}.ipynb"


def test_notebook_set_is_complete() -> None:
    assert sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb")) == list(EXPECTED)


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_is_stored_clean(name: str) -> None:
    nb = nbformat.read(notebook_path(name), as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, name
    for cell in code:
        assert cell.outputs == [], f"{name}: a cell was saved with its outputs"
        assert cell.execution_count is None, f"{name}: a cell was saved with an execution count"
    source = "\n".join(c.source for c in code)
    assert "Sandbox(" in source
    assert "port=0" in source
    assert ".stop()" in source


@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # jupyter_core warns about its path migration unless told which scheme to use.
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    for var in ("BRAZE_API_KEY", "BRAZE_REST_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    nb = nbformat.read(notebook_path(name), as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    if name in WITH_CHARTS:
        assert images, f"{name}: no chart was displayed"
    assert not list(tmp_path.iterdir()), f"{name}: left files in its working directory"
