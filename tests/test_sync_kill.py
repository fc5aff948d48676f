"""SIGKILL a sync at random points: the store stays readable and certifies only what it holds.

A child process (``CHILD`` below) imports everything and builds a sandbox once, then forks
one grandchild per sync, so a sync starts in milliseconds rather than after a second of
imports. The child SIGKILLs the grandchild after the delay the test drew (it is the
grandchild's parent, so the pid cannot have been reused). Each grandchild serves its own
sandbox (same seed, same ``today``, some latency) and syncs a range that grows from one run
to the next, backwards and forwards, in batches of about two campaigns (fetched while the
previous batch is written), so kills land in first syncs, backfills, look-backs, partition
rewrites and manifest writes.

After every run, killed or not, the store must be readable by ``read_store`` and (a Parquet
store) by a glob scan (leftover temporary files are never data), hold no duplicate key, hold
each (campaign, day) it has exactly as a clean sync does (partitions are replaced whole),
and hold every day its manifest certifies. After a last run to completion it must equal a
clean sync into a fresh store.

The same runs go against a Parquet store in a local folder, a Delta store in a local folder,
and a Parquet store on S3 (a real S3 protocol server on 127.0.0.1, ``_support_s3``).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import polars as pl
import pytest
from _support_s3 import S3, running_s3
from polars.testing import assert_frame_equal

from braze_frames._schema import KEY_COLUMNS, TIDY_COLUMNS
from braze_frames.storage import delta as delta_store
from braze_frames.storage.store import MANIFEST_NAME, read_store

pytestmark = pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs os.fork")

T = dt.date(2026, 6, 30)
CAMPAIGNS = (0, 2, 7, 11, 19)  # email, ios_push + control, webhook, in-app A/B/C, recent email
LATENCY = 0.05

CHILD = r'''
import datetime as dt, json, os, signal, sys, time, traceback
import pyarrow.dataset  # noqa: F401  imported lazily by read_parquet: import it once, here

from braze_frames import BrazeClient
from braze_frames.storage import lock as _lock
from braze_frames.storage import store as _sync
from braze_frames.storage.lock import StoreLockedError
from braze_frames.storage.store import sync
from braze_frames.sandbox import Sandbox

# About two campaigns a batch: a run fetches a batch while it writes the one before.
_sync._MIN_BATCH, _sync._BATCH_PER_THREAD = 4, 0
# A killed writer's lock object on S3 lives on until it expires: a short expiry, and the
# scheduler's answer to "another sync holds the lock" (wait, then run again).
_lock.LOCK_SECONDS = 1.0

config = json.loads(sys.argv[1])
sandbox = Sandbox(seed=0, today=dt.date.fromisoformat(config["today"]), latency=config["latency"])
ids = [sandbox.campaign_ids[i] for i in config["campaigns"]]
sandbox.warm(ids)  # simulate once, before forking


def run(job):
    sandbox.start()  # each grandchild serves its copy on a fresh port
    with BrazeClient(sandbox.api_key, sandbox.url, max_concurrency=2) as client:
        for attempt in range(20):
            try:
                sync(job["store"], ids, start=job["start"], end=job["end"], lookback_days=30,
                     client=client, progress=False, format=job["format"],
                     storage_options=job["options"])
                return
            except StoreLockedError:
                if attempt == 19:
                    raise
                time.sleep(0.25)


for line in sys.stdin:
    job = json.loads(line)
    started = time.monotonic()
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            run(job)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    deadline = None if job["kill_after"] is None else started + job["kill_after"]
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if deadline is not None and time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
            break
        time.sleep(0.002)
    print(json.dumps({"status": os.waitstatus_to_exitcode(status),
                      "seconds": time.monotonic() - started}), flush=True)
'''


class Where:
    """Where the stores of one parametrization live: a local folder or a bucket, a format."""

    def __init__(self, tmp_path: Path, fmt: str, s3: S3 | None) -> None:
        self.tmp_path, self.format, self.s3 = tmp_path, fmt, s3
        self.bucket = s3.bucket() if s3 is not None else None
        self.options = s3.options if s3 is not None else None

    def store(self, name: str) -> str:
        return f"s3://{self.bucket}/{name}" if self.bucket else str(self.tmp_path / name)

    def exists(self, store: str) -> bool:
        if self.s3 is not None:
            assert self.bucket is not None
            return bool(self.s3.keys(self.bucket, store.split("/", 3)[3] + "/"))
        return Path(store).exists()

    def manifest(self, store: str) -> dict[str, Any] | None:
        if self.format == "delta":
            return delta_store.manifest_json(Path(store)) if delta_store.is_delta(Path(store)) else None
        if self.s3 is not None:
            key = store.split("/", 3)[3] + "/" + MANIFEST_NAME
            client = self.s3.client()
            try:
                body = client.get_object(Bucket=self.bucket, Key=key)["Body"].read()
            except client.exceptions.NoSuchKey:
                return None
            return dict(json.loads(body))
        path = Path(store) / MANIFEST_NAME
        return dict(json.loads(path.read_text())) if path.exists() else None

    def job(self, store: str, k: int, kill_after: float | None) -> dict[str, Any]:
        """Run k's range: a little further back and further forward than run k-1's."""
        start = max(T - dt.timedelta(days=200 + 5 * k), T - dt.timedelta(days=300))
        end = min(T - dt.timedelta(days=120 - 7 * k), T)
        return {"store": store, "start": str(start), "end": str(end), "kill_after": kill_after,
                "format": self.format, "options": self.options}


FINAL = 20  # from this run on, the range is the whole one (T-300 .. T)


class Child:
    """The forking child: send it a job, get the grandchild's exit status and duration."""

    def __init__(self, script: Path) -> None:
        config = {"today": str(T), "latency": LATENCY, "campaigns": list(CAMPAIGNS)}
        self.proc = subprocess.Popen(
            [sys.executable, str(script), json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )

    def run(self, job: dict[str, Any]) -> tuple[int, float]:
        stdin, stdout = self.proc.stdin, self.proc.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps(job) + "\n")
        stdin.flush()
        line = stdout.readline()
        assert line, f"the child died (exit code {self.proc.poll()})"
        answer = json.loads(line)
        return int(answer["status"]), float(answer["seconds"])

    def close(self) -> None:
        stdin: IO[str] | None = self.proc.stdin
        if stdin is not None:
            stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def child(tmp_path: Path) -> Iterator[Child]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    forking = Child(script)
    try:
        yield forking
    finally:
        forking.close()


def strings(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).cast(pl.String) for c in TIDY_COLUMNS
                              if c not in ("date", "value")).sort(list(KEY_COLUMNS))


def check_store(where: Where, store: str, reference: pl.DataFrame) -> None:
    """Everything the module docstring promises about a store after a kill."""
    if not where.exists(store):
        return
    got = strings(read_store(store, storage_options=where.options))
    assert got.select(KEY_COLUMNS).is_duplicated().sum() == 0
    if where.format == "parquet" and got.height:
        # Every Parquet file is data (a Delta table's unreferenced files are not: its log is).
        scanned = pl.scan_parquet(f"{store}/**/*.parquet", hive_partitioning=True,
                                  storage_options=where.options).collect()
        assert scanned.height == got.height
    # Every (campaign, day) held is held whole, with a clean sync's values.
    days = got.select("campaign_id", "date").unique()
    assert_frame_equal(got, reference.join(days, on=["campaign_id", "date"]).sort(list(KEY_COLUMNS)))
    # Every day certified is held (a day without rows in the reference has none to hold).
    manifest = where.manifest(store)
    if manifest is not None:
        for cid, record in manifest["campaigns"].items():
            if record["first"] is None:
                continue
            span = pl.col("date").is_between(dt.date.fromisoformat(record["first"]),
                                             dt.date.fromisoformat(record["last"]))
            wanted = reference.filter(pl.col("campaign_id") == cid, span).height
            assert got.filter(pl.col("campaign_id") == cid, span).height == wanted, cid


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3]:
    with running_s3() as server:
        yield server


@pytest.fixture(params=["local", "delta", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    if request.param == "delta":
        pytest.importorskip("deltalake")
        return Where(tmp_path, "delta", None)
    if request.param == "s3":
        return Where(tmp_path, "parquet", request.getfixturevalue("s3_server"))
    return Where(tmp_path, "parquet", None)


@pytest.mark.parametrize(
    ("target", "seed"), [(20, 20260630), pytest.param(80, 7, marks=pytest.mark.slow)]
)
def test_sigkill_at_random_points_loses_and_duplicates_nothing(
    child: Child, where: Where, target: int, seed: int
) -> None:
    reference_store = where.tmp_path / "reference"
    status, _ = child.run({**Where(where.tmp_path, "parquet", None).job(str(reference_store), FINAL, None)})
    assert status == 0
    reference = strings(read_store(reference_store))
    assert reference.height > 0

    # Each run k is killed twice at a random point of the time the last complete run took
    # (a first sync to begin with), then run to completion: the kills land anywhere from
    # the first request to the last manifest write, and the store moves on between them.
    status, seconds = child.run(where.job(where.store("scratch"), 0, None))
    assert status == 0
    rng = random.Random(seed)
    store = where.store("store")
    kills = k = 0
    while kills < target:
        assert k < target, f"only {kills} of {2 * k} runs were killed before they finished"
        for _ in range(2):
            status, _ = child.run(where.job(store, k, rng.uniform(0.0, 1.25 * seconds)))
            assert status in (0, -9), f"the sync failed (exit {status}) rather than being killed"
            kills += status == -9
            check_store(where, store, reference)
        status, seconds = child.run(where.job(store, k, None))
        assert status == 0
        check_store(where, store, reference)
        k += 1

    status, _ = child.run(where.job(store, FINAL, None))
    assert status == 0
    assert_frame_equal(strings(read_store(store, storage_options=where.options)), reference)
    manifest = where.manifest(store)
    assert manifest is not None
    assert {(r["first"], r["last"]) for r in manifest["campaigns"].values()} == {
        (str(T - dt.timedelta(days=300)), str(T))}
    if where.s3 is None:
        assert not list(Path(store).rglob(".*.tmp")), "the last sync removes what killed writers left"
