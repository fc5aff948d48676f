"""The command line's plumbing: exit codes, one-line errors, dates, tables, the client."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import sys
from collections.abc import Iterator
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


# The library's messages name its keyword arguments (start='2025-01-01'); the command line
# says the same with its options (--start 2025-01-01). Not after & or ?: URLs keep theirs.
_ARGUMENTS: Final = ("start", "end", "ending_at", "length", "lookback_days", "include_archived",
                     "rate", "baseline", "alpha")
_ARGUMENT_VALUE: Final = re.compile(
    rf"(?<![&?\w])({'|'.join(_ARGUMENTS)})=(['\"]?)(\w[\w.:+-]*)\2")
_ARGUMENT: Final = re.compile(rf"(?<![&?\w])({'|'.join(_ARGUMENTS)})=")


def _cli_terms(text: str) -> str:
    """A library message in this program's terms.

    Examples:
        >>> _cli_terms("the first sync needs start=: e.g. start='2025-01-01' (ids in ?start=1)")
        'the first sync needs --start: e.g. --start 2025-01-01 (ids in ?start=1)'
    """
    def option(name: str) -> str:
        return "--" + name.replace("_", "-")

    text = _ARGUMENT_VALUE.sub(lambda m: f"{option(m[1])} {m[3]}", text)
    return _ARGUMENT.sub(lambda m: option(m[1]), text)


def _say(message: str) -> None:
    """A one-line notice on standard error (stdout stays for results)."""
    click.echo(f"{PROG}: {_one_line(message)}", err=True)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    """``warnings.showwarning`` for the command line: one line, no source excerpt."""
    _say(f"warning: {_cli_terms(str(message))}")


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


def _utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


def _check_days(start: str | None, end: str | None, *, end_flag: str = "--end") -> None:
    """Refuse a --start after --end, or in the future, in this program's terms."""
    from ..endpoints.windows import parse_day

    if start is None:
        return
    first = parse_day(start, "start")
    if end is not None:
        last = parse_day(end, "end")
        if first > last:
            msg = f"--start {first} is after {end_flag} {last}; swap them"
            raise click.UsageError(msg)
        return
    today = _utc_today()
    if first > today:
        msg = (f"--start {first} is in the future (today is {today} in UTC): Braze has no data "
               f"for it yet; give a day up to today, or a later {end_flag} as well")
        raise click.UsageError(msg)


def _configured(rest_endpoint: str | None) -> bool:
    """Whether a key and an endpoint are set, so the API can be asked."""
    key = os.environ.get(ENV_API_KEY, "").strip()
    return bool(key and (rest_endpoint or os.environ.get(ENV_REST_ENDPOINT, "").strip()))


@contextlib.contextmanager
def _client(rest_endpoint: str | None, *, needs: str = "campaigns.data_series",
            **options: Any) -> Iterator[BrazeClient]:
    """A client whose key comes from ``BRAZE_API_KEY`` only.

    The two settings a first run usually lacks are checked here, so that the message names
    this program's ways to give them (the library's would suggest ``api_key=``).
    """
    from ..http.client import BrazeClient

    if not os.environ.get(ENV_API_KEY, "").strip():
        msg = (f"no API key: set {ENV_API_KEY} (needs the {needs} permission); "
               "the key is read from the environment only, never from a flag")
        raise _CliError(msg, EXIT_USAGE)
    if rest_endpoint is None and not os.environ.get(ENV_REST_ENDPOINT, "").strip():
        msg = (f"no REST endpoint: pass --rest-endpoint (a URL or an instance name such as US-03) "
               f"or set {ENV_REST_ENDPOINT}")
        raise _CliError(msg, EXIT_USAGE)
    with BrazeClient(rest_endpoint=rest_endpoint, **options) as client:
        yield client


def _rows(frame: Any) -> int:
    return len(frame)


def _fmt_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def _check_output(path: Path) -> str:
    """Refuse an output that cannot be written, before any request is made (exit 2)."""
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
    # The file is written beside its target, then renamed over it: the directory must be
    # writable, whether or not the file exists.
    if not os.access(parent, os.W_OK | os.X_OK):
        msg = f"cannot write {path}: the directory {parent} is not writable"
        raise click.BadParameter(msg, param_hint="'--output'")
    return suffix


def _save(table: Any, output: Path | None) -> None:
    """Write a polars result table to ``output`` when one is given, and say where (stderr)."""
    if output is not None:
        _say(f"wrote {table.height:,} rows to {_write(table, output)}")


def _write(frame: Any, path: Path) -> Path:
    """Write a frame to ``path`` (.parquet or .csv); an OS error names ``path`` and exits 2.

    The writers build a temporary file beside the target; their error names it, which
    means nothing to the user (and some checks, such as a root user's, pass
    ``os.access`` yet fail to write).
    """
    from ..storage.parquet import write_csv, write_parquet

    try:
        if path.suffix.lower() == ".csv":
            return write_csv(frame, path)
        return write_parquet(frame, path)
    except OSError as exc:
        msg = f"cannot write {path}: {exc.strerror or exc}; choose another --output"
        raise _CliError(msg, EXIT_USAGE) from None


def _print_frame(frame: Any, *, rows: int | None = None, float_precision: int | None = None) -> None:
    """Print a polars frame as a plain table through polars' own formatting.

    ASCII only, no shape or dtype lines, every column, strings cut at 40 characters and
    numbers with thousands separators: the table reads in any terminal or log.
    """
    import polars as pl

    shown = frame if rows is None else frame.head(rows)
    with pl.Config(
        tbl_formatting="ASCII_MARKDOWN",
        tbl_hide_column_data_types=True,
        tbl_hide_dataframe_shape=True,
        tbl_rows=-1,
        tbl_cols=-1,
        tbl_width_chars=10_000,
        fmt_str_lengths=200,  # no cut: polars would mark it with a non-ASCII ellipsis
        thousands_separator=True,
        float_precision=float_precision,
        tbl_cell_numeric_alignment="RIGHT",
    ):
        click.echo(str(shown))
    if rows is not None and frame.height > rows:
        click.echo(f"({frame.height - rows:,} more rows not shown; --rows N shows more, "
                   "-o FILE writes them all)")
