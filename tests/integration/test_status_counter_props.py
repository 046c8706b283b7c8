"""The status list counter decides as counting the entries did (differential, SQLite).

Random runs of single, bulk and rolled-back allocations over a few heads and list sizes,
checked after every step against a model of the rule that counting implemented: an
allocation goes to the head's open list while it holds fewer than half its size entries,
else to exactly one new list; a bulk allocation fills the open list up to half, then the
next. Every list's counter must equal its entries, counted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select, update

from node.storage import status_alloc_repo
from node.storage.db import Database
from node.storage.schema import status_entries, status_list_heads, status_lists

NOW = datetime(2026, 12, 4, 5, 0, tzinfo=UTC)
HEADS = [("revocation", None), ("suspension", None), ("revocation", "key-2")]

_STEP = st.tuples(
    st.sampled_from(["one", "bulk"]),
    st.sampled_from(range(len(HEADS))),
    st.integers(min_value=1, max_value=12),  # credentials of a bulk allocation
    st.booleans(),  # rolled back (a savepoint)
)


class Model:
    """What counting decided: per head, its lists' entries in opening order."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.lists: dict[int, list[int]] = {h: [] for h in range(len(HEADS))}

    def list_id(self, head: int, number: int) -> str:
        purpose, kid = HEADS[head]
        return f"{status_alloc_repo.list_id_prefix(purpose, kid)}{number}"

    def allocate(self, head: int, count: int) -> list[str]:
        lists, half, got = self.lists[head], self.size // 2, []
        while count:
            if not lists or lists[-1] >= half:
                lists.append(0)
            room = min(count, half - lists[-1])
            lists[-1] += room
            count -= room
            got += [self.list_id(head, len(lists))] * room
        return got

    def entries(self) -> dict[str, int]:
        return {
            self.list_id(h, n + 1): used
            for h, lists in self.lists.items()
            for n, used in enumerate(lists)
        }


def _reset(db: Database) -> None:
    with db.write() as conn:
        conn.execute(delete(status_entries))
        conn.execute(update(status_list_heads).values(list_id=None, lists_opened=0))
        conn.execute(delete(status_list_heads).where(status_list_heads.c.purpose.like("%@%")))
        conn.execute(delete(status_lists))


def _stored(db: Database) -> tuple[dict[str, int], dict[str, int]]:
    """(list id -> counter, list id -> entries counted)."""
    with db.read() as conn:
        rows = conn.execute(
            select(status_lists.c.id, status_lists.c.used, func.count(status_entries.c.idx))
            .select_from(status_lists.outerjoin(status_entries))
            .group_by(status_lists.c.id, status_lists.c.used)
        ).all()
    return {r[0]: int(r[1]) for r in rows}, {r[0]: int(r[2]) for r in rows}


def _allocate(
    db: Database, head: int, kind: str, count: int, *, size: int, rolled_back: bool
) -> list[str]:
    purpose, kid = HEADS[head]
    with db.write() as conn:
        savepoint = conn.begin_nested()
        if kind == "one":
            list_id, _, _ = status_alloc_repo.allocate_index(
                conn, purpose=purpose, credential_id="urn:x", size=size, now=NOW, kid=kid
            )
            got = [list_id]
        else:
            entries, _ = status_alloc_repo.allocate_indexes(
                conn,
                purpose=purpose,
                credential_ids=[f"urn:x:{n}" for n in range(count)],
                size=size,
                now=NOW,
                kid=kid,
            )
            got = [list_id for list_id, _ in entries]
        if rolled_back:
            savepoint.rollback()
        else:
            savepoint.commit()
    return got


def test_the_counter_decides_as_counting_did(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'node.db'}")
    try:
        db.migrate()

        @settings(
            max_examples=60,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(st.sampled_from([2, 4, 10, 16]), st.lists(_STEP, min_size=1, max_size=25))
        def run(size: int, steps: list[tuple[str, int, int, bool]]) -> None:
            _reset(db)
            model = Model(size)
            for kind, head, count, rolled_back in steps:
                got = _allocate(db, head, kind, count, size=size, rolled_back=rolled_back)
                if rolled_back:
                    # What the model would have done, without keeping it: the database kept
                    # nothing either (a list opened in the savepoint is gone with it).
                    expected = Model(size)
                    expected.lists = {h: list(v) for h, v in model.lists.items()}
                    assert got == expected.allocate(head, len(got))
                else:
                    assert got == model.allocate(head, len(got))
                counters, entries = _stored(db)
                assert counters == entries == model.entries()
                assert all(2 * used <= size for used in counters.values())

        run()
    finally:
        db.dispose()
