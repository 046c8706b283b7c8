"""The identifier crosswalk: links the administration keeps between one trader's identifiers.

CBP targets on the Manufacturer Identification Code (MID); the EU knows the same trader by
its EORI. A link says the two name one trader, so that a credential carrying one counts for
a declaration naming the other (:class:`risk.IdentifierCrosswalk`: one link, never chained).

Links are added one by one (``POST /identifiers``) or imported from a CSV file
(``trustlane registry identifiers import``). An import checks every row first and reports
each with its row number: bad rows are refused with their reason, rows already stored (in
either order) are reported as such, and the good rows are stored together in one
transaction, so a file is never half imported because the database failed part way.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import datetime

from credentials.datetimes import format_datetime
from credentials.errors import MalformedInputError
from credentials.strict_json import JSONObject
from node.services.audit import record_event
from node.storage import identifiers_repo
from node.storage.db import Database, StorageConflictError
from node.storage.identifiers_repo import LinkRecord
from risk import PartyIdentifier

__all__ = [
    "CSV_COLUMNS",
    "MAX_IMPORT_BYTES",
    "MAX_IMPORT_ROWS",
    "IdentifierService",
    "ImportReport",
    "RowReport",
    "link_json",
]

#: The header of an import file (``note`` may be left out).
CSV_COLUMNS = ("scheme", "value", "linked_scheme", "linked_value", "note")
#: Largest import file read.
MAX_IMPORT_BYTES = 8 * 1024 * 1024
#: Most rows one import file may hold.
MAX_IMPORT_ROWS = 100_000
MAX_NOTE = 200
MAX_PAGE = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def link_json(record: LinkRecord) -> JSONObject:
    """The API form of a stored link."""
    return {
        "id": str(record.seq),
        "identifier": {"scheme": record.a[0], "value": record.a[1]},
        "linked": {"scheme": record.b[0], "value": record.b[1]},
        "note": record.note,
        "createdAt": format_datetime(record.created_at),
    }


def check_note(note: object) -> str | None:
    """A link's optional note: at most 200 characters, no control characters.

    Raises:
        MalformedInputError: Otherwise (``INVALID_NOTE``).
    """
    if note is None or note == "":
        return None
    if not isinstance(note, str) or len(note) > MAX_NOTE or _CONTROL.search(note):
        raise MalformedInputError(
            f"note must be at most {MAX_NOTE} characters without control characters",
            code="INVALID_NOTE",
        )
    return note


def check_link(first: PartyIdentifier, second: PartyIdentifier) -> None:
    """Refuse a link of an identifier to itself.

    Raises:
        MalformedInputError: Both ends are the same identifier (``INVALID_LINK``).
    """
    if first == second:
        raise MalformedInputError(f"{first} cannot be linked to itself", code="INVALID_LINK")


@dataclass(frozen=True)
class RowReport:
    """What an import did with one row (``row`` counts the header as row 1)."""

    row: int
    status: str  # stored, exists or refused
    reason: str | None = None

    def to_json(self) -> JSONObject:
        """The JSON form."""
        out: JSONObject = {"row": self.row, "status": self.status}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


@dataclass(frozen=True)
class ImportReport:
    """Every row of an import file, in order."""

    rows: tuple[RowReport, ...]

    def count(self, status: str) -> int:
        """How many rows ended with ``status``."""
        return sum(1 for r in self.rows if r.status == status)

    def to_json(self) -> JSONObject:
        """The JSON form: counts and one entry per row."""
        return {
            "stored": self.count("stored"),
            "exists": self.count("exists"),
            "refused": self.count("refused"),
            "rows": [r.to_json() for r in self.rows],
        }


def _identifier(scheme: str, value: str) -> PartyIdentifier:
    return PartyIdentifier(scheme.strip(), value.strip())


class IdentifierService:
    """Maintains the crosswalk in the database."""

    def __init__(self, *, db: Database) -> None:
        self._db = db

    def add_link(
        self,
        first: PartyIdentifier,
        second: PartyIdentifier,
        *,
        note: object,
        now: datetime,
        actor: str,
    ) -> LinkRecord:
        """Store one link.

        Raises:
            MalformedInputError: Both ends are the same identifier, or a bad note.
            StorageConflictError: The link is already stored (in either order).
        """
        check_link(first, second)
        checked = check_note(note)
        with self._db.write() as conn:
            if identifiers_repo.find_link(conn, first, second) is not None:
                raise StorageConflictError(f"{first} and {second} are already linked")
            record = identifiers_repo.insert_link(
                conn, first, second, note=checked, now=now, actor=actor
            )
            record_event(
                conn,
                now=now,
                actor=actor,
                action="identifier.linked",
                target=f"{record.a[0]}:{record.a[1]}",
                details={"linked": f"{record.b[0]}:{record.b[1]}"},
            )
        return record

    def links(self, *, limit: int, cursor: str | None) -> tuple[list[LinkRecord], str | None]:
        """A page of links in the order they were stored, and the next page's cursor.

        Raises:
            MalformedInputError: ``limit`` out of range or a cursor this node did not give.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise MalformedInputError(f"limit must be from 1 to {MAX_PAGE}", code="INVALID_QUERY")
        after = None
        if cursor is not None:
            if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:
                raise MalformedInputError(
                    "cursor must be the 'next' value of an earlier page", code="INVALID_QUERY"
                )
            after = int(cursor)
        with self._db.read() as conn:
            rows = identifiers_repo.list_links(conn, limit=limit + 1, after=after)
        following = str(rows[limit - 1].seq) if len(rows) > limit else None
        return rows[:limit], following

    def import_csv(self, data: bytes, *, now: datetime, actor: str) -> ImportReport:
        """Check every row of a CSV file, then store the good ones in one transaction.

        Raises:
            MalformedInputError: The file as a whole is unusable: too large, not UTF-8, no
                header or a header other than :data:`CSV_COLUMNS` (``INVALID_IMPORT``).
            StorageError: The database cannot be used (nothing is stored).
        """
        rows = _read_rows(data)
        reports: list[RowReport] = []
        good: list[tuple[int, PartyIdentifier, PartyIdentifier, str | None]] = []
        seen: dict[tuple[tuple[str, str], tuple[str, str]], int] = {}
        for number, row in rows:
            try:
                if len(row) > len(CSV_COLUMNS) or len(row) < len(CSV_COLUMNS) - 1:
                    raise MalformedInputError(f"has {len(row)} fields, expected 4 or 5")
                first = _identifier(row[0], row[1])
                second = _identifier(row[2], row[3])
                check_link(first, second)
                note = check_note(row[4] if len(row) == 5 else None)
            except MalformedInputError as e:
                reports.append(RowReport(number, "refused", e.message))
                continue
            key = identifiers_repo.ordered(first, second)
            if key in seen:
                reports.append(RowReport(number, "refused", f"repeats row {seen[key]}"))
                continue
            seen[key] = number
            good.append((number, first, second, note))
            reports.append(RowReport(number, "stored"))
        exists: set[int] = set()
        if good:
            with self._db.write() as conn:
                for number, first, second, note in good:
                    if identifiers_repo.find_link(conn, first, second) is not None:
                        exists.add(number)
                        continue
                    identifiers_repo.insert_link(
                        conn, first, second, note=note, now=now, actor=actor
                    )
                record_event(
                    conn,
                    now=now,
                    actor=actor,
                    action="identifier.imported",
                    target="identifier-links",
                    details={"stored": len(good) - len(exists), "rows": len(rows)},
                )
        return ImportReport(
            tuple(
                RowReport(r.row, "exists", "already linked") if r.row in exists else r
                for r in reports
            )
        )


def _read_rows(data: bytes) -> list[tuple[int, list[str]]]:
    def bad(message: str) -> MalformedInputError:
        return MalformedInputError(message, code="INVALID_IMPORT")

    if len(data) > MAX_IMPORT_BYTES:
        raise bad(f"the file is larger than {MAX_IMPORT_BYTES} bytes")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise bad(f"the file is not UTF-8 (byte {e.start})") from e
    if "\x00" in text:
        raise bad("the file holds NUL characters")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or [h.strip() for h in header] not in (
            list(CSV_COLUMNS),
            list(CSV_COLUMNS[:-1]),
        ):
            raise bad(f"the first line must be the header {','.join(CSV_COLUMNS)}")
        rows: list[tuple[int, list[str]]] = []
        for row in reader:
            if not row or all(not field.strip() for field in row):
                continue
            if len(rows) >= MAX_IMPORT_ROWS:
                raise bad(f"the file holds more than {MAX_IMPORT_ROWS} rows")
            rows.append((reader.line_num, row))
    except csv.Error as e:
        raise bad(f"line {reader.line_num}: not CSV: {e}") from e
    return rows
