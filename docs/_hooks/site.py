"""MkDocs hooks: the parts of the site that are generated from the code at build time.

So that the docs and the code cannot disagree, these are never written by hand:

- the API reference: one page per group of the names in ``braze_frames.__all__``, each
  name put in a group by the module that defines it (a name that does not exist yet is
  simply absent; a new one appears in its group on the next build), plus the sandbox;
- the notebooks (``notebooks/*.ipynb``, executed by mkdocs-jupyter), listed in the nav;
- ``CONTRIBUTING.md``, served as the Contributing page;
- markers in the pages, replaced with what the code says:

  ``<!-- generated: rates -->``         every ``Rate`` of ``bf.RATES`` (and of any other
                                        exported collection of rates), as tables;
  ``<!-- generated: channels -->``      ``bf.CHANNEL_SCHEMAS``;
  ``<!-- generated: tidy-columns -->``  ``bf.TIDY_COLUMNS`` with their polars, pandas and
                                        Parquet types, read from a real frame and file;
  ``<!-- generated: cli -->``           the ``--help`` of every ``braze-frames`` command;
  ``<!-- generated: errors -->``        the exception tree under ``BrazeError``, and the
                                        warnings.

Everything here runs locally: nothing is downloaded. The pages describe the checkout being
built: its root goes first on ``sys.path`` (and on the notebooks' kernel's PYTHONPATH), as
mkdocstrings' ``paths: [.]`` does for the docstrings.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
PACKAGE = "braze_frames"
log = logging.getLogger(f"mkdocs.hooks.{PACKAGE}")

#: The reference's groups, in nav order: (page, title, what it holds, module prefixes).
#: A public name goes to the first group whose prefix starts its defining module's path;
#: exceptions and warnings go to "errors" wherever they are defined.
GROUPS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("fetching", "Fetching", "Reading Braze's endpoints into tidy frames, and the client.",
     ("braze_frames.fetch", "braze_frames.canvas", "braze_frames.series", "braze_frames.http",
      "braze_frames.endpoints")),
    ("tidy", "The tidy table", "The table's columns, the channel schemas, building a frame.",
     ("braze_frames._schema", "braze_frames._tables", "braze_frames._tidy")),
    ("verbs", "Verbs", "pivot, rates, reconcile, experiment, validate: any frame in, the same type out.",
     ("braze_frames.verbs", "braze_frames.accessor")),
    ("charts", "Charts", "matplotlib figures (the plot extra).",
     ("braze_frames.charts", "braze_frames.plot")),
    ("storage", "Storage", "Parquet files, datasets and the incremental store.",
     ("braze_frames.storage",)),
    ("errors", "Errors and warnings", "Everything raised or warned on purpose.",
     ("braze_frames._errors",)),
)
OTHER: tuple[str, str, str, tuple[str, ...]] = ("other", "Other", "Public names not in the groups above.", ())
#: Reading order inside a group; names not listed follow in ``__all__`` order. A name
#: listed here that does not exist is skipped: the list orders, ``__all__`` decides.
FIRST = (
    "fetch_data_series", "fetch_canvas_series", "fetch_series", "fetch_send_series",
    "BrazeClient", "FetchResult", "FetchFailure", "list_campaigns", "campaign_details",
    "list_canvases", "canvas_details", "list_products", "ClientStats",
    "TIDY_COLUMNS", "CHANNEL_SCHEMAS", "from_records",
    "BrazeAccessor", "validate", "pivot", "unpivot", "rates", "Rate", "RATES", "reconcile",
    "experiment",
    "plot", "plot_reconcile", "plot_experiment", "variation_colors",
    "write_parquet", "read_parquet", "parquet_metadata", "write_csv", "sync", "SyncReport",
    "read_store",
    "BrazeError", "ConfigError", "TidyFrameError", "BrazeConnectionError",
    "UnexpectedResponseError", "BrazeAPIError", "AuthenticationError",
    "PermissionDeniedError", "RateLimitError",
)
MARKER = re.compile(r"<!--\s*generated:\s*([\w-]+)\s*-->")


# --- configuration ----------------------------------------------------------------------


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Put the checkout first on the paths, and expand the generated nav sections."""
    _GRIFFE.clear()  # a new build (mkdocs serve) reads the code again
    root = str(ROOT)
    if sys.path[:1] != [root]:
        sys.path.insert(0, root)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and p != root]
    os.environ["PYTHONPATH"] = os.pathsep.join([root, *paths])  # the notebooks' kernel
    # jupyter_core warns about its path migration unless told which scheme to use.
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    # A progress bar is for a person watching a kernel, not for a page: its intermediate
    # states would be kept as red stderr blocks.
    os.environ.setdefault("TQDM_DISABLE", "1")

    sections: dict[str, list[Any]] = {
        "notebooks/index.md": [{"Overview": "notebooks/index.md"}, *(
            {_notebook_title(p): f"notebooks/{p.name}"} for p in _notebooks()
        )],
        "reference/index.md": [{"Overview": "reference/index.md"}, *(
            {title: f"reference/{page}.md"} for page, title, _ in _reference_pages()
        )],
    }
    nav = config.nav or []
    for i, item in enumerate(nav):
        if isinstance(item, dict):
            ((title, target),) = item.items()
            if isinstance(target, str) and target in sections:
                nav[i] = {title: sections[target]}
    return config


def _notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def _notebook_title(path: Path) -> str:
    """``02_rates_and_variations`` -> ``Rates and variations``."""
    words = re.sub(r"^\d+[_-]*", "", path.stem).replace("_", " ").replace("-", " ").strip()
    return (words[:1].upper() + words[1:]) or path.stem


# --- files --------------------------------------------------------------------------------


@event_priority(100)  # before mkdocs-jupyter, so that it sees the notebooks
def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages and the notebooks to the site's files."""
    for path in _notebooks():
        # A plain File rooted at the checkout (not File.generated): mkdocs-jupyter's wrapper
        # reads the source path from src_dir.
        files.append(File(f"notebooks/{path.name}", src_dir=str(ROOT), dest_dir=config.site_dir,
                          use_directory_urls=config.use_directory_urls))
    files.append(File.generated(config, "notebooks/index.md", content=_notebooks_index()))
    contributing = ROOT / "CONTRIBUTING.md"
    if contributing.exists():
        files.append(File.generated(config, "contributing.md", abs_src_path=str(contributing)))
    pages = _reference_pages()
    files.append(File.generated(config, "reference/index.md", content=_reference_index(pages)))
    for page, title, names in pages:
        files.append(File.generated(config, f"reference/{page}.md", content=_reference_page(title, names)))
    return files


def _notebooks_index() -> str:
    lines = [
        "# Notebooks",
        "",
        "Each notebook below was run from top to bottom when this site was built, against the",
        "sandbox (a local simulator of Braze's REST API: every number is simulated), so what",
        "you see is what the code in this build does. They live in the repository's",
        "`notebooks/` folder; open them in Jupyter to run them yourself (no key needed), and",
        "the test suite runs them too.",
        "",
    ]
    lines += [f"- [{_notebook_title(p)}]({p.name}): {_notebook_summary(p)}" for p in _notebooks()]
    return "\n".join(lines) + "\n"


def _notebook_summary(path: Path) -> str:
    """The notebook's first heading, as its one-line summary."""
    import json

    cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        if cell.get("cell_type") == "markdown":
            for line in "".join(cell.get("source", [])).splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return _notebook_title(path)


# --- the API reference --------------------------------------------------------------------


def _package() -> Any:
    return importlib.import_module(PACKAGE)


def _public_names() -> list[str]:
    return [n for n in _package().__all__ if not (n.startswith("__") and n.endswith("__"))]


_GRIFFE: dict[str, Any] = {}


def _griffe_package() -> Any:
    """The package as mkdocstrings sees it (griffe, with the ``#:`` comment extension)."""
    if "package" not in _GRIFFE:
        import griffe

        extension = griffe.load_extensions(str(Path(__file__).with_name("griffe_comments.py")))
        _GRIFFE["package"] = griffe.load(PACKAGE, search_paths=[str(ROOT)], extensions=extension,
                                         resolve_aliases=True, resolve_external=False)
    return _GRIFFE["package"]


def _griffe_object(name: str) -> Any:
    """A public name's griffe object (the alias's target), or None."""
    import griffe

    try:
        obj = _griffe_package()[name]
        return obj.final_target if obj.is_alias else obj
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return None


def _reference_pages() -> list[tuple[str, str, list[str]]]:
    """(page, title, names) for every group that has names, then the sandbox."""
    bf = _package()
    grouped: dict[str, list[str]] = {}
    for name in _public_names():
        if not hasattr(bf, name):
            log.warning("braze_frames.__all__ names %r, which does not exist", name)
            continue
        obj = getattr(bf, name)
        target = _griffe_object(name)
        module = target.module.path if target is not None else _identifier(name).rsplit(".", 1)[0]
        if isinstance(obj, type) and issubclass(obj, (BaseException, Warning)):
            page = "errors"
        else:
            page = next((g[0] for g in GROUPS if module.startswith(g[3])), OTHER[0])
        grouped.setdefault(page, []).append(name)
    rank = {n: i for i, n in enumerate(FIRST)}
    order = {n: i for i, n in enumerate(_public_names())}
    pages = []
    for page, title, _, _ in (*GROUPS, OTHER):
        names = grouped.get(page)
        if names:
            names = sorted(names, key=lambda n: (rank.get(n, len(rank)), order[n]))
            pages.append((page, title, names))
    pages.append(("sandbox", "Sandbox", []))
    return pages


def _summary(name: str) -> str:
    """The first paragraph of a name's docstring (or of its ``#:`` comment), on one line."""
    obj = _griffe_object(name)
    if obj is not None:
        doc = obj.docstring.value if obj.docstring is not None else ""
    else:  # not visible to griffe: the run-time docstring
        value = getattr(_package(), name, None)
        doc = (inspect.getdoc(value) or "") if callable(value) else ""
    return doc.strip().split("\n\n")[0].replace("\n", " ")


def _reference_index(pages: list[tuple[str, str, list[str]]]) -> str:
    bf = _package()
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings when the site is built: every name in",
        "`braze_frames.__all__`, grouped by what it is for, and the sandbox. Everything is",
        "reached as `bf.<name>` after `import braze_frames as bf`, and the verbs also as",
        "methods of the `braze` accessor (`df.braze.rates(...)`).",
        "",
        f"This build documents version `{getattr(bf, '__version__', '?')}`.",
        "",
    ]
    descriptions = {page: text for page, _, text, _ in (*GROUPS, OTHER)}
    descriptions["sandbox"] = "The local simulator of Braze's REST API: `braze_frames.sandbox`."
    for page, title, names in pages:
        lines += [f"## [{title}]({page}.md)", "", descriptions.get(page, ""), ""]
        if names:
            lines += ["| name | what it is |", "|---|---|"]
            for name in names:
                summary = _cell(_summary(name))
                lines.append(f"| [`{name}`]({page}.md#{_identifier(name)}) | {summary} |")
            lines.append("")
        else:
            lines += [f"[`braze_frames.sandbox.Sandbox`]({page}.md) and the simulated truths it exposes.", ""]
    return "\n".join(lines)


def _reference_page(title: str, names: list[str]) -> str:
    if not names:
        return _sandbox_page()
    lines = [f"# {title}", ""]
    for name in names:
        lines += [f"::: {_identifier(name)}", "    options:", f"      heading: {name}", ""]
    return "\n".join(lines)


def _identifier(name: str) -> str:
    """Where mkdocstrings finds a public name.

    ``braze_frames.<name>`` when griffe resolves it (an eager import, or a lazy one that
    ``__init__.py`` also imports under TYPE_CHECKING), else the module that defines it,
    found at run time.
    """
    if _griffe_object(name) is not None:
        return f"{PACKAGE}.{name}"
    bf = _package()
    module = getattr(getattr(bf, name, None), "__module__", None)
    if not (isinstance(module, str) and module.startswith(PACKAGE)):
        lazy = getattr(bf, "_LAZY", {}).get(name)
        module = f"{PACKAGE}.{lazy}" if lazy else None
    if module is None:
        log.warning("cannot tell where braze_frames.%s is defined: import it in __init__.py "
                    "(under TYPE_CHECKING if it is lazy)", name)
        return f"{PACKAGE}.{name}"
    return f"{module}.{name}"


def _sandbox_page() -> str:
    sandbox = importlib.import_module(f"{PACKAGE}.sandbox")
    others = [n for n in getattr(sandbox, "__all__", []) if n != "Sandbox"]
    lines = [
        "# Sandbox",
        "",
        f"::: {PACKAGE}.sandbox",
        "    options:",
        "      members: false",
        "      show_root_heading: false",
        "      show_root_toc_entry: false",
        "",
        f"::: {PACKAGE}.sandbox.Sandbox",
        "",
    ]
    if others:
        lines += ["## Also in `braze_frames.sandbox`", "",
                  "The catalogue and the simulated truths the sandbox exposes, for tests and",
                  "notebooks that check an estimate against what was simulated.", ""]
        for name in others:
            lines += [f"::: {PACKAGE}.sandbox.{name}", "    options:", "      heading_level: 3", ""]
    return "\n".join(lines)


# --- generated tables in pages ------------------------------------------------------------


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Replace each ``<!-- generated: NAME -->`` marker with what the code says."""

    def replace(match: re.Match[str]) -> str:
        make = GENERATORS.get(match.group(1))
        if make is None:
            log.warning("%s: unknown marker %r (known: %s)", page.file.src_uri, match.group(0),
                        ", ".join(sorted(GENERATORS)))
            return match.group(0)
        return make()

    return MARKER.sub(replace, markdown)


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _terms(terms: Iterable[tuple[int, str]]) -> str:
    text = ""
    for i, (sign, metric) in enumerate(terms):
        if i == 0:
            text = f"`{metric}`" if sign > 0 else f"-`{metric}`"
        else:
            text += f" {'+' if sign > 0 else '-'} `{metric}`"
    return text


def _channels(channels: frozenset[str] | None) -> str:
    schema = importlib.import_module(f"{PACKAGE}._schema")
    if channels is None:
        return "any (incl. the `all` rows)"
    named = {
        "every push channel": getattr(schema, "PUSH_CHANNELS", None),
        "in-app channels": getattr(schema, "IN_APP_CHANNELS", None),
    }
    for label, group in named.items():
        if group is not None and frozenset(channels) == frozenset(group):
            return label
    return ", ".join(f"`{c}`" for c in sorted(channels))


_STANDARD_FIELDS = ("name", "channels", "numerator", "denominator", "control_denominator", "description")


def _extra(value: object) -> str:
    if value is None or value in ("", ()):
        return ""
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, tuple) and all(isinstance(t, tuple) and len(t) == 2 for t in value):
        return _terms(value)
    return _cell(value)


def _rates_table(rates: list[Any]) -> str:
    """One row per Rate: its every field, those added after this hook was written included."""
    fields = [f.name for f in dataclasses.fields(rates[0])] if dataclasses.is_dataclass(rates[0]) else []
    extras = [f for f in fields if f not in _STANDARD_FIELDS and not f.startswith("_")
              and any(_extra(getattr(r, f)) for r in rates)]
    has_control = any(getattr(r, "control_denominator", None) for r in rates)
    header = ["rate", "channels", "numerator", "denominator"]
    if has_control:
        header.append("control groups' denominator")
    header += [f.replace("_", " ") for f in extras]
    header.append("description")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rates:
        row = [f"`{r.name}`", _channels(r.channels), _terms(r.numerator), _terms(r.denominator)]
        if has_control:
            row.append(_terms(r.control_denominator) if r.control_denominator else "")
        row += [_extra(getattr(r, f)) for f in extras]
        row.append(_cell(getattr(r, "description", "")))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _rate_collections() -> list[tuple[str, list[Any]]]:
    """Every exported collection of ``Rate`` objects: ``RATES``, and any added later."""
    bf = _package()
    rate_type = bf.Rate
    found = []
    for name in _public_names():
        value = getattr(bf, name, None)
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
            continue
        items = list(value)
        if items and all(isinstance(r, rate_type) for r in items):
            found.append((name, items))
    return sorted(found, key=lambda item: item[0] != "RATES")


def _generated_rates() -> str:
    collections = _rate_collections()
    if not collections:
        log.warning("no collection of Rate objects found in braze_frames.__all__")
        return ""
    blocks = []
    for name, rates in collections:
        count = f"{len(rates)} definition{'s' if len(rates) != 1 else ''}"
        heading = f"**`bf.{name}`** ({count})\n\n" if len(collections) > 1 else ""
        blocks.append(heading + _rates_table(rates))
    return "\n\n".join(blocks)


def _generated_channels() -> str:
    bf = _package()
    schema = importlib.import_module(f"{PACKAGE}._schema")
    legacy = frozenset(getattr(schema, "LEGACY_PUSH_CHANNELS", ()))
    lines = ["| channel | metrics, in Braze's order |", "|---|---|"]
    for channel, metrics in bf.CHANNEL_SCHEMAS.items():
        label = f"`{channel}`" + (" (legacy key)" if channel in legacy else "")
        lines.append(f"| {label} | {', '.join(f'`{m}`' for m in metrics)} |")
    return "\n".join(lines)


def _generated_tidy_columns() -> str:
    """The tidy columns with the types a real frame and a real Parquet file have."""
    import pyarrow.parquet as pq

    bf = _package()
    record = {c: "2024-07-01" if c == "date" else 1.0 if c == "value" else "x" for c in bf.TIDY_COLUMNS}
    polars_frame = bf.from_records([record])
    pandas_types: Mapping[str, Any] = {}
    try:
        pandas_types = bf.from_records([record], backend="pandas").dtypes.to_dict()
    except ImportError:  # pandas is an extra; the docs build installs it (dev)
        log.warning("pandas is not installed: the tidy table's pandas types are missing")
    with tempfile.TemporaryDirectory() as tmp:
        path = bf.write_parquet(polars_frame, Path(tmp) / "tidy.parquet")
        arrow = pq.read_schema(path)
    lines = ["| column | polars | pandas | Parquet (Arrow) |", "|---|---|---|---|"]
    lines += [f"| `{c}` | {polars_frame.schema[c]} | {pandas_types.get(c, '')} "
              f"| `{_cell(arrow.field(c).type)}` |" for c in bf.TIDY_COLUMNS]
    return "\n".join(lines)


def _generated_cli() -> str:
    """Every command's ``--help``, as the program prints it."""
    import click

    module = importlib.import_module(f"{PACKAGE}.cli")
    group = next(v for v in vars(module).values() if isinstance(v, click.Group))
    prog = "braze-frames"

    def context(command: click.Command, name: str, parent: click.Context | None) -> click.Context:
        settings = {**command.context_settings, "terminal_width": 88, "max_content_width": 88}
        return click.Context(command, info_name=name, parent=parent, **settings)

    def helptext(command: click.Command, name: str, parent: click.Context | None) -> str:
        return command.get_help(context(command, name, parent))

    root = context(group, prog, None)
    blocks = [f"### `{prog}`\n\n```text\n{helptext(group, prog, None)}\n```"]
    for name in group.list_commands(root):
        command = group.get_command(root, name)
        if command is None or command.hidden:
            continue
        blocks.append(f"### `{prog} {name}`\n\n```text\n{helptext(command, name, root)}\n```")
    return "\n\n".join(blocks)


def _generated_errors() -> str:
    """The exception tree under ``BrazeError``, and the warnings, from the classes themselves."""
    bf = _package()
    public = {getattr(bf, n) for n in _public_names() if isinstance(getattr(bf, n, None), type)}

    def line(cls: type, depth: int) -> list[str]:
        others = [b.__name__ for b in cls.__bases__ if b.__module__ == "builtins" and b is not Exception]
        also = f" (also a `{'`, `'.join(others)}`)" if others else ""
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        found = ["    " * depth + f"- `{cls.__name__}`{also}: {doc}"]
        subclasses: list[type] = cls.__subclasses__()
        for sub in sorted(subclasses, key=lambda c: c.__name__):
            if sub in public:
                found += line(sub, depth + 1)
        return found

    lines = line(bf.BrazeError, 0)
    warns = sorted((c for c in public if issubclass(c, Warning)), key=lambda c: c.__name__)
    lines += ["", "Warnings:", ""]
    for cls in warns:
        lines += line(cls, 0)
    return "\n".join(lines)


GENERATORS: dict[str, Callable[[], str]] = {
    "errors": _generated_errors,
    "rates": _generated_rates,
    "channels": _generated_channels,
    "tidy-columns": _generated_tidy_columns,
    "cli": _generated_cli,
}
