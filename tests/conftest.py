"""Test configuration shared by every test folder (helpers live in support.py)."""

from __future__ import annotations

import signal
from types import FrameType

import pytest


def _interrupt_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """A run stopped with SIGTERM (``timeout``, a CI cancel) tears its fixtures down.

    pytest treats KeyboardInterrupt as an interrupted session and still runs every
    finaliser: node processes are stopped and temporary databases dropped, instead of
    being left serving after the run.
    """
    signal.signal(signal.SIGTERM, _interrupt_on_sigterm)
