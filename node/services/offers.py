"""Credential delivery to a trader's wallet: OpenID4VCI 1.0, pre-authorised code flow.

1. An issuer creates an offer for a trader (:meth:`OfferService.create_offer`). The trader is
   named by what the administration already holds about it (see :meth:`OfferService.source`):
   its register key ``SCHEME:VALUE`` as ``trustlane aeo import`` recorded it
   (``EORI:DE123456789012345``), or the id of an AEO credential this node issued to it. The
   new credential copies that credential's subject; only ``credentialSubject.id`` becomes
   the wallet's did:key. The offer carries a pre-authorised code; the transaction code (a
   6-digit PIN) goes to the trader by a second channel.
2. The wallet exchanges code + PIN at the token endpoint (:meth:`OfferService.exchange`) for
   a short-lived access token: one conditional UPDATE, so exactly one of any number of racing
   redemptions wins. A wrong PIN counts an attempt without burning the code; after
   :data:`MAX_TX_CODE_ATTEMPTS` wrong PINs the code is dead.
3. The wallet takes a ``c_nonce`` from the nonce endpoint (:meth:`OfferService.new_nonce`)
   and asks the credential endpoint (:meth:`OfferService.issue`) with a ``di_vp`` proof over
   it (:func:`credentials.oid4vci.verify_key_proof`). In one write transaction the nonce and
   the access token are spent and the credential is issued through
   :class:`~node.services.issuance.IssuanceService` (status entries, log, audit as for any
   credential). A refused request spends nothing.

The code, the PIN and the access token are stored as SHA-256 hashes only. Errors of the
OAuth endpoints are :class:`OAuthError` (RFC 6749 §5.2 / OpenID4VCI §8.3.1 error codes).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection

from credentials.aeo import AEO_CONTEXT_URL, AEO_CREDENTIAL_TYPE, aeo_subject_of
from credentials.datetimes import format_datetime
from credentials.errors import InvalidProofError, MalformedInputError, TrustlaneError
from credentials.model import VC_V2_CONTEXT
from credentials.oid4vci import DI_VP, PRE_AUTHORIZED_CODE_GRANT, KeyProof, verify_key_proof
from credentials.strict_json import JSONObject, loads_object
from node.services.audit import record_event
from node.services.issuance import IssuanceService
from node.services.status import NotFoundError, StatusConflictError
from node.storage import aeo_import_repo, credentials_repo, offers_repo, status_repo
from node.storage.db import Database
from node.storage.offers_repo import OfferRecord
from node.storage.records import CredentialRecord

__all__ = [
    "CONFIGURATION_ID",
    "DEFAULT_ACCESS_TOKEN_TTL",
    "DEFAULT_CODE_TTL",
    "DEFAULT_NONCE_TTL",
    "MAX_TX_CODE_ATTEMPTS",
    "TX_CODE_LENGTH",
    "CreatedOffer",
    "OAuthError",
    "OfferService",
    "check_trader",
]

#: The one credential configuration this node offers (issuer metadata).
CONFIGURATION_ID = "AEOCertificate"
#: How long a pre-authorised code may be redeemed, unless configured otherwise.
DEFAULT_CODE_TTL = timedelta(minutes=10)
#: How long an access token is good for its one credential.
DEFAULT_ACCESS_TOKEN_TTL = timedelta(minutes=5)
#: How long a c_nonce may be answered.
DEFAULT_NONCE_TTL = timedelta(minutes=5)
#: Wrong transaction codes after which the pre-authorised code is dead.
MAX_TX_CODE_ATTEMPTS = 3
#: Digits of the transaction code (PIN).
TX_CODE_LENGTH = 6
#: How long expired offers are remembered (to tell "expired" from "unknown").
RETENTION = timedelta(days=1)
_RANDOM_BYTES = 32
_TRADER_MAX = 200


class OAuthError(TrustlaneError):
    """A refusal of an OAuth / OpenID4VCI endpoint, answered in the OAuth error shape.

    Attributes:
        error: The OAuth error code (``invalid_grant``, ``invalid_proof``...).
        status: The HTTP status (400, or 401 for ``invalid_token``).

    """

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description, code=error.upper())
        self.error = error
        self.status = status


@dataclass(frozen=True)
class CreatedOffer:
    """A new offer: what goes to the wallet, and the PIN for the second channel.

    Attributes:
        id: The offer's id (audit log).
        offer: The OpenID4VCI credential offer object.
        tx_code: The transaction code (PIN), shown once.
        trader: The trader it was made for.
        source_credential_id: The credential whose subject data the new one copies.
        expires_at: When the pre-authorised code stops working.

    """

    id: str
    offer: JSONObject
    tx_code: str
    trader: str
    source_credential_id: str
    expires_at: datetime

    @property
    def url(self) -> str:
        """The offer by value as an ``openid-credential-offer://`` URL (QR code, link)."""
        text = json.dumps(self.offer, separators=(",", ":"), ensure_ascii=False)
        return "openid-credential-offer://?credential_offer=" + quote(text, safe="")

    def to_dict(self) -> dict[str, Any]:
        """The API / ``--json`` body."""
        return {
            "id": self.id,
            "credentialOffer": self.offer,
            "credentialOfferUrl": self.url,
            "txCode": self.tx_code,
            "trader": self.trader,
            "sourceCredential": self.source_credential_id,
            "expires": format_datetime(self.expires_at),
        }


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def check_trader(value: object) -> str:
    """Return ``value`` when it can name a trader: 1-200 printable ASCII, no spaces.

    Raises:
        MalformedInputError: It cannot (``INVALID_TRADER``).
    """
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= _TRADER_MAX
        or not all("!" <= c <= "~" for c in value)
    ):
        raise MalformedInputError(
            "trader must be the trader's register key SCHEME:VALUE (EORI:DE123456789012345) "
            "or the id of an AEO credential this node issued: 1-200 printable ASCII "
            "characters without spaces",
            code="INVALID_TRADER",
        )
    return value


class OfferService:
    """Offers, the token, nonce and credential endpoints of this node's credential issuer.

    Args:
        db: The node database.
        issuance: Issues the credential (status entries, log, audit).
        issuer: The Credential Issuer Identifier: this node's origin (base URL).
        code_ttl: How long a pre-authorised code may be redeemed.
        access_token_ttl: How long an access token is good.
        nonce_ttl: How long a c_nonce may be answered.
        clock_skew: How far in the future a key proof's ``created`` may be.

    """

    def __init__(
        self,
        *,
        db: Database,
        issuance: IssuanceService,
        issuer: str,
        code_ttl: timedelta = DEFAULT_CODE_TTL,
        access_token_ttl: timedelta = DEFAULT_ACCESS_TOKEN_TTL,
        nonce_ttl: timedelta = DEFAULT_NONCE_TTL,
        clock_skew: timedelta = timedelta(minutes=5),
    ) -> None:
        for ttl in (code_ttl, access_token_ttl, nonce_ttl):
            if ttl <= timedelta(0):
                raise ValueError("offer, token and nonce lifetimes must be positive")
        self._db = db
        self._issuance = issuance
        self.issuer = issuer.rstrip("/")
        self._code_ttl = code_ttl
        self._access_ttl = access_token_ttl
        self._nonce_ttl = nonce_ttl
        self._skew = clock_skew

    # -- metadata ------------------------------------------------------------------------

    def issuer_metadata(self) -> dict[str, Any]:
        """Credential Issuer Metadata (OpenID4VCI 1.0 §12.2)."""
        return {
            "credential_issuer": self.issuer,
            "credential_endpoint": f"{self.issuer}/credential",
            "nonce_endpoint": f"{self.issuer}/nonce",
            "display": [{"name": "trustlane AEO credential issuer", "locale": "en"}],
            "credential_configurations_supported": {
                CONFIGURATION_ID: {
                    "format": "ldp_vc",
                    "scope": CONFIGURATION_ID,
                    "cryptographic_binding_methods_supported": ["did:key"],
                    "credential_signing_alg_values_supported": ["eddsa-jcs-2022"],
                    "proof_types_supported": {
                        DI_VP: {"proof_signing_alg_values_supported": ["eddsa-jcs-2022"]}
                    },
                    "credential_definition": {
                        "@context": [VC_V2_CONTEXT, AEO_CONTEXT_URL],
                        "type": ["VerifiableCredential", AEO_CREDENTIAL_TYPE],
                    },
                }
            },
        }

    def authorization_server_metadata(self) -> dict[str, Any]:
        """OAuth 2.0 Authorization Server Metadata (RFC 8414) of the token endpoint."""
        return {
            "issuer": self.issuer,
            "token_endpoint": f"{self.issuer}/token",
            "grant_types_supported": [PRE_AUTHORIZED_CODE_GRANT],
            "pre-authorized_grant_anonymous_access_supported": True,
            "response_types_supported": [],
        }

    # -- offers --------------------------------------------------------------------------

    def source(self, conn: Connection, trader: str, now: datetime) -> CredentialRecord:
        """The credential whose subject data an offer for ``trader`` copies.

        ``trader`` is a register key (``SCHEME:VALUE``) recorded by ``aeo import``, or the
        id of an AEO credential this node issued (``urn:uuid:...``). The credential must be
        an AEO credential, unexpired, and neither revoked nor suspended.

        Raises:
            NotFoundError: No such trader (``UNKNOWN_TRADER``).
            StatusConflictError: Its credential is revoked, suspended or expired
                (``TRADER_NOT_ELIGIBLE``).
        """
        credential_id = trader
        if not trader.startswith("urn:"):
            keys = aeo_import_repo.find_keys(conn, [trader])
            if trader not in keys:
                raise NotFoundError(
                    f"no trader {trader}: neither a register key that 'aeo import' recorded "
                    "nor an AEO credential id of this node",
                    code="UNKNOWN_TRADER",
                )
            credential_id = keys[trader].credential_id
        record = credentials_repo.get_credential(conn, credential_id)
        if record is None or AEO_CREDENTIAL_TYPE not in record.types:
            raise NotFoundError(
                f"no AEO credential {credential_id} issued by this node", code="UNKNOWN_TRADER"
            )
        if record.valid_until is not None and record.valid_until <= now:
            raise StatusConflictError(
                f"the trader's AEO credential {credential_id} expired at "
                f"{format_datetime(record.valid_until)}",
                code="TRADER_NOT_ELIGIBLE",
            )
        for entry in status_repo.entries_for_credential(conn, credential_id):
            if entry.value:
                raise StatusConflictError(
                    f"the trader's AEO credential {credential_id} is {entry.purpose}d "
                    "(revoked or suspended): nothing is offered",
                    code="TRADER_NOT_ELIGIBLE",
                )
        return record

    def create_offer(self, trader: object, *, now: datetime, actor: str) -> CreatedOffer:
        """Offer ``trader`` an AEO credential; return the offer and the PIN.

        Raises:
            MalformedInputError: ``trader`` cannot name a trader (``INVALID_TRADER``).
            NotFoundError: No such trader.
            StatusConflictError: Its credential is revoked, suspended or expired.
            StorageError: The database cannot be written.
        """
        name = check_trader(trader)
        code = secrets.token_urlsafe(_RANDOM_BYTES)
        tx_code = f"{secrets.randbelow(10**TX_CODE_LENGTH):0{TX_CODE_LENGTH}d}"
        offer_id = secrets.token_hex(16)
        expires_at = now + self._code_ttl
        with self._db.write() as conn:
            offers_repo.purge_offers(conn, now - RETENTION)
            source = self.source(conn, name, now)
            offers_repo.insert_offer(
                conn,
                OfferRecord(
                    id=offer_id,
                    code_hash=_hash(code),
                    tx_code_hash=_hash(f"{offer_id}:{tx_code}"),
                    trader=name,
                    source_credential_id=source.id,
                    created_at=now,
                    expires_at=expires_at,
                    created_by=actor,
                ),
            )
            record_event(
                conn,
                now=now,
                actor=actor,
                action="credential_offer.created",
                target=offer_id,
                details={"trader": name, "sourceCredential": source.id},
            )
        offer: JSONObject = {
            "credential_issuer": self.issuer,
            "credential_configuration_ids": [CONFIGURATION_ID],
            "grants": {
                PRE_AUTHORIZED_CODE_GRANT: {
                    "pre-authorized_code": code,
                    "tx_code": {
                        "input_mode": "numeric",
                        "length": TX_CODE_LENGTH,
                        "description": (
                            "the transaction code your customs administration sent you "
                            "separately (letter, SMS or its trader portal)"
                        ),
                    },
                }
            },
        }
        return CreatedOffer(offer_id, offer, tx_code, name, source.id, expires_at)

    # -- token endpoint ------------------------------------------------------------------

    def exchange(self, code: str, tx_code: str, *, now: datetime) -> tuple[str, int]:
        """Exchange a pre-authorised code and its PIN for an access token.

        Returns:
            The access token and its lifetime in seconds.

        Raises:
            OAuthError: ``invalid_grant``: unknown, used, expired or dead code, or a wrong
                PIN (counted).
            StorageError: The database cannot be written.
        """
        token = secrets.token_urlsafe(_RANDOM_BYTES)
        code_hash = _hash(code)
        with self._db.write() as conn:
            found = offers_repo.find_by_code(conn, code_hash)
            if found is None:
                raise OAuthError("invalid_grant", "unknown pre-authorized_code")
            tx_hash = _hash(f"{found.id}:{tx_code}")
            right_pin = hmac.compare_digest(tx_hash, found.tx_code_hash)
            if right_pin and offers_repo.redeem_code(
                conn,
                code_hash=code_hash,
                tx_code_hash=tx_hash,
                max_attempts=MAX_TX_CODE_ATTEMPTS,
                access_token_hash=_hash(token),
                access_expires_at=now + self._access_ttl,
                now=now,
            ):
                return token, int(self._access_ttl.total_seconds())
            refusal = self._refusal(conn, found, now)
            if refusal is None and not right_pin:
                counted = offers_repo.count_failed_tx_code(
                    conn, code_hash=code_hash, max_attempts=MAX_TX_CODE_ATTEMPTS
                )
                left = MAX_TX_CODE_ATTEMPTS - found.tx_attempts - 1
                refusal = (
                    f"wrong tx_code; {left} attempt(s) left"
                    if counted and left > 0
                    else "wrong tx_code; the pre-authorized_code is now dead"
                )
        # Committed: a wrong PIN stays counted.
        raise OAuthError("invalid_grant", refusal or "the pre-authorized_code cannot be used")

    @staticmethod
    def _refusal(conn: Connection, found: OfferRecord, now: datetime) -> str | None:
        """Why the code cannot be redeemed whatever the PIN; None when only the PIN is wrong."""
        current = offers_repo.find_by_code(conn, found.code_hash) or found
        if current.redeemed_at is not None:
            return "the pre-authorized_code was already used"
        if current.expires_at <= now:
            return "the pre-authorized_code expired"
        if current.tx_attempts >= MAX_TX_CODE_ATTEMPTS:
            return "too many wrong tx_code attempts: the pre-authorized_code is dead"
        return None

    # -- nonce endpoint ------------------------------------------------------------------

    def new_nonce(self, *, now: datetime) -> str:
        """A fresh single-use c_nonce.

        Raises:
            StorageError: The database cannot be written.
        """
        nonce = secrets.token_urlsafe(_RANDOM_BYTES)
        with self._db.write() as conn:
            # An unused nonce is worth nothing once expired: forget it at once, so that calls
            # to this public endpoint cannot pile rows up beyond one nonce lifetime.
            offers_repo.purge_nonces(conn, now)
            offers_repo.insert_nonce(conn, nonce, expires_at=now + self._nonce_ttl)
        return nonce

    # -- credential endpoint -------------------------------------------------------------

    def authorize(self, access_token: str, *, now: datetime) -> OfferRecord:
        """The offer an access token is good for (unexpired, its credential not yet issued).

        Raises:
            OAuthError: ``invalid_token`` (401).
            StorageError: The database cannot be read.
        """
        with self._db.read() as conn:
            offer = offers_repo.find_by_access_token(conn, _hash(access_token))
        if offer is None or offer.access_expires_at is None or offer.access_expires_at <= now:
            raise OAuthError("invalid_token", "the access token is not valid", status=401)
        if offer.issued_at is not None:
            raise OAuthError("invalid_token", "the access token was already used", status=401)
        return offer

    def issue(self, offer: OfferRecord, body: bytes, *, now: datetime) -> JSONObject:
        """The credential endpoint: the offer's one credential, to the proven holder.

        Args:
            offer: The offer its access token is good for (:meth:`authorize`).
            body: The credential request (JSON).
            now: The request's time.

        Returns:
            The signed AEO credential, ``credentialSubject.id`` the holder's did:key.

        Raises:
            OAuthError: ``invalid_token`` (401, spent meanwhile), ``invalid_credential_request``,
                ``unknown_credential_configuration``, ``invalid_proof``, ``invalid_nonce``,
                ``credential_request_denied`` (400).
            StorageError: The database cannot be written.
        """
        proof = self._key_proof(body, now)
        with self._db.write() as conn:
            try:
                source = self.source(conn, offer.trader, now)
            except (NotFoundError, StatusConflictError) as e:
                raise OAuthError("credential_request_denied", e.message) from e
            subject = copy.deepcopy(aeo_subject_of(loads_object(source.document.encode())))
            subject["id"] = proof.holder
            prepared = self._issuance.prepare_aeo(subject, now=now, valid_until=source.valid_until)
            if not offers_repo.spend_access_token(
                conn, offer_id=offer.id, credential_id=prepared.credential_id, now=now
            ):
                raise OAuthError("invalid_token", "the access token was already used", status=401)
            if not offers_repo.spend_nonce(conn, proof.nonce, now=now):
                raise OAuthError(
                    "invalid_nonce", "the c_nonce is unknown, used or expired: get a new one"
                )
            return self._issuance.store_in(conn, prepared, now=now, actor=f"offer:{offer.id}")

    def _key_proof(self, body: bytes, now: datetime) -> KeyProof:
        try:
            request = loads_object(body)
        except MalformedInputError as e:
            raise OAuthError("invalid_credential_request", e.message) from e
        configuration = request.get("credential_configuration_id")
        if configuration != CONFIGURATION_ID:
            raise OAuthError(
                "unknown_credential_configuration",
                f"credential_configuration_id must be {CONFIGURATION_ID!r}",
            )
        proofs = request.get("proofs")
        if not isinstance(proofs, dict) or set(proofs) != {DI_VP}:
            raise OAuthError(
                "invalid_credential_request", f"proofs must hold exactly one {DI_VP!r} proof"
            )
        items = proofs[DI_VP]
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
            raise OAuthError(
                "invalid_credential_request",
                f"proofs.{DI_VP} must be a list of exactly one presentation",
            )
        try:
            return verify_key_proof(items[0], issuer=self.issuer, now=now, clock_skew=self._skew)
        except InvalidProofError as e:
            raise OAuthError("invalid_proof", e.message) from e
