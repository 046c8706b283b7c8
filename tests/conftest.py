"""Shared test helpers: vector paths and fixed keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).parent / "vectors"


def load_vector(*parts: str) -> Any:
    """Load a JSON vector file (relative to tests/vectors)."""
    return json.loads(VECTORS.joinpath(*parts).read_bytes())


@pytest.fixture
def vectors() -> Path:
    return VECTORS
