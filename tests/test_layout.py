"""The package's layout: imports flow one way (STYLE.md, CONTRIBUTING.md)."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "braze_frames"
DATAFRAME_LIBRARIES = {"polars", "pandas", "narwhals", "pyarrow", "numpy"}


def imports_of(path: pathlib.Path) -> tuple[set[str], set[str]]:
    """(third-party top-level modules, braze_frames modules) imported anywhere in a file."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if path.name == "__init__.py":
        package += ".__init__"
    outside: set[str] = set()
    inside: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                (inside if alias.name.startswith("braze_frames") else outside).add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: -node.level]
                name = ".".join([*base, *([node.module] if node.module else [])])
                inside.add(name)
                inside.update(f"{name}.{a.name}" for a in node.names)
            elif (node.module or "").startswith("braze_frames"):
                inside.add(node.module or "")
            else:
                outside.add(node.module or "")
    return {m.split(".")[0] for m in outside}, inside


def modules(*parts: str) -> list[pathlib.Path]:
    found: list[pathlib.Path] = []
    for part in parts:
        target = PACKAGE / part
        found.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target])
    return found


@pytest.mark.parametrize("path",
                         modules("endpoints", "_schema.py", "_tables.py", "_errors.py", "_validate.py"),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_parsing_and_the_ground_floor_import_no_dataframe_library(path: pathlib.Path) -> None:
    outside, _ = imports_of(path)
    assert not outside & DATAFRAME_LIBRARIES


@pytest.mark.parametrize("path", modules("_schema.py", "_tables.py", "_errors.py", "_validate.py"),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_ground_floor_imports_nothing_of_ours_above_it(path: pathlib.Path) -> None:
    _, inside = imports_of(path)
    ground = ("braze_frames._schema", "braze_frames._tables", "braze_frames._errors",
              "braze_frames._validate")
    assert all(m.startswith(ground) for m in inside)


@pytest.mark.parametrize("path", modules("verbs"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_verbs_never_import_the_client_fetching_or_storage(path: pathlib.Path) -> None:
    _, inside = imports_of(path)
    banned = ("braze_frames.http", "braze_frames.fetch", "braze_frames.storage",
              "braze_frames.cli", "braze_frames.sandbox")
    assert not [m for m in inside if m.startswith(banned)]
    outside, _ = imports_of(path)
    assert "requests" not in outside


@pytest.mark.parametrize("path", modules("http"), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_http_knows_nothing_of_frames(path: pathlib.Path) -> None:
    outside, inside = imports_of(path)
    assert not outside & DATAFRAME_LIBRARIES
    banned = ("braze_frames.verbs", "braze_frames.storage", "braze_frames.fetch",
              "braze_frames.cli", "braze_frames._tidy")
    assert not [m for m in inside if m.startswith(banned)]
