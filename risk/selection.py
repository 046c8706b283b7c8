"""Random selection: a keyed, reproducible draw per declaration.

Risk management keeps a share of controls random, so that traders cannot learn the targeting
rules and nothing is certain to pass. The draw here is ``HMAC-SHA256(secret, label ||
declaration id)``, read as a number in [0, 1):

- reproducible for audit: the same secret and declaration id always give the same draw, so
  an auditor holding the secret can recompute every selection;
- unpredictable for traders: without the node's secret, the draw of a declaration id is a
  pseudo-random function output, so choosing or resubmitting ids does not help;
- uniform: the first 53 bits of the MAC are the numerator over 2**53, so every float in the
  result is exact and the draw is uniform on a grid of 2**-53.

A declaration is selected when its draw is below the selection rate (see :func:`is_selected`).
The label separates these MACs from any other use of the same secret.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from credentials.errors import MalformedInputError

__all__ = ["MIN_SECRET_BYTES", "SELECTION_LABEL", "check_secret", "is_selected", "selection_draw"]

MIN_SECRET_BYTES = 16
"""Shortest secret accepted (128 bits); 32 random bytes are recommended."""

SELECTION_LABEL = b"trustlane/risk/random-selection/v1\x00"
"""Domain separation prefix of the MAC input."""

_SCALE = 2.0**-53
_BLOCK = 64  # SHA-256 block size
_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


def check_secret(secret: bytes) -> bytes:
    """Return ``secret`` if it is bytes of at least :data:`MIN_SECRET_BYTES`.

    Raises:
        MalformedInputError: Too short or not bytes (``INVALID_SELECTION_SECRET``).
    """
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise MalformedInputError(
            f"the random selection secret must be at least {MIN_SECRET_BYTES} bytes",
            code="INVALID_SELECTION_SECRET",
        )
    return secret


@functools.lru_cache(maxsize=8)
def _keyed(secret: bytes) -> tuple[Any, Any]:
    """HMAC-SHA256's inner and outer hash states for ``secret`` (RFC 2104), label absorbed.

    One-shot HMAC through OpenSSL 3 spends most of its time setting up a context for every
    call; copying these two SHA-256 states is about twice as fast, and gives the same MAC
    (tests/unit/test_risk_selection.py checks it against :func:`hmac.digest`).
    """
    key = hashlib.sha256(secret).digest() if len(secret) > _BLOCK else secret
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(key.translate(_IPAD))
    inner.update(SELECTION_LABEL)
    return inner, hashlib.sha256(key.translate(_OPAD))


def selection_draw(secret: bytes, declaration_id: str) -> float:
    """Return the declaration's draw in [0, 1).

    Args:
        secret: The node's selection secret (at least :data:`MIN_SECRET_BYTES`).
        declaration_id: The declaration's id.

    Returns:
        ``first 53 bits of HMAC-SHA256(secret, SELECTION_LABEL + id) / 2**53``.

    Raises:
        MalformedInputError: The secret is too short (``INVALID_SELECTION_SECRET``).
    """
    check_secret(secret)
    inner, outer = _keyed(secret)
    inner = inner.copy()
    inner.update(declaration_id.encode("utf-8"))
    outer = outer.copy()
    outer.update(inner.digest())
    return (int.from_bytes(outer.digest()[:8], "big") >> 11) * _SCALE


def is_selected(draw: float, rate: float) -> bool:
    """True when a draw falls under the selection rate (so P(selected) = rate)."""
    return draw < rate
