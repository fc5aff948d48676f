"""Realistic ``/campaigns/data_series`` bodies for the benchmarks.

Shapes follow the recorded responses in ``tests/data`` (SPEC section 2): every documented
channel on every day, one variation per channel (a second one on some campaigns), UUID
variation ids, a control group (``enrolled``, conversions, send metrics ``null``) on the
push and webhook channels of every other campaign, ``null`` metrics, an empty legacy
channel, email's ``machine_open`` extras, and revenue/conversions on the entries that
carry them. Numbers are deterministic per (seed, campaign).

Calibrated on the issue's workload: 200 campaigns x 100 days is 1.97M tidy rows in
62 MB of JSON, 31 bytes a row (``python bench/_data.py`` prints the figures).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

import orjson

from braze_frames._schema import CHANNEL_SCHEMAS

_CONVERSIONS = [f"conversions{k}" for k in ("", "1", "2", "3")]
_CONVERSIONS += [f"{c}_by_send_time" for c in _CONVERSIONS]
CHANNELS = ("email", "ios_push", "android_push", "web_push", "kindle_push", "webhook", "sms",
            "whats_app", "content_cards", "trigger_in_app_message", "in_app_message")
#: Channels whose variation entries carry their own revenue and conversions.
_WITH_CONVERSIONS = frozenset({"ios_push", "webhook"})
#: Channels whose entries carry only ``variation_api_id`` (as the recorded email body).
_ID_ONLY = frozenset({"email", "sms", "whats_app", "content_cards"})
#: Channels that get a control group on every other campaign.
_WITH_CONTROL = ("ios_push", "webhook")


def _count(rng: random.Random, high: int) -> int:
    # Skewed towards small numbers, as daily counts per variation are.
    return int(high * rng.random() ** 3)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _entry(rng: random.Random, channel: str, vid: str, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"variation_api_id": vid}
    if channel not in _ID_ONLY:
        entry = {"variation_name": name, **entry}
    for metric in CHANNEL_SCHEMAS[channel]:
        entry[metric] = _count(rng, 5000)
    if channel == "email":
        entry["machine_open"] = _count(rng, 100)
        entry["machine_amp_open"] = 0
    if channel in _WITH_CONVERSIONS:
        entry["revenue"] = round(rng.random() * 100, 2)
        entry["unique_recipients"] = _count(rng, 5000)
        for c in _CONVERSIONS:
            entry[c] = _count(rng, 50)
    if channel == "webhook":
        entry["enrolled"] = None  # as recorded: variants carry enrolled=null
    return entry


def _control(rng: random.Random, channel: str, vid: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"variation_name": "Control Group", "variation_api_id": vid}
    for metric in CHANNEL_SCHEMAS[channel]:
        entry[metric] = None  # as recorded: a control group's send metrics are null
    entry["revenue"] = 0.0
    entry["unique_recipients"] = _count(rng, 500)
    for c in _CONVERSIONS:
        entry[c] = _count(rng, 5)
    entry["enrolled"] = _count(rng, 500)
    return entry


def body(
    campaign: int, days: int = 100, seed: int = 0, end: dt.date = dt.date(2025, 6, 30)
) -> dict[str, Any]:
    """One campaign's response: ``days`` days ending on ``end``, every channel."""
    rng = random.Random(seed * 100_003 + campaign)
    n_variations = 2 if campaign % 25 == 0 else 1
    ids = {ch: [_uuid(rng) for _ in range(n_variations)] for ch in CHANNELS}
    control = {ch: _uuid(rng) for ch in _WITH_CONTROL} if campaign % 4 == 0 else {}
    data = []
    for i in range(days):
        day: dict[str, Any] = {"time": (end - dt.timedelta(days=days - 1 - i)).isoformat()}
        for c in _CONVERSIONS:
            day[c] = _count(rng, 500)
        day["unique_recipients"] = _count(rng, 50000)
        day["revenue"] = round(rng.random() * 1000, 2)
        msgs: dict[str, Any] = {}
        for channel in CHANNELS:
            entries = [_entry(rng, channel, vid, f"Variant {k}") for k, vid in enumerate(ids[channel], 1)]
            if channel in control:
                entries.append(_control(rng, channel, control[channel]))
            msgs[channel] = entries
        msgs["apple_push"] = None if campaign % 2 else []  # legacy key: "no data" both ways
        day["messages"] = msgs
        data.append(day)
    return {"message": "success", "data": data}


def bodies_bytes(n_campaigns: int = 200, days: int = 100, seed: int = 0) -> list[bytes]:
    """Serialised responses, one per campaign."""
    return [orjson.dumps(body(c, days, seed)) for c in range(n_campaigns)]


def campaign_id(campaign: int) -> str:
    """The campaign API id the benchmarks give to campaign number ``campaign``."""
    return f"00000000-0000-4000-8000-{campaign:012d}"


if __name__ == "__main__":
    import time

    from braze_frames.endpoints.parse import collect_days, parse_days

    t = time.perf_counter()
    blobs = bodies_bytes()
    size = sum(map(len, blobs))
    parsed = None
    for k, blob in enumerate(blobs):
        parsed = parse_days(campaign_id(k), collect_days(orjson.loads(blob)), into=parsed)
    rows = parsed.n_rows if parsed is not None else 0
    print(f"{len(blobs)} bodies, {size / 1e6:.1f} MB, {rows / 1e6:.2f}M rows, "
          f"{size / max(rows, 1):.1f} bytes/row ({time.perf_counter() - t:.1f} s)")
