"""A separate OS process that allocates status list entries, for the allocation race tests.

Run as ``python status_worker.py``; it speaks JSON lines. For each job read from stdin
(``{"url", "size", "transactions", "name"}``) it opens the database, answers ``"ready"``,
waits for ``"go"``, then runs ``transactions`` write transactions, each allocating one
revocation and one suspension entry the way issuance does (:func:`allocate`), and answers
``{"entries": [[purpose, list_id, index], ...]}`` or ``{"error": "..."}``. EOF ends it.
"""

from __future__ import annotations

import json
import sys
import traceback
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, text

from node.storage import status_alloc_repo, status_repo
from node.storage.db import Database
from node.storage.records import StatusListVersionRecord

PURPOSES = ("revocation", "suspension")


def _say(message: object) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def allocate(
    conn: Connection, purpose: str, credential_id: str, size: int, now: datetime
) -> tuple[str, int, bool]:
    """Allocate one entry as issuance does; a new list gets its first version at once.

    Returns:
        ``(list_id, index, opened)``: ``opened`` when this call published the list's first
        version (it opened the list).
    """
    list_id, idx, needs_first_version = status_alloc_repo.allocate_index(
        conn, purpose=purpose, credential_id=credential_id, size=size, now=now
    )
    if needs_first_version:
        version = status_repo.lock_list(conn, list_id) + 1
        status_repo.insert_version(
            conn,
            StatusListVersionRecord(
                list_id=list_id,
                version=version,
                published_at=now,
                valid_from=now,
                valid_until=now + timedelta(days=1),
                etag=f'"{list_id}-{version}"',
                document="{}",
            ),
        )
    return list_id, idx, needs_first_version


def _issue_once(db: Database, credential_id: str, size: int) -> list[list[object]]:
    now = datetime.now(UTC)
    found: list[list[object]] = []
    with db.write() as conn:
        for purpose in PURPOSES:  # sorted, as StatusService.allocate_entries does
            list_id, idx, _ = allocate(conn, purpose, credential_id, size, now)
            found.append([purpose, list_id, idx])
    return found


def _job(job: dict[str, object]) -> None:
    db = Database(str(job["url"]))
    try:
        with db.read() as conn:
            conn.execute(text("SELECT 1"))  # connected before the start signal
        _say("ready")
        if sys.stdin.readline().strip() != '"go"':
            return
        entries: list[list[object]] = []
        for n in range(int(str(job["transactions"]))):
            credential_id = f"urn:example:{job['name']}:{n}"
            entries += _issue_once(db, credential_id, int(str(job["size"])))
        _say({"entries": entries})
    except Exception:  # reported to the test, which fails with it
        _say({"error": traceback.format_exc()})
    finally:
        db.dispose()


def main() -> None:
    """Serve jobs until stdin closes."""
    for line in sys.stdin:
        if line.strip():
            _job(json.loads(line))


if __name__ == "__main__":
    main()
