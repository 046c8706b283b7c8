"""The fast paths of issuance storage give the answers of the paths they replace (both backends).

- A status index already taken is drawn again (``INSERT ... ON CONFLICT DO NOTHING`` instead
  of a savepoint per attempt), and the transaction goes on.
- A credential id the node drew itself is not looked up before the insert: were it taken,
  the answer is still ``DUPLICATE_ID`` and nothing of the attempt is stored.
- An import reads the node's signing key once per batch: a key made current between two
  batches signs the later one.
- The transparency log reads every stored hash an append needs in one query: its root after
  every append is the root of a tree rebuilt from the entries.
- The database's refusal of unstorable values (NUL, integers out of range, text longer than
  its column) decides as the reference walk does, on every value (property test).
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import BigInteger, Integer, String, Table, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert, Update

from conftest import NodeFactory
from credentials.errors import MalformedInputError
from credentials.strict_json import loads_object
from node.services.aeo_import import CSV_COLUMNS, import_register, parse_register
from node.services.audit import verify_chain
from node.storage import log_repo, status_alloc_repo, storable
from node.storage.db import Database, UnstorableValueError
from node.storage.schema import (
    audit_events,
    audit_head,
    credentials,
    log_entries,
    log_hashes,
    status_entries,
)
from nodehelpers import aeo_subject
from scan_attestation.merkle import MerkleTree

HOLDER = "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"

# -- status indexes -----------------------------------------------------------------------------


def test_a_taken_index_is_drawn_again_and_the_transaction_goes_on(database_url: str) -> None:
    db = Database(database_url)
    statements: list[str] = []
    try:
        db.migrate()
        event.listen(
            db.engine,
            "before_cursor_execute",
            lambda _c, _cur, sql, *_: statements.append(sql.split()[0].upper()),
        )
        now = datetime.now(UTC)
        got: list[tuple[str, int]] = []
        with db.write() as conn:
            for n, draws in enumerate(([3], [3, 3, 5], [5, 3, 7])):
                found = iter(draws)

                def draw(_size: int, found: Any = found) -> int:
                    return int(next(found))

                list_id, idx, _ = status_alloc_repo.allocate_index(
                    conn,
                    purpose="revocation",
                    credential_id=f"urn:example:{n}",
                    size=16,
                    now=now,
                    randbelow=draw,
                )
                got.append((list_id, idx))
        assert got == [("revocation-1", 3), ("revocation-1", 5), ("revocation-1", 7)]
        with db.read() as conn:
            rows = conn.execute(
                select(status_entries.c.idx, status_entries.c.credential_id).order_by(
                    status_entries.c.idx
                )
            ).all()
        assert [tuple(r) for r in rows] == [
            (3, "urn:example:0"),
            (5, "urn:example:1"),
            (7, "urn:example:2"),
        ]
        # Only opening the list (once) takes a savepoint; the draws do not.
        assert statements.count("SAVEPOINT") == 1
    finally:
        db.dispose()


def test_a_list_with_no_free_index_left_is_an_error_not_a_loop(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.migrate()
        now = datetime.now(UTC)
        with db.write() as conn:
            status_alloc_repo.allocate_index(
                conn,
                purpose="revocation",
                credential_id="urn:example:0",
                size=16,
                now=now,
                randbelow=lambda _size: 4,
            )
            with pytest.raises(RuntimeError, match="no free status index"):
                status_alloc_repo.allocate_index(
                    conn,
                    purpose="revocation",
                    credential_id="urn:example:1",
                    size=16,
                    now=now,
                    randbelow=lambda _size: 4,
                )
    finally:
        db.dispose()


# -- credential ids -----------------------------------------------------------------------------


def _stored(services: Any) -> tuple[int, int, int, int]:
    with services.db.read() as conn:
        counts = tuple(
            conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (credentials, status_entries, audit_events)
        )
        return (*counts, log_repo.read_head(conn).size)


def test_a_drawn_id_that_is_taken_is_duplicate_id_and_stores_nothing(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    services, _ = make_node()
    first = services.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    taken = uuid.UUID(str(first["id"]).removeprefix("urn:uuid:"))
    before = _stored(services)
    monkeypatch.setattr("node.services.issuance.uuid.uuid4", lambda: taken)
    with pytest.raises(MalformedInputError) as raised:
        services.issuance.issue_aeo(aeo_subject(), now=datetime.now(UTC), actor="test")
    assert raised.value.code == "DUPLICATE_ID"
    assert raised.value.message == f"credential id {first['id']} is already used"
    assert _stored(services) == before
    # A caller's own id is still looked up first: the same answer.
    with pytest.raises(MalformedInputError) as again:
        services.issuance.issue(
            {
                "@context": ["https://www.w3.org/ns/credentials/v2"],
                "type": ["VerifiableCredential"],
                "id": first["id"],
                "credentialSubject": {"id": "did:example:holder"},
            },
            status_purposes=("revocation",),
            now=datetime.now(UTC),
            actor="test",
        )
    assert again.value.code == "DUPLICATE_ID"
    assert again.value.message == raised.value.message
    assert _stored(services) == before


def test_an_import_reads_the_signing_key_once_per_batch(make_node: NodeFactory) -> None:
    services, _ = make_node()
    calls = [0]

    def clock() -> datetime:
        # Called once at the start of each batch: a rotation before the second batch.
        calls[0] += 1
        if calls[0] == 2:
            services.identity.add_key(now=datetime.now(UTC), actor="test", make_current=True)
        return datetime.now(UTC)

    rows = "\n".join(
        f"{HOLDER},Beispiel {i} GmbH,EORI,DE{1000 + i},DE,DEAEOF{1000 + i},EU-AEO,AEOF,"
        "exporter,2029-06-30T00:00:00Z"
        for i in range(5)
    )
    header = ",".join(CSV_COLUMNS[:10])
    summary = import_register(
        parse_register(f"{header}\n{rows}\n".encode(), "csv"),
        issuance=services.issuance,
        db=services.db,
        clock=clock,
        actor="test",
        batch_size=2,
    )
    assert (summary.issued, summary.failed) == (5, 0)
    with services.db.read() as conn:
        documents = [loads_object(r.document) for r in conn.execute(select(credentials.c.document))]
    signed_by = {
        str(d["credentialSubject"]["identifiers"][0]["value"]): str(  # type: ignore[call-overload,index]
            d["proof"]["verificationMethod"]  # type: ignore[call-overload,index]
        ).rsplit("#", 1)[1]
        for d in documents
    }
    assert signed_by == {
        "DE1000": "key-1",
        "DE1001": "key-1",
        "DE1002": "key-2",
        "DE1003": "key-2",
        "DE1004": "key-2",
    }
    assert verify_chain(services.db).ok


# -- transparency log ---------------------------------------------------------------------------


def test_the_log_root_is_the_rebuilt_root_after_every_append(database_url: str) -> None:
    db = Database(database_url)
    rng = random.Random(11)  # noqa: S311 - reproducible test data, not secrets
    try:
        db.migrate()
        entries: list[bytes] = []
        while len(entries) < 140:
            with db.write() as conn:
                for _ in range(rng.choice((1, 1, 1, 2, 3, 5, 8, 13))):
                    entry = f"entry {len(entries)}".encode()
                    log_repo.queue_entry(conn, f"doc-{len(entries)}", entry)
                    entries.append(entry)
            with db.read() as conn:
                head = log_repo.read_head(conn)
            assert head.size == len(entries)
            assert head.root == MerkleTree(entries).root(), f"size {head.size}"
    finally:
        db.dispose()


# -- refusing unstorable values: the fast checks against the reference walk ---------------------


def _reference_nul_and_huge_ints(parameters: Any) -> None:
    # The walk as it was before the fast pass (node/storage/db.py).
    stack = [parameters]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise UnstorableValueError(
                    "text containing U+0000 (NUL) cannot be stored or looked up"
                )
        elif isinstance(item, bool):
            continue
        elif isinstance(item, int):
            if item not in range(-(2**63), 2**63):
                raise UnstorableValueError(f"integer {item} is outside the database's range")
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def _reference_out_of_column(context: Any) -> None:
    # The check as it was before the per-statement limits (node/storage/db.py).
    compiled: Any = getattr(context, "compiled", None)
    binds: dict[str, Any] | None = getattr(compiled, "binds", None)
    if not binds:
        return
    statement = compiled.statement
    written: dict[str, Any] = {}
    if isinstance(statement, Insert | Update) and isinstance(statement.table, Table):
        written = {c.key: c for c in statement.table.columns}
    for params in context.compiled_parameters:
        for key, value in params.items():
            bind = binds.get(key)
            if bind is None:
                continue
            type_ = bind.type
            values = value if isinstance(value, list | tuple) else (value,)
            for item in values:
                if isinstance(item, bool) or not isinstance(item, int | str):
                    continue
                if isinstance(item, int) and isinstance(type_, Integer):
                    allowed = (
                        range(-(2**63), 2**63)
                        if isinstance(type_, BigInteger)
                        else range(-(2**31), 2**31)
                    )
                    if item not in allowed:
                        raise UnstorableValueError(
                            f"integer {item} is outside the database's range"
                        )
                elif isinstance(item, str) and key in written:
                    column = written[key]
                    length = getattr(column.type, "length", None)
                    if isinstance(column.type, String) and length and len(item) > length:
                        raise UnstorableValueError(
                            f"a value of {len(item)} characters is longer than the {length} "
                            f"the database stores for {column.name}"
                        )


def _outcome(check: Any, argument: Any) -> str | None:
    try:
        check(argument)
    except UnstorableValueError as e:
        return e.message
    return None


class _Str(str):
    """A str subclass: the fast passes leave it to the full walk."""


_EDGES = [-(2**63) - 1, -(2**63), -(2**31) - 1, -(2**31), 2**31 - 1, 2**31, 2**63 - 1, 2**63]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from(_EDGES),
    st.text(alphabet=st.sampled_from("ab\x00é"), max_size=5),
    st.text(alphabet="x", min_size=60, max_size=70).map(lambda s: s + "x" * 140),
    st.floats(allow_nan=False),
    st.binary(max_size=4),
    st.just(datetime(2026, 1, 2, tzinfo=UTC)),
    st.just(date(2026, 1, 2)),
    st.text(max_size=3).map(_Str),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=4).map(tuple),
        st.dictionaries(st.sampled_from("abc"), inner, max_size=3),
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        _VALUES,
        st.lists(st.lists(_SCALARS, max_size=5).map(tuple), max_size=4),
        st.lists(st.dictionaries(st.sampled_from("abcd"), _SCALARS, max_size=4), max_size=4),
    )
)
def test_the_nul_and_range_walk_decides_as_the_reference(parameters: Any) -> None:
    assert _outcome(storable._refuse_nul_and_huge_ints, parameters) == _outcome(
        _reference_nul_and_huge_ints, parameters
    )


class _Context:
    def __init__(self, compiled: Any, rows: list[dict[str, Any]]) -> None:
        self.compiled = compiled
        self.compiled_parameters = rows


_STATEMENTS = [
    (status_entries.insert(), ["list_id", "idx", "credential_id", "value", "status_value"]),
    (credentials.insert(), ["id", "types", "subject_id", "document"]),
    (audit_events.insert(), ["seq", "actor", "action", "target", "details", "hash"]),
    (log_entries.insert(), ["idx", "document_id"]),
    (audit_head.update().where(audit_head.c.id == 1), ["seq", "hash"]),
    (
        select(log_hashes.c.hash).where(log_hashes.c.key.in_([1, 2])),
        None,
    ),
    (select(status_entries.c.idx).where(status_entries.c.list_id == "x"), None),
]


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(range(len(_STATEMENTS))),
    st.sampled_from([sqlite.dialect(), postgresql.dialect()]),  # type: ignore[no-untyped-call]
    st.lists(
        st.lists(st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3)), min_size=8, max_size=8),
        min_size=1,
        max_size=4,
    ),
)
def test_the_column_limits_decide_as_the_reference(
    which: int, dialect: Any, values: list[list[Any]]
) -> None:
    statement, keys = _STATEMENTS[which]
    compiled = statement.compile(dialect=dialect, column_keys=keys)
    names = list(compiled.binds)
    rows = [dict(zip(names, row, strict=False)) for row in values]
    context = _Context(compiled, rows)

    def ours(c: _Context) -> None:
        storable.check_columns(c.compiled, c.compiled_parameters)

    assert _outcome(ours, context) == _outcome(_reference_out_of_column, context)
    # And again, now that the statement's limits are known.
    assert _outcome(ours, context) == _outcome(_reference_out_of_column, context)
