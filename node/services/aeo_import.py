"""Importing a national AEO register: one credential per trader, in batches, idempotently.

``trustlane aeo import`` reads a CSV or JSON Lines file (:func:`parse_register`), then
:func:`import_register` issues the rows in batches: each row goes through exactly the checks
of ``aeo issue`` (:meth:`IssuanceService.prepare_aeo`; a bad row is reported with its row,
field and reason and never stops the others), then the good rows of a batch are signed and
stored in one write transaction (:meth:`IssuanceService.store_batch`: bulk status
allocation, one multi-row insert, one audit event per credential).

Idempotence: a row's key is the trader's first identifier, ``<scheme>:<value>``
(``EORI:DE123456789012345``). The key of every credential an import issued is stored
(``aeo_import_keys``, migration 0006) with a fingerprint of the row. On a re-run a row whose
key is known is skipped when it is unchanged; when it changed, it is reported as "already
issued, differs" (one error per differing field), unless the credential issued for it has
been revoked: then the new data is issued and the key moves to the new credential.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime

import orjson
from sqlalchemy import Connection

from credentials.aeo import SchemaValidationError
from credentials.datetimes import format_datetime, parse_datetime
from credentials.errors import MalformedInputError, TrustlaneError
from credentials.strict_json import JSONObject, JSONValue, loads_object
from node.services.identity import SigningKey
from node.services.issuance import IssuanceService, PreparedCredential
from node.storage import aeo_import_repo, credentials_repo, status_repo
from node.storage.aeo_import_repo import ImportKeyRecord
from node.storage.db import Database, StorageConflictError

__all__ = [
    "CSV_COLUMNS",
    "CSV_REQUIRED",
    "MAX_FILE_BYTES",
    "MAX_LINE_BYTES",
    "ImportSummary",
    "Register",
    "RegisterError",
    "RegisterRow",
    "RowError",
    "import_register",
    "parse_register",
]

MAX_FILE_BYTES = 256 * 1024 * 1024
"""Largest register file read."""
MAX_LINE_BYTES = 64 * 1024
"""Longest line of a register file (a row is far shorter)."""

#: CSV columns, in the order the documentation lists them; the first ten are required.
CSV_COLUMNS = (
    "id",
    "legalName",
    "identifierScheme",
    "identifierValue",
    "country",
    "authorisationNumber",
    "programme",
    "level",
    "roles",
    "reassessmentDate",
    "issuingAuthority",
    "validFrom",
    "validUntil",
)
CSV_REQUIRED = CSV_COLUMNS[:10]
_CSV_SUBJECT_MEMBERS = (
    "id",
    "legalName",
    "country",
    "authorisationNumber",
    "programme",
    "level",
    "reassessmentDate",
    "issuingAuthority",
)
_JSONL_MEMBERS = ("credentialSubject", "validFrom", "validUntil")
_ROW = "(row)"  # the field of a problem with the row as a whole
_RETRIES = 3


class RegisterError(TrustlaneError):
    """The register file cannot be used at all (nothing is imported)."""

    code = "UNUSABLE_REGISTER"


@dataclass(frozen=True)
class RowError:
    """One problem with one row: ``row`` is its line number in the file (1 = first line)."""

    row: int
    field: str
    reason: str


@dataclass(frozen=True)
class RegisterRow:
    """One row of a register, turned into an AEO subject (or the problems that prevented it)."""

    row: int
    subject: JSONObject | None
    valid_from: JSONValue
    valid_until: JSONValue
    errors: tuple[RowError, ...] = ()


@dataclass(frozen=True)
class Register:
    """A parsed register file."""

    format: str
    rows: tuple[RegisterRow, ...]

    def field_of(self, pointer: str) -> str:
        """The name under which a problem at ``pointer`` (into the subject) is reported.

        CSV rows name their column (``/identifiers/0/value`` is ``identifierValue``); JSON
        Lines rows a JSON Pointer into the line (``/credentialSubject/legalName``).
        """
        if self.format == "jsonl":
            return "/credentialSubject" + pointer
        parts = pointer.split("/")[1:]
        if not parts:
            return _ROW
        if parts[0] == "identifiers":
            if len(parts) >= 3 and parts[2] in ("scheme", "value"):
                return "identifierScheme" if parts[2] == "scheme" else "identifierValue"
            return "identifierValue"
        return parts[0] if parts[0] in CSV_COLUMNS else _ROW

    def validity_field(self, name: str) -> str:
        """The name under which ``validFrom`` or ``validUntil`` problems are reported."""
        return "/" + name if self.format == "jsonl" else name


@dataclass
class ImportSummary:
    """What an import did."""

    rows: int = 0
    issued: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Credentials issued per second."""
        return self.issued / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, int | float]:
        """The summary as printed by ``--json``."""
        return {
            "rows": self.rows,
            "issued": self.issued,
            "skipped": self.skipped,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "rate": round(self.rate, 1),
        }


# -- reading -----------------------------------------------------------------------------


def format_of(name: str, given: str | None) -> str:
    """``csv`` or ``jsonl``: ``given``, else from the file name's suffix.

    Raises:
        RegisterError: Neither says which.
    """
    if given is not None:
        return given
    lower = name.lower()
    if lower.endswith(".csv"):
        return "csv"
    if lower.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    raise RegisterError(f"{name}: cannot tell the format from the name; use --format csv|jsonl")


def parse_register(data: bytes, fmt: str) -> Register:
    """Check and parse a whole register file before anything is issued.

    The file must be UTF-8 text (a byte order mark is allowed) without NUL bytes or lines
    longer than :data:`MAX_LINE_BYTES`; a CSV file needs a header naming every required
    column and nothing unknown. Problems within one row are not errors here: they travel
    with the row (:attr:`RegisterRow.errors`) and are reported when it is imported.

    Raises:
        RegisterError: The file cannot be used (binary, not UTF-8, a huge line, a bad
            header, broken CSV quoting, too large).
    """
    if len(data) > MAX_FILE_BYTES:
        raise RegisterError(f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    if not data.strip():
        raise RegisterError("the file is empty")
    nul = data.find(b"\0")
    if nul >= 0:
        raise RegisterError(f"line {_line_at(data, nul)}: binary data (a NUL byte), not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise RegisterError(
            f"line {_line_at(data, e.start)}: not UTF-8 (byte 0x{data[e.start]:02x}); "
            "save the register as UTF-8"
        ) from None
    for number, line in enumerate(data.split(b"\n"), 1):
        if len(line) > MAX_LINE_BYTES:
            raise RegisterError(f"line {number} is longer than {MAX_LINE_BYTES} bytes")
    text = text.removeprefix("\ufeff")
    if fmt == "csv":
        return Register("csv", tuple(_parse_csv(text)))
    if fmt == "jsonl":
        return Register("jsonl", tuple(_parse_jsonl(text)))
    raise RegisterError(f"unknown format {fmt!r} (csv or jsonl)")


def _line_at(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _parse_csv(text: str) -> list[RegisterRow]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[RegisterRow] = []
    try:
        header = next(reader, None)
        if header is None:
            raise RegisterError("the file is empty")
        columns = _check_header(header)
        previous_line = reader.line_num
        for record in reader:
            first_line, previous_line = previous_line + 1, reader.line_num
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line
            rows.append(_csv_row(first_line, columns, record))
    except csv.Error as e:
        raise RegisterError(f"line {reader.line_num}: CSV: {e}") from None
    return rows


def _check_header(header: list[str]) -> list[str]:
    columns = [name.strip() for name in header]
    unknown = [c for c in columns if c not in CSV_COLUMNS]
    if unknown:
        raise RegisterError(
            "line 1: unknown column "
            + ", ".join(repr(c) for c in unknown[:5])
            + f" (the header names the columns: {', '.join(CSV_COLUMNS)})"
        )
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    if repeated:
        raise RegisterError(f"line 1: column {', '.join(map(repr, repeated))} appears twice")
    missing = [c for c in CSV_REQUIRED if c not in columns]
    if missing:
        raise RegisterError(f"line 1: the header lacks the column(s) {', '.join(missing)}")
    return columns


def _csv_row(row: int, columns: list[str], record: list[str]) -> RegisterRow:
    if len(record) != len(columns):
        return RegisterRow(
            row,
            None,
            None,
            None,
            (RowError(row, _ROW, f"has {len(record)} fields; the header has {len(columns)}"),),
        )
    cells = {name: value for name, value in zip(columns, record, strict=True) if value != ""}
    subject: JSONObject = {}
    for name in _CSV_SUBJECT_MEMBERS:
        if name in cells:
            subject[name] = cells[name]
    identifier: JSONObject = {}
    if "identifierScheme" in cells:
        identifier["scheme"] = cells["identifierScheme"]
    if "identifierValue" in cells:
        identifier["value"] = cells["identifierValue"]
    subject["identifiers"] = [identifier]
    if "roles" in cells:
        subject["roles"] = [r.strip() for r in cells["roles"].split(";") if r.strip()]
    return RegisterRow(row, subject, cells.get("validFrom"), cells.get("validUntil"))


def _parse_jsonl(text: str) -> Iterator[RegisterRow]:
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        yield _jsonl_row(number, line)


def _jsonl_row(row: int, line: str) -> RegisterRow:
    def bad(where: str, reason: str) -> RegisterRow:
        return RegisterRow(row, None, None, None, (RowError(row, where, reason),))

    try:
        doc = loads_object(line.encode("utf-8"))
    except TrustlaneError as e:
        return bad(_ROW, f"not a JSON object: {e.message}")
    extra = [name for name in doc if name not in _JSONL_MEMBERS]
    if extra:
        return bad(
            "/" + extra[0], f"is not an allowed member (allowed: {', '.join(_JSONL_MEMBERS)})"
        )
    subject = doc.get("credentialSubject")
    if not isinstance(subject, dict):
        return bad("/credentialSubject", "is required and must be an object")
    return RegisterRow(row, subject, doc.get("validFrom"), doc.get("validUntil"))


# -- importing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ready:
    """A row that passed every check, prepared for signing."""

    row: int
    key: str
    fingerprint: str
    prepared: PreparedCredential
    given_from: str | None
    given_until: str | None


def import_register(
    register: Register,
    *,
    issuance: IssuanceService,
    db: Database,
    clock: Callable[[], datetime],
    actor: str,
    batch_size: int = 500,
    on_progress: Callable[[int, int], None] | None = None,
    on_errors: Callable[[Sequence[RowError]], None] | None = None,
) -> ImportSummary:
    """Issue a credential for every good row not issued before; report the others.

    Args:
        register: The parsed file.
        issuance: The node's issuance service (signs with the node's current key).
        db: The node database.
        clock: The time source; each batch is issued at the time it starts.
        actor: Who runs the import, for the audit log.
        batch_size: Rows per write transaction.
        on_progress: Called after each batch with ``(rows done, rows in all)``.
        on_errors: Called with the problems of each batch, as they are found (every
            problem is also kept in :attr:`ImportSummary.errors`).

    Raises:
        StorageError: The database failed (batches committed before stay issued: a re-run
            skips them).
    """
    started = time.perf_counter()
    summary = ImportSummary(rows=len(register.rows))
    seen: dict[str, tuple[int, str]] = {}  # key -> (row, fingerprint), within this run
    done = 0
    for batch_start in range(0, len(register.rows), batch_size):
        batch = register.rows[batch_start : batch_start + batch_size]
        with _collector_paused():
            issued, skipped, failed, errors = _import_batch(
                register, batch, seen, issuance=issuance, db=db, now=clock(), actor=actor
            )
        summary.issued += issued
        summary.skipped += skipped
        summary.failed += failed
        summary.errors.extend(errors)
        if errors and on_errors is not None:
            on_errors(errors)
        done += len(batch)
        if on_progress is not None:
            on_progress(done, len(register.rows))
    summary.seconds = time.perf_counter() - started
    return summary


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one batch.

    A batch allocates many small, acyclic objects (documents, rows), all freed by reference
    counting; the collector would only walk them again and again (about a tenth of the
    import's time). It runs as usual between batches.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _import_batch(
    register: Register,
    batch: Sequence[RegisterRow],
    seen: dict[str, tuple[int, str]],
    *,
    issuance: IssuanceService,
    db: Database,
    now: datetime,
    actor: str,
) -> tuple[int, int, int, list[RowError]]:
    """Check, then issue one batch; ``(issued, skipped, failed, errors sorted by row)``."""
    failed = skipped = 0
    errors: list[RowError] = []
    ready: list[_Ready] = []
    signer = issuance.current_signer()  # read once: a batch is signed by one key
    for row in batch:
        found = _prepare_row(register, row, issuance, now, signer)
        if isinstance(found, list):
            errors.extend(found)
            failed += 1
            continue
        earlier = seen.get(found.key)
        if earlier is None:
            seen[found.key] = (found.row, found.fingerprint)
            ready.append(found)
        elif earlier[1] == found.fingerprint:
            skipped += 1  # the same trader, the same data, twice in the file
        else:
            errors.append(
                RowError(
                    found.row,
                    register.field_of("/identifiers/0/value"),
                    f"trader {found.key} is also on row {earlier[0]}, with other data",
                )
            )
            failed += 1
    issued, known, differing = _store(register, ready, issuance, db, now, actor)
    failed += len({e.row for e in differing})
    errors.extend(differing)
    errors.sort(key=lambda e: e.row)
    return issued, skipped + known, failed, errors


def _prepare_row(
    register: Register,
    row: RegisterRow,
    issuance: IssuanceService,
    now: datetime,
    signer: SigningKey,
) -> _Ready | list[RowError]:
    if row.errors or row.subject is None:
        return list(row.errors)
    errors: list[RowError] = []
    given: dict[str, datetime | None] = {}
    for name, value in (("validFrom", row.valid_from), ("validUntil", row.valid_until)):
        given[name] = None
        if value is None:
            continue
        where = register.validity_field(name)
        if not isinstance(value, str):
            errors.append(RowError(row.row, where, "must be a date and time string"))
            continue
        try:
            given[name] = parse_datetime(value, field=name)
        except MalformedInputError as e:
            errors.append(RowError(row.row, where, e.message))
    valid_from, valid_until = given["validFrom"], given["validUntil"]
    start = (valid_from or now).replace(microsecond=0)
    if valid_until is not None and valid_until.replace(microsecond=0) <= start:
        what = "validFrom" if valid_from is not None else "the import time"
        errors.append(
            RowError(
                row.row,
                register.validity_field("validUntil"),
                f"must be after {what} ({format_datetime(start)})",
            )
        )
    if errors:
        return errors
    try:
        prepared = issuance.prepare_aeo(
            row.subject, now=now, valid_from=valid_from, valid_until=valid_until, signer=signer
        )
    except SchemaValidationError as e:
        return [
            RowError(row.row, register.field_of(item["path"]), item["message"]) for item in e.errors
        ]
    except MalformedInputError as e:
        return [RowError(row.row, _ROW, e.message)]
    subject = prepared.document["credentialSubject"]
    assert isinstance(subject, dict)  # noqa: S101 - built by build_aeo_credential
    first = subject["identifiers"]
    assert isinstance(first, list) and isinstance(first[0], dict)  # noqa: S101 - validated
    key = f"{first[0]['scheme']}:{first[0]['value']}"
    given_from = None if valid_from is None else format_datetime(valid_from)
    given_until = None if valid_until is None else format_datetime(valid_until)
    # Only compared with itself: any deterministic serialisation will do (and a changed one
    # merely sends rows through the field-by-field comparison in _differing).
    fingerprint = hashlib.sha256(
        orjson.dumps(
            {"credentialSubject": subject, "validFrom": given_from, "validUntil": given_until},
            option=orjson.OPT_SORT_KEYS,
        )
    ).hexdigest()
    return _Ready(row.row, key, fingerprint, prepared, given_from, given_until)


def _store(
    register: Register,
    ready: list[_Ready],
    issuance: IssuanceService,
    db: Database,
    now: datetime,
    actor: str,
) -> tuple[int, int, list[RowError]]:
    """Issue the batch in one transaction; ``(issued, skipped, errors)``.

    A concurrent import of the same keys makes the transaction fail on the key's primary
    key: it is then run again, and finds those keys known.
    """
    if not ready:
        return 0, 0, []
    for attempt in range(_RETRIES):
        try:
            with db.write() as conn:
                known = aeo_import_repo.find_keys(conn, (r.key for r in ready))
                new: list[_Ready] = []
                replacing: list[tuple[_Ready, ImportKeyRecord]] = []
                skipped = 0
                errors: list[RowError] = []
                for item in ready:
                    record = known.get(item.key)
                    if record is None:
                        new.append(item)
                    elif record.fingerprint == item.fingerprint:
                        skipped += 1
                    else:
                        stored = credentials_repo.get_credential(conn, record.credential_id)
                        differ = _differing(item, stored.document if stored else None)
                        if not differ:
                            skipped += 1
                        elif _revoked(conn, record.credential_id):
                            replacing.append((item, record))
                        else:
                            errors.extend(
                                RowError(
                                    item.row,
                                    register.field_of(p)
                                    if p.startswith("/")
                                    else register.validity_field(p),
                                    f"already issued as {record.credential_id}, differs "
                                    "(revoke that credential to issue the new data)",
                                )
                                for p in differ
                            )
                issue = new + [item for item, _ in replacing]
                issuance.store_batch(conn, [i.prepared for i in issue], now=now, actor=actor)
                aeo_import_repo.insert_keys(
                    conn,
                    [
                        ImportKeyRecord(i.key, i.prepared.credential_id, i.fingerprint, now)
                        for i in new
                    ],
                )
                for item, record in replacing:
                    moved = ImportKeyRecord(
                        item.key, item.prepared.credential_id, item.fingerprint, now
                    )
                    if not aeo_import_repo.replace_key(
                        conn, moved, previous_credential=record.credential_id
                    ):
                        raise StorageConflictError("a concurrent import moved the key")
            return len(issue), skipped, errors
        except StorageConflictError:
            if attempt == _RETRIES - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _differing(item: _Ready, stored_document: str | None) -> list[str]:
    """Subject pointers (``/legalName``) and validity names that differ from what was issued."""
    if stored_document is None:
        return ["/"]
    stored = json.loads(stored_document)
    old = stored.get("credentialSubject")
    new = item.prepared.document["credentialSubject"]
    if not isinstance(old, dict) or not isinstance(new, dict):
        return ["/"]
    names = sorted(set(old) | set(new), key=lambda n: (n != "identifiers", n))
    differ: list[str] = []
    for name in names:
        if old.get(name) == new.get(name):
            continue
        if name == "identifiers" and isinstance(old.get(name), list):
            old_ids, new_ids = old[name], new.get(name)
            assert isinstance(new_ids, list)  # noqa: S101 - validated
            differ.extend(
                f"/identifiers/{i}/{part}"
                for i in range(max(len(old_ids), len(new_ids)))
                for part in ("scheme", "value")
                if _member(old_ids, i, part) != _member(new_ids, i, part)
            )
            continue
        differ.append("/" + name)
    for name, given in (("validFrom", item.given_from), ("validUntil", item.given_until)):
        if given is not None and stored.get(name) != given:
            differ.append(name)
    return list(dict.fromkeys(differ))


def _member(items: list[JSONValue], index: int, name: str) -> JSONValue:
    if index >= len(items) or not isinstance(items[index], dict):
        return None
    item = items[index]
    assert isinstance(item, dict)  # noqa: S101 - checked above
    return item.get(name)


def _revoked(conn: Connection, credential_id: str) -> bool:
    return any(
        e.purpose == "revocation" and e.value
        for e in status_repo.entries_for_credential(conn, credential_id)
    )
