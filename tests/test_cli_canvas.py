"""``braze-frames fetch --canvas`` and ``braze-frames sync --canvases`` against the sandbox."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

import braze_frames as bf
from braze_frames import cli
from braze_frames._errors import DataRepairWarning
from braze_frames.sandbox import Sandbox

T = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    with Sandbox(seed=0, today=T, n_campaigns=2) as sandbox:
        yield sandbox


def in_process(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], sb: Sandbox,
               *args: str) -> tuple[int, str, str]:
    monkeypatch.setenv("BRAZE_API_KEY", sb.api_key)
    monkeypatch.setenv("BRAZE_REST_ENDPOINT", sb.url)
    capsys.readouterr()
    code = cli.run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_fetch_canvas_writes_what_the_library_fetches(sb: Sandbox, tmp_path: Path) -> None:
    ids = sb.canvas_ids[1:3]
    out = tmp_path / "canvas.parquet"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRAZE_") and k != "PYTHONWARNINGS"}
    env.update(BRAZE_API_KEY=sb.api_key, BRAZE_REST_ENDPOINT=sb.url)
    proc = subprocess.run([sys.executable, "-m", "braze_frames.cli", "fetch", "--canvas", *ids,
                           "--start", "2025-05-01", "--end", "2025-05-31", "-o", str(out)],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    written = bf.read_parquet(out)
    with bf.BrazeClient(sb.api_key, sb.url) as client, warnings.catch_warnings():
        warnings.simplefilter("ignore", DataRepairWarning)
        expected = bf.fetch_canvas_series(ids, start="2025-05-01", end="2025-05-31", client=client)
    keys = list(bf.CANVAS_COLUMNS[:-1])
    assert written.sort(keys, nulls_last=False).equals(expected.sort(keys, nulls_last=False))
    assert proc.stdout.startswith(f"wrote {written.height:,} rows to {out}: 2 Canvases with data "
                                  "of 2 asked for (Cart Recovery Flow, Re-activation Series); ")
    # The anonymous step of Canvas 2 is repaired and said, in one line.
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("braze-frames: warning: 1 repair(s)")
    assert "'Push Nudge') has neither api_id nor id" in proc.stderr


@pytest.mark.parametrize(("args", "needle"), [
    (["fetch", "--canvas", "--length", "3", "-o", "x.parquet"], "--canvas needs Canvas ids"),
    (["fetch", "--canvas", "--all", "--length", "3", "-o", "x.parquet"], "--all"),
    (["fetch", "--canvas", "k1", "--no-include-archived", "--length", "3", "-o", "x.parquet"], "--all"),
])
def test_fetch_canvas_usage_errors(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                   sb: Sandbox, tmp_path: Path, args: list[str], needle: str) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = in_process(monkeypatch, capsys, sb, *args)
    assert code == 2
    assert needle in err
    assert out == ""


def test_fetch_canvas_without_data_says_so(monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str], sb: Sandbox,
                                           tmp_path: Path) -> None:
    draft = next(c.id for c in sb.canvases if c.first_entry is None)
    code, out, err = in_process(monkeypatch, capsys, sb, "fetch", "--canvas", draft, "--length", "3",
                                "--ending-at", T.isoformat(), "-o", str(tmp_path / "none.csv"))
    assert code == 0
    assert out.startswith("wrote 0 rows")
    assert "no data for the Canvases asked for" in err


def test_sync_canvases_into_a_store(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                    sb: Sandbox, tmp_path: Path) -> None:
    store = tmp_path / "store"
    ids = sb.canvas_ids[1:3]
    code, out, err = in_process(monkeypatch, capsys, sb, "sync", str(store), "--canvases",
                                ",".join(ids), "--start", "2025-05-01", "--end", "2025-05-10")
    assert code == 0, err
    assert out.startswith(f"synced 0 campaigns and 2 Canvases into {store}: 20 Canvas-days fetched")
    table = bf.read_store(store, table="canvas")
    assert sorted(table["canvas_id"].cast(pl.String).unique()) == sorted(ids)
    code, out, err = in_process(monkeypatch, capsys, sb, "sync", str(store), "--end", "2025-05-12",
                                "--lookback-days", "1")
    assert code == 0, err
    assert out.startswith(f"synced 0 campaigns and 2 Canvases into {store}: 6 Canvas-days fetched")


def test_the_demo_shows_one_canvas_with_names(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for name in [n for n in os.environ if n.startswith("BRAZE_")]:
        monkeypatch.delenv(name)
    code = cli.run(["demo", "--out", str(tmp_path), "--campaigns", "1", "--days", "30"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert err == ""
    section = out[out.index("Canvas 'Cart Recovery Flow'"):]
    rows = [line for line in section.splitlines()[1:8] if line.startswith("| ")]
    cells = {r.split("|")[1].strip(): [c.strip() for c in r.split("|")[2:-1]] for r in rows[1:]}
    assert set(cells) == {"Control Group", "Variant 1", "Variant 2", "(all variants)"}
    assert cells["Control Group"][0] == "yes"
    # Entries and conversions are the simulation's (the demo's sandbox: seed 0, today).
    sb = Sandbox(seed=0)
    canvas = next(c for c in sb.canvases if c.name == "Cart Recovery Flow")
    truth = sb.canvas_truth(canvas.id)
    days = [sb.today - dt.timedelta(days=i) for i in range(30)]
    for variant in canvas.variants:
        entries = sum(truth.entries(variant.id).get(d, 0) for d in days)
        conversions = sum(truth.conversions(0, variant.id).get(d, 0) for d in days)
        assert cells[variant.name][1:3] == [f"{entries:,}", f"{conversions:,}"]
    assert bf.read_parquet(tmp_path / "canvas.parquet").columns == list(bf.CANVAS_COLUMNS)
