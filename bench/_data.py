"""Realistic data_series bodies for benchmarks: every channel, variations, controls, nulls."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import orjson

from braze_frames._schema import CHANNEL_SCHEMAS

_CONVERSIONS = [f"conversions{k}" for k in ("", "1", "2", "3")]
_CONVERSIONS += [f"{c}_by_send_time" for c in _CONVERSIONS]
_CHANNELS = ["email", "ios_push", "android_push", "web_push", "kindle_push", "webhook", "sms",
             "whats_app", "content_cards", "trigger_in_app_message", "in_app_message"]


def _entry(rng: random.Random, channel: str, vid: str, name: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"variation_name": name, "variation_api_id": vid}
    for metric in CHANNEL_SCHEMAS[channel]:
        entry[metric] = rng.randrange(0, 5000)
    if channel == "email":
        entry["machine_open"] = rng.randrange(0, 100)
        entry["machine_amp_open"] = 0
    if channel in ("ios_push", "android_push", "webhook", "in_app_message"):
        entry["revenue"] = round(rng.random() * 100, 2)
        entry["unique_recipients"] = rng.randrange(0, 5000)
        for c in _CONVERSIONS:
            entry[c] = rng.randrange(0, 50)
    return entry


def _control(rng: random.Random, vid: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"variation_name": "Control Group", "variation_api_id": vid,
                             "enrolled": rng.randrange(0, 500), "revenue": 0.0,
                             "unique_recipients": rng.randrange(0, 500)}
    for c in _CONVERSIONS:
        entry[c] = rng.randrange(0, 5)
    return entry


def body(campaign: int, days: int = 100, seed: int = 0, end: dt.date = dt.date(2025, 6, 30)) -> dict[str, Any]:
    """One campaign's 100-day response with every channel (2 variations + a control on some)."""
    rng = random.Random(seed * 100_003 + campaign)
    data = []
    for i in range(days):
        day: dict[str, Any] = {"time": (end - dt.timedelta(days=days - 1 - i)).isoformat()}
        msgs: dict[str, Any] = {}
        for channel in _CHANNELS:
            entries = [_entry(rng, channel, f"c{campaign}-{channel}-v{k}", f"Variant {k}") for k in (1, 2)]
            if channel in ("ios_push", "webhook"):
                entries.append(_control(rng, f"c{campaign}-{channel}-ctl"))
            msgs[channel] = entries
        msgs["sms_legacy_empty"] = []
        day["messages"] = msgs
        day["unique_recipients"] = rng.randrange(0, 50000)
        day["revenue"] = round(rng.random() * 1000, 2)
        for c in _CONVERSIONS:
            day[c] = rng.randrange(0, 500)
        data.append(day)
    return {"message": "success", "data": data}


def bodies_bytes(n_campaigns: int = 200, days: int = 100) -> list[bytes]:
    """Serialised responses, one per campaign."""
    return [orjson.dumps(body(c, days)) for c in range(n_campaigns)]
