"""Shared test fixtures: paths to the optional real data next to the repository."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture(autouse=True)
def _deterministic_threads():
    """Keep tests reproducible and cheap on the 2-core CI machine."""
    torch.manual_seed(0)
    yield


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` next to the repo; tests that need it skip when it is absent."""
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED
