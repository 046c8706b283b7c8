"""Helpers shared by tests: vector paths and loading."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).parent / "vectors"


def load_vector(*parts: str) -> Any:
    """Load a JSON vector file (relative to tests/vectors)."""
    return json.loads(VECTORS.joinpath(*parts).read_bytes())
