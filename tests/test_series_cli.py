"""``braze-frames fetch --series``: the workspace series from a shell, against the sandbox."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import braze_frames as bf
from braze_frames import cli
from braze_frames.sandbox import Sandbox

TODAY = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=TODAY, n_campaigns=4) as sandbox:
        yield sandbox


@pytest.fixture
def here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
         sb: Sandbox) -> Iterator[tuple[pytest.CaptureFixture[str], list[str]]]:
    for name in list(os.environ):
        if name.startswith("BRAZE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("BRAZE_API_KEY", sb.api_key)
    logger = logging.getLogger("braze_frames")
    handlers, level = list(logger.handlers), logger.level
    yield capsys, ["--rest-endpoint", sb.url]
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_fetch_series_writes_what_the_library_fetches(sb: Sandbox, tmp_path: Path) -> None:
    out = tmp_path / "kpis.parquet"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAZE_")}
    env["BRAZE_API_KEY"] = sb.api_key
    proc = subprocess.run([sys.executable, "-m", "braze_frames.cli", "fetch", "--series", "dau,mau",
                           "--start", "2025-01-01", "--end", "2025-06-29", "--rest-endpoint", sb.url,
                           "-o", str(out)], env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    written = bf.read_parquet(out)
    with bf.BrazeClient(sb.api_key, sb.url) as client:
        expected = bf.fetch_series(["dau", "mau"], start="2025-01-01", end="2025-06-29", client=client)
    assert written.equals(expected)
    assert proc.stdout == (f"wrote {len(written):,} rows to {out}: dau, mau (2 series), "
                           "2025-01-01 .. 2025-06-29\n")
    assert sb.api_key not in proc.stdout + proc.stderr


def test_keys_app_unit_and_csv(here: tuple[pytest.CaptureFixture[str], list[str]], sb: Sandbox,
                               tmp_path: Path) -> None:
    capsys, endpoint = here
    app = sb.workspace.apps[0].id
    out = tmp_path / "ev.csv"
    code = cli.run(["fetch", "--series", "events", "--series-key", "signup", "--series-key", "purchase",
                    "--app-id", app, "--unit", "hour", "--length", "48", "--ending-at",
                    "2025-06-29", *endpoint, "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    frame = pl.read_csv(out)
    assert len(frame) == 96
    assert set(frame["key"]) == {"signup", "purchase"}
    assert set(frame["app_id"]) == {app}
    assert captured.out.startswith(f"wrote 96 rows to {out}: events (2 series), 2025-06-28 00:00:00")


def test_untracked_segments_are_named_on_stderr(here: tuple[pytest.CaptureFixture[str], list[str]],
                                                tmp_path: Path) -> None:
    capsys, endpoint = here
    code = cli.run(["fetch", "--series", "segment_size", "--length", "3", "--ending-at", "2025-06-29",
                    *endpoint, "-o", str(tmp_path / "seg.parquet")])
    captured = capsys.readouterr()
    assert code == 0
    (line,) = captured.err.splitlines()
    assert line.startswith("braze-frames: warning: 2 segment(s) left out, without analytics tracking")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--series-key", "signup", "--length", "3"], "--series-key go(es) with --series"),
        (["c1", "--series", "dau", "--length", "3"], "not both"),
        (["--series", "dau"], "give either --length"),
        (["--series", "hau", "--length", "3"], "unknown series kind"),
        (["--series", "dau", "--unit", "hour", "--length", "3"], "unit='hour' does not apply to dau"),
        (["--series", "segment_size", "--app-id", "x", "--length", "3"], "does not apply to segment_size"),
    ],
)
def test_bad_arguments_exit_2(here: tuple[pytest.CaptureFixture[str], list[str]], tmp_path: Path,
                              args: list[str], needle: str) -> None:
    capsys, endpoint = here
    code = cli.run(["fetch", *args, *endpoint, "-o", str(tmp_path / "x.parquet")])
    captured = capsys.readouterr()
    assert code == cli.EXIT_USAGE, captured
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line.startswith("braze-frames: error: ") and needle in line, line


def test_the_demo_prints_dau_mau_and_stickiness(here: tuple[pytest.CaptureFixture[str], list[str]],
                                               tmp_path: Path) -> None:
    capsys, _ = here
    code = cli.run(["demo", "--out", str(tmp_path), "--days", "20", "--campaigns", "1"])
    out = capsys.readouterr().out
    assert code == 0
    table = out[out.index("Workspace: daily and monthly active users"):out.index("Files in")]
    rows = [line.strip("| ").split(" | ") for line in table.splitlines() if line.startswith("| 2")]
    today = dt.datetime.now(dt.timezone.utc).date()  # the demo's sandbox: today the real one
    # Three whole months and this one up to yesterday, said to be partial (none on the 1st).
    assert len(rows) == (3 if today.day == 1 else 4)
    assert rows[-1][0].endswith("(partial)") == (today.day != 1)
    month, mean_dau, mean_mau, stickiness, days = (cell.strip() for cell in rows[0])
    ws = Sandbox(seed=0).workspace  # the demo's sandbox: seed 0, today the real one
    first = dt.date.fromisoformat(f"{month}-01")
    last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    span = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    dau, mau = ws.daily("dau"), ws.daily("mau")
    assert int(days) == len(span)
    assert int(mean_dau.replace(",", "")) == round(sum(dau[d] for d in span) / len(span))
    assert int(mean_mau.replace(",", "")) == round(sum(mau[d] for d in span) / len(span))
    assert float(stickiness) == round(100 * sum(dau[d] for d in span) / sum(mau[d] for d in span), 1)
    assert bf.read_parquet(tmp_path / "workspace.parquet").columns == list(bf.SERIES_COLUMNS)
