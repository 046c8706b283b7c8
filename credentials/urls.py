"""Absolute URL checks for credential members (issuer, ids, contexts, resources).

VC DM 2.0 requires URLs in many places (§4.4 identifiers, §4.7 issuer); :func:`is_url` checks
a string as a URL in its own right: a scheme, no whitespace or control characters, a host
for the schemes that name one, the DID syntax of DID Core §3.1 for ``did:`` and RFC 8141
for ``urn:``.

Pure: no I/O.
"""

from __future__ import annotations

import functools
import re

__all__ = ["URL_PATTERN", "is_url"]

# One character of a URI (RFC 3986) or IRI (RFC 3987): no whitespace (Python's \s, written
# out so the pattern means the same in ECMA-262 for the OpenAPI document) and no C0 control
# or DEL. (Stricter character rules would refuse ids that the bundled AEO and MRA subject
# schemas accept; the structure of the schemes below is what is checked.)
_NOT_CHAR = (
    r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
    r"\x00-\x1f\x7f"
)
_CHAR = r"[^" + _NOT_CHAR + r"]"
# A character of a DID's method-specific id (DID Core §3.1 idchar, widened to IRI
# characters as the DID patterns of the OpenAPI document and the bundled schemas allow): a
# URI character other than the ":" that separates its parts and the "/?#" that end it.
_ID_CHAR = r"[^" + _NOT_CHAR + r":/?#]"
#: The whole rule as one regular expression, valid in Python and in ECMA-262 alike (the
#: OpenAPI ``Url`` pattern is this between ``^`` and ``$``). Four forms:
#: - http, https, ws, wss, ftp (any case): "//" and a non-empty authority (RFC 3986 §3.2);
#: - did: DID Core §3.1, ``did:<method>:<method-specific-id>``, then a path, query or
#:   fragment;
#: - urn: RFC 8141, ``urn:<NID>:<NSS>``;
#: - any other scheme: a scheme, a colon and at least one character.
URL_PATTERN = (
    r"(?:(?:[Hh][Tt][Tt][Pp][Ss]?|[Ww][Ss][Ss]?|[Ff][Tt][Pp])://"
    r"(?![/?#])" + _CHAR + r"+"
    r"|did:[a-z0-9]+:(?:" + _ID_CHAR + r"|:)*" + _ID_CHAR + r"(?:[/?#]" + _CHAR + r"*)?"
    r"|[Uu][Rr][Nn]:[A-Za-z0-9][A-Za-z0-9\-]{0,30}[A-Za-z0-9]:" + _CHAR + r"+"
    r"|(?!(?:[Hh][Tt][Tt][Pp][Ss]?|[Ww][Ss][Ss]?|[Ff][Tt][Pp]|[Dd][Ii][Dd]|[Uu][Rr][Nn]):)"
    r"[A-Za-z][A-Za-z0-9+.\-]*:" + _CHAR + r"+)"
)
_URL = re.compile(URL_PATTERN)


def is_url(value: object) -> bool:
    """Return True when ``value`` is a string holding an absolute URI."""
    return isinstance(value, str) and _is_url_text(value)


@functools.lru_cache(maxsize=4096)
def _is_url_text(value: str) -> bool:
    # Cached: contexts, issuers and holders recur across the credentials a node verifies.
    return _URL.fullmatch(value) is not None
