"""Shared fixtures: the backend parametrization and hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile(
    "ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
# A long hunt for rare inputs before a release: HYPOTHESIS_PROFILE=sweep pytest tests/test_frames.py
settings.register_profile(
    "sweep", max_examples=2000, deadline=None, suppress_health_check=list(HealthCheck)
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(params=["polars", "pandas"])
def backend(request: pytest.FixtureRequest) -> str:
    """Every transform runs on both backends."""
    return str(request.param)
