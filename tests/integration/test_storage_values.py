"""The storage boundary refuses the same values on SQLite and PostgreSQL.

PostgreSQL refuses text holding U+0000, text longer than a ``varchar(n)`` column (or cuts
it silently when the excess is spaces) and integers out of a column's range, where SQLite
stores them (or fails beyond 64 bits with an OverflowError). ``node.storage.db`` checks the
bound values before any statement runs, so both backends give the same
``UnstorableValueError`` for the same value, and store the same values otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, update

from node.storage import credentials_repo
from node.storage.db import Database, UnstorableValueError
from node.storage.schema import audit_head, credentials, status_entries

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _insert(db: Database, **overrides: Any) -> None:
    values: dict[str, Any] = {
        "credential_id": "urn:uuid:1",
        "types": ("VerifiableCredential",),
        "subject_id": "did:example:1",
        "issued_at": NOW,
        "valid_until": None,
        "document": "{}",
        **overrides,
    }
    with db.write() as conn:
        credentials_repo.insert_credential(conn, **values)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"types": ("VerifiableCredential", "A\x00B")}, id="nul-in-indexed-text"),
        pytest.param({"credential_id": "urn:uuid:\x00"}, id="nul-in-primary-key"),
        pytest.param({"document": '{"a":"\x00"}'}, id="nul-in-unbounded-text"),
        pytest.param({"credential_id": "urn:x:" + "x" * 195}, id="201-characters-in-200"),
        pytest.param({"credential_id": "urn:x:" + "x" * 194 + "   "}, id="trailing-spaces"),
        pytest.param({"subject_id": "é" * 401}, id="401-characters-in-400"),
    ],
)
def test_unstorable_values_are_refused_alike(db: Database, overrides: dict[str, Any]) -> None:
    with pytest.raises(UnstorableValueError):
        _insert(db, **overrides)
    with db.read() as conn:
        assert conn.execute(select(credentials)).all() == []


def test_values_that_fit_are_stored_alike(db: Database) -> None:
    # Columns count characters, not bytes: 200 two-byte characters fit a String(200).
    long_id = "urn:x:" + "é" * 194
    _insert(db, credential_id=long_id, subject_id="😀" * 400, document='{"a":"\\u0000"}')
    with db.read() as conn:
        record = credentials_repo.get_credential(conn, long_id)
    assert record is not None
    assert record.subject_id == "😀" * 400
    assert record.document == '{"a":"\\u0000"}'


def test_too_long_text_in_a_lookup_matches_nothing(db: Database) -> None:
    _insert(db)
    with db.read() as conn:
        assert credentials_repo.get_credential(conn, "urn:uuid:" + "1" * 500) is None
    with db.write() as conn:
        result = conn.execute(
            update(credentials).where(credentials.c.id == "x" * 500).values(document="{}")
        )
        assert result.rowcount == 0


def test_nul_in_a_lookup_is_refused(db: Database) -> None:
    with pytest.raises(UnstorableValueError, match="U\\+0000"), db.read() as conn:
        credentials_repo.get_credential(conn, "urn:uuid:\x00")


@pytest.mark.parametrize("idx", [2**31, -(2**31) - 1, 2**63, 2**70])
def test_integers_out_of_an_integer_column_are_refused(db: Database, idx: int) -> None:
    query = select(status_entries).where(status_entries.c.idx == idx)
    with pytest.raises(UnstorableValueError, match="outside the database's range"):
        with db.read() as conn:
            conn.execute(query)


def test_integers_in_range_are_looked_up(db: Database) -> None:
    with db.read() as conn:
        assert (
            conn.execute(select(status_entries).where(status_entries.c.idx == 2**31 - 1)).all()
            == []
        )
        # audit_head.seq is a BigInteger: 64 bits are fine, more are not.
        assert conn.execute(select(audit_head).where(audit_head.c.seq == 2**62)).all() == []
    with pytest.raises(UnstorableValueError), db.read() as conn:
        conn.execute(select(audit_head).where(audit_head.c.seq == 2**63))
