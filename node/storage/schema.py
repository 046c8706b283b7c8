"""The node's tables (SQLAlchemy Core). Alembic migrations create them; see migrations/."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

__all__ = [
    "UTCDateTime",
    "aeo_import_keys",
    "audit_events",
    "audit_head",
    "console_sessions",
    "credential_nonces",
    "credential_offers",
    "credentials",
    "devices",
    "event_nonces",
    "identifier_links",
    "job_locks",
    "key_announcements",
    "log_checkpoints",
    "log_entries",
    "log_hashes",
    "log_head",
    "log_witnesses",
    "metadata",
    "mras",
    "node_keys",
    "peer_did_documents",
    "peer_key_records",
    "peer_status_lists",
    "peers",
    "presentation_challenges",
    "risk_decisions",
    "risk_watch_list",
    "split_view_alerts",
    "status_entries",
    "status_list_heads",
    "status_list_versions",
    "status_lists",
    "sync_health",
    "tokens",
    "trust_generation",
    "witness_heads",
]


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite stores naive text; we add UTC back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        """Refuse naive values; store UTC."""
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes."""
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"unexpected database value {type(value).__name__}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The node's own signing keys (public part and lifecycle; private parts live in the key store).
node_keys = Table(
    "node_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("public_key_multibase", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("retired_at", UTCDateTime()),
    Column("compromised_since", UTCDateTime()),
    Column("is_current", Boolean, nullable=False, default=False),
)

# Every credential the node issued, as signed.
credentials = Table(
    "credentials",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("types", String(400), nullable=False),
    Column("subject_id", String(400)),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("valid_until", UTCDateTime()),
    Column("document", Text, nullable=False),
)

status_lists = Table(
    "status_lists",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("purpose", String(32), nullable=False),
    # Entries in the list; each is ``status_size`` bits, so the bitstring has size x that.
    Column("size", Integer, nullable=False),
    # Bits per entry (``statusSize``, migration 0015): 1, or 2 for suspensions with a reason.
    Column("status_size", Integer, nullable=False, server_default="1"),
    Column("created_at", UTCDateTime(), nullable=False),
    # Bumped under a row lock by each publication: serialises publishers across workers.
    Column("latest_version", Integer, nullable=False, default=0),
    # Entries allocated in the list (migration 0016), moved in the transaction that inserts
    # them: allocation reads this instead of counting a list that may hold 65,536 entries.
    Column("used", Integer, nullable=False, server_default="0"),
)

# One row per status purpose naming its open list (migration 0005). A writer opens a new list
# only under this row's lock (FOR UPDATE), so concurrent writers share one open list.
status_list_heads = Table(
    "status_list_heads",
    metadata,
    Column("purpose", String(32), primary_key=True),
    Column("list_id", String(64), ForeignKey("status_lists.id")),
    # Lists opened so far for this purpose; the next one is "<purpose>-<lists_opened + 1>".
    Column("lists_opened", Integer, nullable=False, default=0),
)

# One row per allocated index; the primary key makes allocation unique under concurrency,
# and rows are never deleted, so an index is never reused.
status_entries = Table(
    "status_entries",
    metadata,
    Column("list_id", String(64), ForeignKey("status_lists.id"), primary_key=True),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    # No foreign key: indexes are allocated before the credential (which embeds them) exists.
    Column("credential_id", String(200), nullable=False),
    # True when the status is not 0 (revoked, or suspended for whatever reason).
    Column("value", Boolean, nullable=False, default=False),
    # The entry's full status value (migration 0015): 0 or 1 on a 1-bit list, the reason
    # code of a suspension on a multi-bit one. ``value`` is always ``status_value != 0``.
    Column("status_value", Integer, nullable=False, server_default="0"),
    Column("updated_at", UTCDateTime(), nullable=False),
    Index("ix_status_entries_credential", "credential_id"),
)

# Every published, signed status list credential (kept for "status at time T").
status_list_versions = Table(
    "status_list_versions",
    metadata,
    Column("list_id", String(64), ForeignKey("status_lists.id"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("published_at", UTCDateTime(), nullable=False),
    Column("valid_from", UTCDateTime(), nullable=False),
    Column("valid_until", UTCDateTime(), nullable=False),
    Column("etag", String(80), nullable=False),
    Column("document", Text, nullable=False),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("scopes", String(400), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
)

# Append-only, hash-chained audit log.
audit_events = Table(
    "audit_events",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(400), nullable=False),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# A single row naming the chain's head; appenders lock it, which serialises appends.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("hash", String(64), nullable=False),
)


# --- federation (migration 0002) ---------------------------------------------------------

# Peers added by an administrator, with the keys pinned out of band.
peers = Table(
    "peers",
    metadata,
    Column("did", String(400), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("base_url", String(400), nullable=False),
    Column("ca_bundle", String(1000)),
    Column("pinned_keys", Text, nullable=False),
    # Keys an administrator re-pinned since the last accepted DID document.
    Column("repinned_keys", Text, nullable=False, default=""),
    Column("trusted", Boolean, nullable=False, default=False),
    Column("untrusted_reason", Text),
    Column("added_at", UTCDateTime(), nullable=False),
    # Migration 0013: why the peer is untrusted as a code (``KEY_CHANGE_REJECTED``, ...); the
    # DID document refused only for keys an announcement may still vouch for, and when; the
    # last time an announcement lifted that distrust, and what happened (for health).
    Column("untrusted_code", String(64)),
    Column("rejected_document", Text),
    Column("rejected_at", UTCDateTime()),
    Column("recovered_at", UTCDateTime()),
    Column("recovery_note", Text),
)

# The last accepted DID document of each peer.
peer_did_documents = Table(
    "peer_did_documents",
    metadata,
    Column("did", String(400), ForeignKey("peers.did"), primary_key=True),
    Column("document", Text, nullable=False),
    Column("fetched_at", UTCDateTime(), nullable=False),
)

# Every verified version of every peer status list (history for "status at time T").
peer_status_lists = Table(
    "peer_status_lists",
    metadata,
    Column("url", String(600), primary_key=True),
    Column("valid_from", UTCDateTime(), primary_key=True),
    Column("peer_did", String(400), ForeignKey("peers.did"), nullable=False),
    Column("valid_until", UTCDateTime(), nullable=False),
    Column("etag", String(200)),
    Column("document", Text, nullable=False),
    Column("first_fetched_at", UTCDateTime(), nullable=False),
    # Last time the peer confirmed this is still its current version (200 or 304).
    Column("confirmed_at", UTCDateTime(), nullable=False),
    Index("ix_peer_status_lists_url_confirmed", "url", "confirmed_at"),
)

# Mutual recognition agreements, as signed documents, with their local state.
mras = Table(
    "mras",
    metadata,
    Column("id", String(400), primary_key=True),
    Column("peer_did", String(400), nullable=False),
    Column("state", String(32), nullable=False),
    Column("document", Text, nullable=False),
    Column("termination_notice", Text),
    Column("termination_effective", UTCDateTime()),
    Column("updated_at", UTCDateTime(), nullable=False),
    # The proofValue of this node's own signature, recorded by its MRA workflow (propose or
    # countersign). An agreement counts only when it carries that very proof (migration 0003).
    Column("own_proof_value", String(200)),
)

# Per peer and resource: when sync last worked, what failed, when to try again.
sync_health = Table(
    "sync_health",
    metadata,
    Column("peer_did", String(400), primary_key=True),
    # "status_list:" + a peer list URL (up to 600, as peer_status_lists.url): migration 0015
    # widened it from 64, which a peer base URL longer than about 40 characters overflowed.
    Column("resource", String(620), primary_key=True),
    Column("last_success", UTCDateTime()),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime()),
    Column("failures", Integer, nullable=False, default=0),
    Column("next_attempt", UTCDateTime()),
)

# Cross-process "run once per interval" locks for scheduled jobs.
job_locks = Table(
    "job_locks",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("owner", String(200), nullable=False),
    Column("locked_until", UTCDateTime(), nullable=False),
)

# Nonces of accepted signed federation requests (replay protection).
event_nonces = Table(
    "event_nonces",
    metadata,
    Column("key_id", String(600), primary_key=True),
    Column("nonce", String(200), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False),
)


# --- fail-closed trust (migration 0003) ---------------------------------------------------

# One row whose value grows with every change to what verification trusts (keys, peers,
# DID documents, status lists, agreements); workers rebuild their trust snapshot when it moves.
trust_generation = Table(
    "trust_generation",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("value", BigInteger, nullable=False),
)

# Where each key of a peer came from (pinned out of band, announced, re-pinned) and from when
# it may have signed: a proof dated before ``not_before`` (less the skew) does not verify.
peer_key_records = Table(
    "peer_key_records",
    metadata,
    Column("peer_did", String(400), ForeignKey("peers.did"), primary_key=True),
    Column("multibase", String(200), primary_key=True),
    Column("source", String(32), nullable=False),
    Column("not_before", UTCDateTime()),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    # When the key stopped being the peer's current key (left ``authentication``), 0013.
    Column("not_after", UTCDateTime()),
)


# --- AEO register import (migration 0006) -------------------------------------------------

# The trader key ("<scheme>:<value>" of the first identifier) of every credential that
# `trustlane aeo import` issued, with a fingerprint of the row it came from (SHA-256 of
# subject and given validity as sorted-key JSON): a re-run skips known keys and reports rows
# that changed.
aeo_import_keys = Table(
    "aeo_import_keys",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("credential_id", String(200), ForeignKey("credentials.id"), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("imported_at", UTCDateTime(), nullable=False),
)


# --- presentation challenges (migration 0007) ----------------------------------------------

# Challenges issued to traders' wallets at a port, each bound to one consignment (WCO UCR) and
# one port (UN/LOCODE). A presentation spends its challenge with one conditional UPDATE
# (``used_at`` IS NULL and not expired), so of two replicas racing exactly one wins. Rows are
# deleted a day after they expired.
presentation_challenges = Table(
    "presentation_challenges",
    metadata,
    Column("challenge", String(128), primary_key=True),
    Column("consignment", String(35), nullable=False),
    Column("port", String(5), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
    Column("issued_by", String(200), nullable=False),
    Index("ix_presentation_challenges_expires_at", "expires_at"),
)


# --- credential offers (migration 0012) -----------------------------------------------------

# OpenID4VCI pre-authorised code offers: one AEO credential for one trader. Codes, access
# tokens and transaction codes are stored as SHA-256 hashes only. Redeeming the code and
# spending the access token are each one conditional UPDATE, so replicas racing on one code
# (or one token) let exactly one win.
credential_offers = Table(
    "credential_offers",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("tx_code_hash", String(64), nullable=False),
    Column("trader", String(200), nullable=False),
    Column("source_credential_id", String(200), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("tx_attempts", Integer, nullable=False, default=0),
    Column("redeemed_at", UTCDateTime()),
    Column("access_token_hash", String(64), unique=True),
    Column("access_expires_at", UTCDateTime()),
    Column("issued_at", UTCDateTime()),
    Column("credential_id", String(200)),
    Index("ix_credential_offers_expires_at", "expires_at"),
)

# The c_nonce values of the nonce endpoint: single use (one conditional UPDATE), short-lived.
credential_nonces = Table(
    "credential_nonces",
    metadata,
    Column("nonce", String(128), primary_key=True),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("used_at", UTCDateTime()),
    Index("ix_credential_nonces_expires_at", "expires_at"),
)


# --- transparency log (migration 0008) ------------------------------------------------------

# One row naming the log's size and RFC 9162 root; appenders lock it (FOR UPDATE), which
# serialises appends across workers and replicas. Appends happen last in a write transaction
# (node.storage.log_repo), just before the trust generation moves, so lock order is fixed.
log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
)

# Every log entry (its bytes are the Merkle leaf input), with the id of the document it names.
log_entries = Table(
    "log_entries",
    metadata,
    Column(
        "idx", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("entry", LargeBinary, nullable=False),
    Column("document_id", String(400), nullable=False),
    Index("ix_log_entries_document_id", "document_id"),
)

# The hash of every complete aligned subtree: (level, idx) covers leaves
# [idx * 2**level, (idx + 1) * 2**level), stored under the one integer key
# level * 2**56 + idx (node.storage.log_repo.coord_key), so that a proof's hashes are one
# indexed IN (...) query whose statement is compiled once. Proofs and tiles are read here.
log_hashes = Table(
    "log_hashes",
    metadata,
    Column(
        "key", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("hash", LargeBinary(32), nullable=False),
)

# Signed checkpoints (C2SP tlog-checkpoint notes), one per size the node signed, with the
# witness cosignatures gathered for it appended as further signature lines.
log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column(
        "size", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("signed_at", UTCDateTime(), nullable=False),
)


# --- devices (migration 0009) ----------------------------------------------------------------

# Scanners and radiation portal monitors the node authorised, by did:key. ``state`` is active,
# suspended or retired; the signed DeviceAuthorization credential is in ``credentials``.
devices = Table(
    "devices",
    metadata,
    Column("did", String(200), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("modalities", String(100), nullable=False),
    Column("site", String(5), nullable=False),
    Column("state", String(16), nullable=False),
    Column("authorization_id", String(200), ForeignKey("credentials.id"), nullable=False),
    Column("valid_from", UTCDateTime(), nullable=False),
    Column("valid_until", UTCDateTime(), nullable=False),
    Column("calibration_due", UTCDateTime()),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("state_reason", Text),
)


# --- witnessing (migration 0010) ------------------------------------------------------------

# As a C2SP tlog-witness for partners: the latest checkpoint this node cosigned per log
# origin. The row is locked (FOR UPDATE) while a request is checked, so the size check and
# the write are atomic (tlog-witness).
witness_heads = Table(
    "witness_heads",
    metadata,
    Column("origin", String(400), primary_key=True),
    Column("peer_did", String(400), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("checkpoint", Text, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# As a log asking partners to witness it: the size each partner last cosigned.
log_witnesses = Table(
    "log_witnesses",
    metadata,
    Column("peer_did", String(400), primary_key=True),
    Column("size", BigInteger, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

# Two checkpoints of one log that cannot both be true: kept for operators and auditors.
split_view_alerts = Table(
    "split_view_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(400), nullable=False),
    Column("peer_did", String(400), nullable=False),
    Column("detected_at", UTCDateTime(), nullable=False),
    Column("detail", Text, nullable=False),
    Column("known_checkpoint", Text, nullable=False),
    Column("conflicting_checkpoint", Text, nullable=False),
)


# --- risk (migration 0011) ------------------------------------------------------------------

# Every risk decision this node made, with what it rests on (``document``: the JSON of the
# stored assessment). ``seq`` orders the list (newest first) and pages it.
risk_decisions = Table(
    "risk_decisions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(64), nullable=False, unique=True),
    Column("declaration_id", String(64), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("policy_hash", String(80), nullable=False),
    Column("assessed_at", UTCDateTime(), nullable=False),
    Column("assessed_by", String(64), nullable=False),
    Column("document", Text, nullable=False),
    Index("ix_risk_decisions_declaration_id", "declaration_id"),
)

# The administration's identifier crosswalk: links between two identifiers of one trader
# (an EU EORI and the US MID it trades under). Each link is stored once, its two ends in
# sorted order (``a`` < ``b``), so a link and its reverse are the same row.
identifier_links = Table(
    "identifier_links",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("scheme_a", String(16), nullable=False),
    Column("value_a", String(70), nullable=False),
    Column("scheme_b", String(16), nullable=False),
    Column("value_b", String(70), nullable=False),
    Column("note", String(200)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
    UniqueConstraint("scheme_a", "value_a", "scheme_b", "value_b"),
    Index("ix_identifier_links_value_a", "value_a"),
    Index("ix_identifier_links_value_b", "value_b"),
)

# The watch list: party identifiers (``kind`` party, with their scheme) and container
# numbers (``kind`` container, scheme ``""``) under targeting.
risk_watch_list = Table(
    "risk_watch_list",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("scheme", String(16), nullable=False),
    Column("value", String(70), nullable=False),
    Column("reason", String(200)),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("created_by", String(64), nullable=False),
    UniqueConstraint("kind", "scheme", "value"),
)


# --- key rotation (migration 0013) --------------------------------------------------------------

# Per new key and peer: the announcement of a two-phase rotation, who acknowledged it, and
# when to send it again (the scheduler re-sends until the peer acknowledges).
key_announcements = Table(
    "key_announcements",
    metadata,
    Column("kid", String(64), ForeignKey("node_keys.kid"), primary_key=True),
    Column("peer_did", String(400), primary_key=True),
    # The key that was current when the rotation began: the one the peer still pins.
    Column("signer_kid", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("acknowledged_at", UTCDateTime()),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_attempt_at", UTCDateTime()),
    Column("last_error", Text),
    Column("next_attempt", UTCDateTime()),
)


# --- officer console (migration 0014) -----------------------------------------------------------

# A console login: the browser holds the random session id, the node its SHA-256 only.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("token_id", String(32), ForeignKey("tokens.id"), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("last_seen_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
    Index("ix_console_sessions_token_id", "token_id"),
)
