"""Helpers for node integration tests."""

from __future__ import annotations

from typing import Any


def aeo_subject(
    holder: str = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2",
) -> dict[str, Any]:
    """A valid EU AEOF subject."""
    return {
        "id": holder,
        "legalName": "Beispiel Logistik GmbH",
        "identifiers": [
            {"scheme": "EORI", "value": "DE123456789012345"},
            {"scheme": "MID", "value": "DEBEILOG1234HAM"},
        ],
        "country": "DE",
        "authorisationNumber": "DEAEOF0000012345",
        "programme": "EU-AEO",
        "level": "AEOF",
        "roles": ["exporter", "importer"],
        "reassessmentDate": "2028-06-30T00:00:00Z",
    }
