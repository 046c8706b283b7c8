"""XML Schema ``dateTimeStamp`` parsing for credentials and proofs.

VC Data Model 2.0 (``validFrom``/``validUntil``) and Data Integrity (``created``/``expires``)
require XMLSCHEMA11-2 ``dateTimeStamp`` strings: a date, a time and a mandatory time zone.
This module turns such strings into aware UTC :class:`datetime` values and back. It does not
read the clock: callers pass ``now``.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta

from credentials.errors import MalformedInputError

__all__ = ["format_datetime", "parse_datetime", "require_aware", "shift"]

# Four-digit years only (what datetime supports), hours 00-23, any number of fraction digits,
# and a mandatory zone: "Z" or an offset within +/-14:00.
_DATETIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:(Z)|([+-])(\d\d):(\d\d))\Z",
    re.ASCII,
)


def parse_datetime(value: object, *, field: str = "dateTime") -> datetime:
    """Parse an XML Schema ``dateTimeStamp`` into an aware UTC datetime.

    Args:
        value: The JSON value to parse.
        field: The member name, used in the error message.

    Returns:
        The instant, with ``tzinfo=UTC``.

    Raises:
        MalformedInputError: The value is not a string in ``dateTimeStamp`` form (a time zone
            is required) or names an impossible date or time.

    """
    if not isinstance(value, str):
        raise MalformedInputError(f"{field} must be a dateTime string", code="INVALID_DATETIME")
    return _parse(value, field)


@functools.lru_cache(maxsize=4096)
def _parse(value: str, field: str) -> datetime:
    # Cached: the same validFrom/created strings recur on every verification of a credential,
    # and parsing costs more than the rest of the data model checks. Errors are not cached.
    match = _DATETIME.match(value)
    if match is None:
        raise MalformedInputError(
            f"{field} {value!r} is not an XML Schema dateTimeStamp "
            "(YYYY-MM-DDThh:mm:ss[.fff] with Z or an offset)",
            code="INVALID_DATETIME",
        )
    year, month, day, hour, minute, second, fraction, zulu, sign, oh, om = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        local = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=UTC
        )
    except ValueError as e:
        raise MalformedInputError(
            f"{field} {value!r} is not a valid date and time: {e}", code="INVALID_DATETIME"
        ) from e
    if zulu:
        return local
    offset = timedelta(hours=int(oh), minutes=int(om))
    if offset > timedelta(hours=14) or int(om) >= 60:
        raise MalformedInputError(
            f"{field} {value!r} has an impossible time zone offset", code="INVALID_DATETIME"
        )
    try:
        return local - offset if sign == "+" else local + offset
    except OverflowError as e:
        raise MalformedInputError(
            f"{field} {value!r} is out of range", code="INVALID_DATETIME"
        ) from e


def format_datetime(value: datetime, *, millis: bool = False) -> str:
    """Format an aware datetime as ``YYYY-MM-DDThh:mm:ssZ`` (UTC; ``.mmm`` with ``millis``).

    Raises:
        ValueError: ``value`` is naive.

    """
    v = require_aware(value).astimezone(UTC)
    # strftime("%Y") does not zero-pad years below 1000 on every platform.
    text = f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}"
    if millis and v.microsecond // 1000:
        # Milliseconds on request (status list versions published within one second must
        # still be ordered); anything finer is always dropped.
        text += f".{v.microsecond // 1000:03d}"
    return text + "Z"


def shift(value: datetime, delta: timedelta) -> datetime:
    """``value + delta``, clamped to the representable range instead of overflowing."""
    try:
        return value + delta
    except OverflowError:
        edge = datetime.max if delta > timedelta(0) else datetime.min
        return edge.replace(tzinfo=UTC)


def require_aware(value: datetime) -> datetime:
    """Return ``value`` unchanged if it is timezone-aware.

    Raises:
        ValueError: ``value`` is naive; naive datetimes are never accepted.

    """
    if value.tzinfo is UTC:  # The usual case, and always aware.
        return value
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("naive datetime: pass an aware UTC datetime")
    return value
