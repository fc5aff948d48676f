"""The command line's plumbing: exit codes, one-line errors, dates, tables, the client."""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TextIO

import click

from .._errors import redact
from ..http.config import ENV_API_KEY, ENV_REST_ENDPOINT

if TYPE_CHECKING:
    from ..http.client import BrazeClient

__all__ = ["ENV_DEBUG", "EXIT_DATA", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "PROG"]

PROG: Final = "braze-frames"

EXIT_OK: Final = 0

#: An API error (any ``BrazeError`` but ``ConfigError``), a data error, a file that cannot be written.
EXIT_DATA: Final = 1

#: A usage error (bad flags or arguments) or a configuration error (no key, bad endpoint).
EXIT_USAGE: Final = 2

#: Ctrl-C, as shells report SIGINT (128 + 2).
EXIT_INTERRUPTED: Final = 130

#: Set to 1 to get the traceback of an unexpected error (a bug) instead of its one line.
ENV_DEBUG: Final = "BRAZE_FRAMES_DEBUG"

_OUTPUT_FORMATS: Final = (".parquet", ".csv")

_CONTEXT: Final = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

#: How many failures or rows a message lists before it says how many more.
_TOP: Final = 5
_MAX_INTERNAL: Final = 400

_NAME_WIDTH: Final = 32


class _CliError(Exception):
    """An error already worded for the user, with its exit status."""

    def __init__(self, message: str, code: int = EXIT_DATA) -> None:
        super().__init__(message)
        self.code = code


def _redact(text: str) -> str:
    # Library errors never hold the key; this guards the messages of third-party code too.
    return redact(text, os.environ.get(ENV_API_KEY))


def _one_line(text: str) -> str:
    return " ".join(_redact(str(text)).split())


def _say(message: str) -> None:
    """A one-line notice on standard error (stdout stays for results)."""
    click.echo(f"{PROG}: {_one_line(message)}", err=True)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """``warnings.showwarning`` for the command line: one line, no source excerpt."""
    _say(f"warning: {message}")


def _stderr_is_terminal() -> bool:
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


class _Day(click.ParamType):  # type: ignore[type-arg, unused-ignore]  # generic from click 8.2
    """A day as the library takes it: ``YYYY-MM-DD`` or an ISO datetime, passed on as text."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from ..endpoints.windows import parse_day

        try:
            parse_day(value, param.name if param is not None and param.name else "date")
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a date; use YYYY-MM-DD (or an ISO datetime)", param, ctx)
        return str(value)


_DAY: Final = _Day()


@contextlib.contextmanager
def _client(rest_endpoint: str | None) -> Iterator[BrazeClient]:
    """A client whose key comes from ``BRAZE_API_KEY`` only.

    The two settings a first run usually lacks are checked here, so that the message names
    this program's ways to give them (the library's would suggest ``api_key=``).
    """
    from ..http.client import BrazeClient

    if not os.environ.get(ENV_API_KEY, "").strip():
        msg = (f"no API key: set {ENV_API_KEY} (needs the campaigns.data_series permission); "
               "the key is read from the environment only, never from a flag")
        raise _CliError(msg, EXIT_USAGE)
    if rest_endpoint is None and not os.environ.get(ENV_REST_ENDPOINT, "").strip():
        msg = (f"no REST endpoint: pass --rest-endpoint (a URL or an instance name such as US-03) "
               f"or set {ENV_REST_ENDPOINT}")
        raise _CliError(msg, EXIT_USAGE)
    with BrazeClient(rest_endpoint=rest_endpoint) as client:
        yield client


def _rows(frame: Any) -> int:
    return len(frame)


def _fmt_int(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.0f}"


def _fmt_rate(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.2%}"


def _fmt_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def _short(text: Any, width: int = _NAME_WIDTH) -> str:
    s = "-" if text is None else str(text)
    return s if len(s) <= width else s[: width - 3] + "..."


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()) -> str:
    """A plain-text table (ASCII only, so it reads in any terminal or log)."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in pairs]
        return "  " + "  ".join(parts).rstrip()

    out = [line(headers), line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    return "\n".join(out)


def _check_output(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in _OUTPUT_FORMATS:
        msg = f"--output must end in .parquet or .csv, got {path.name!r}"
        raise click.BadParameter(msg, param_hint="'--output'")
    if path.is_dir():
        msg = f"{path} is a directory; give a file name such as {path / 'campaigns.parquet'}"
        raise click.BadParameter(msg, param_hint="'--output'")
    parent = path.parent if str(path.parent) else Path()
    if not parent.is_dir():
        msg = f"the directory {parent} does not exist; create it first"
        raise click.BadParameter(msg, param_hint="'--output'")
    return suffix
