"""Builds the node's services from settings: database, key store, identity, workflows.

Also holds ``init_node``, which creates a node's data directory from nothing.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from credentials.errors import MalformedInputError
from credentials.prepared import PreparedCache
from credentials.signature_cache import SignatureCache
from federation_config.federation import (
    FEDERATION_CONFIG_NAME,
    FederationSettings,
    load_federation,
)
from federation_config.loader import CONFIG_NAME, dump
from federation_config.settings import NodeSettings
from node.federation.agreements import AgreementService
from node.federation.cosigning import Cosigning
from node.federation.fetcher import Fetcher, RequestsFetcher
from node.federation.peers import PeerService
from node.federation.push import PushService
from node.federation.refetch import RefetchQueue
from node.federation.rotation import KeyRotation
from node.federation.sync import PeerSync
from node.federation.witness import WitnessService
from node.keystore import KeyStore, read_passphrase
from node.services.attestations import AttestationVerifier
from node.services.challenges import ChallengeService
from node.services.devices import DeviceService
from node.services.identifiers import IdentifierService
from node.services.identity import NodeIdentity
from node.services.issuance import IssuanceService
from node.services.offers import OfferService
from node.services.presentations import PresentationService
from node.services.risk import SELECTION_SECRET_PURPOSE, RiskService, node_policy
from node.services.scans import ScanService
from node.services.status import StatusService
from node.services.tokens import TokenAuthenticator, create_token
from node.services.transparency import TransparencyLog
from node.services.trust import TrustSnapshotSource
from node.services.verification import VerificationService
from node.storage.db import Database
from registry.trust_snapshot import TrustLimits

#: How long a device authorisation lasts unless the registration says otherwise.
DEVICE_AUTHORIZATION_VALID_FOR = timedelta(days=365)
#: How long after the device signed it an attestation may still be submitted: a captured
#: submission cannot be held back and played later (an identical replay fails on its id).
SCAN_SUBMISSION_MAX_AGE = timedelta(minutes=15)

__all__ = ["NodeServices", "build_services", "init_node", "utcnow"]


def utcnow() -> datetime:
    """The current time, aware UTC (the one clock of the node layer)."""
    return datetime.now(UTC)


@dataclass
class NodeServices:
    """Everything a request handler or CLI command needs."""

    settings: NodeSettings
    db: Database
    keystore: KeyStore
    identity: NodeIdentity
    status: StatusService
    issuance: IssuanceService
    verification: VerificationService
    clock: Callable[[], datetime]
    authenticator: TokenAuthenticator
    federation: FederationSettings
    peers: PeerService
    sync: PeerSync
    agreements: AgreementService
    push: PushService
    trust: TrustSnapshotSource
    refetch: RefetchQueue
    challenges: ChallengeService
    presentations: PresentationService
    log: TransparencyLog
    devices: DeviceService
    scans: ScanService
    witness: WitnessService
    cosigning: Cosigning
    attestations: AttestationVerifier
    offers: OfferService
    risk: RiskService
    identifiers: IdentifierService
    rotation: KeyRotation


def build_services(
    settings: NodeSettings,
    environ: Mapping[str, str],
    *,
    clock: Callable[[], datetime] = utcnow,
    fetcher: Fetcher | None = None,
) -> NodeServices:
    """Open the key store and the database and wire the services.

    Raises:
        KeyStoreError: No passphrase, wrong passphrase or a damaged key store.
        StorageError: The database cannot be used.
        RiskPolicyError: The risk policy federation.toml names is not acceptable.
    """
    assert settings.keystore_dir is not None  # noqa: S101 - set by NodeSettings
    passphrase = read_passphrase(
        env_var=settings.passphrase_env, file=settings.passphrase_file, environ=environ
    )
    keystore = KeyStore.open(settings.keystore_dir, passphrase)
    db = Database(settings.database_url)
    skew = timedelta(seconds=settings.clock_skew_seconds)
    identity = NodeIdentity(settings.did, db, keystore)
    federation = load_federation_settings(settings, environ)
    # One per worker process: credential and presentation verification share it, and the
    # trust snapshot empties it of keys whose state changed.
    signatures = SignatureCache(settings.signature_cache_entries)
    trust = TrustSnapshotSource(
        signature_cache=signatures,
        db=db,
        did=settings.did,
        base_url=settings.base_url,
        limits=TrustLimits(
            clock_skew=skew,
            did_document_max_age=timedelta(
                seconds=federation.freshness.did_document_max_age_seconds
            ),
            status_max_age=timedelta(seconds=federation.freshness.status_max_age_seconds),
        ),
    )
    # A request reads the trust generation once, for its token, its trust snapshot and the
    # key it signs with.
    identity.share_generation(trust.generation)
    peers = PeerService(db=db, identity=identity, clock=clock, trust=trust)
    sync = PeerSync(
        db=db,
        registry=peers,
        fetcher=fetcher
        or RequestsFetcher(
            timeout=federation.sync.timeout_seconds,
            max_bytes=federation.sync.max_response_bytes,
        ),
        sync=federation.sync,
        clock_skew=skew,
    )
    refetch = RefetchQueue(sync.sync_item, clock=clock)
    push = PushService(
        db=db,
        identity=identity,
        peers=peers,
        fetcher=sync.fetcher,
        settings=federation.push,
        base_url=settings.base_url,
        clock=clock,
        refetch=refetch.request,
    )
    status = StatusService(
        db=db,
        identity=identity,
        base_url=settings.base_url,
        list_size=settings.status_list_size,
        valid_for=timedelta(seconds=settings.status_list_valid_seconds),
        on_change=push.on_status_change,
    )
    issuance = IssuanceService(
        db=db,
        identity=identity,
        status=status,
        credential_valid_for=timedelta(days=settings.credential_valid_days),
    )
    agreements = AgreementService(
        db=db, identity=identity, peers=peers, clock=clock, deliver=push.deliver_document
    )
    verification = VerificationService(
        trust=trust,
        clock_skew=skew,
        refetch=refetch.request,
        signature_cache=signatures,
        # One per worker: verify request bodies by their exact bytes (credentials.prepared).
        prepared_cache=PreparedCache(),
    )
    challenges = ChallengeService(
        db=db,
        domain=settings.base_url,
        ttl=timedelta(seconds=settings.challenge_ttl_seconds),
    )
    presentations = PresentationService(
        trust=trust,
        challenges=challenges,
        refetch=refetch.request,
        signature_cache=signatures,
        attestations=AttestationVerifier(trust=trust, verification=verification),
        # One per worker: credentials inside presentations, by their parsed value.
        prepared_cache=PreparedCache(),
    )
    log = TransparencyLog(db=db, identity=identity)
    devices = DeviceService(
        db=db,
        issuance=issuance,
        status=status,
        did=settings.did,
        default_valid_for=DEVICE_AUTHORIZATION_VALID_FOR,
    )
    scans = ScanService(
        db=db,
        identity=identity,
        devices=devices,
        log=log,
        clock_skew=skew,
        max_age=SCAN_SUBMISSION_MAX_AGE,
    )
    witness = WitnessService(db=db, identity=identity, trust=trust, clock=clock)
    cosigning = Cosigning(
        db=db,
        log=log,
        trust=trust,
        sync=sync,
        clock=clock,
        ca_bundles=lambda did: next((p.ca_bundle for p in peers.peers() if p.did == did), None),
    )
    return NodeServices(
        settings,
        db,
        keystore,
        identity,
        status,
        issuance,
        verification,
        clock,
        # Cached answers hold while the trust generation stays (a revocation moves it).
        TokenAuthenticator(db, generation=trust.generation),
        federation,
        peers,
        sync,
        agreements,
        push,
        trust,
        refetch,
        challenges,
        presentations,
        log,
        devices,
        scans,
        witness,
        cosigning,
        AttestationVerifier(trust=trust, verification=verification),
        OfferService(
            db=db,
            issuance=issuance,
            issuer=settings.base_url,
            code_ttl=timedelta(seconds=settings.offer_code_ttl_seconds),
            clock_skew=skew,
        ),
        risk=RiskService(
            db=db,
            policy=node_policy(federation.risk),
            secret=keystore.derive_secret(SELECTION_SECRET_PURPOSE),
            presentations=presentations,
            attestations=AttestationVerifier(trust=trust, verification=verification),
            trust=trust,
        ),
        identifiers=IdentifierService(db=db),
        rotation=KeyRotation(
            db=db,
            identity=identity,
            peers=peers,
            push=push,
            clock=clock,
            retry_seconds=federation.sync.interval_seconds,
            max_retry_seconds=federation.sync.max_backoff_seconds,
            max_key_age=None
            if settings.key_max_age_days is None
            else timedelta(days=settings.key_max_age_days),
            publish_wait=timedelta(seconds=settings.key_publish_wait_seconds),
        ),
    )


def load_federation_settings(
    settings: NodeSettings, environ: Mapping[str, str]
) -> FederationSettings:
    """``DATA_DIR/federation.toml`` when present, else defaults (no configured peers).

    Raises:
        ConfigError: The file exists but is invalid (every problem listed).
    """
    path = settings.data_dir / FEDERATION_CONFIG_NAME
    if not path.exists():
        return FederationSettings(name=settings.name)
    federation = load_federation(path, environ)
    federation.check_node_did(settings.did)
    return federation


def init_node(
    settings: NodeSettings,
    environ: Mapping[str, str],
    *,
    now: datetime,
    keystore_opslimit: int | None = None,
    keystore_memlimit: int | None = None,
) -> tuple[NodeServices, str]:
    """Create a node: data directory, configuration, key store, schema, key, admin token.

    When the passphrase variable is unset, a random passphrase is written to
    ``DATA_DIR/secrets/keystore-passphrase`` (0600) and named in the configuration.

    Returns:
        The services and the first admin token (shown once, stored only as a hash).

    Raises:
        MalformedInputError: The data directory already holds a node.
    """
    data_dir = settings.data_dir
    if (data_dir / CONFIG_NAME).exists():
        raise MalformedInputError(
            f"{data_dir} already holds a node ({CONFIG_NAME} exists)", code="ALREADY_INITIALISED"
        )
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    passphrase: bytes | None = None
    if not environ.get(settings.passphrase_env):
        secret_file = settings.passphrase_file or data_dir / "secrets" / "keystore-passphrase"
        secret_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        settings = _with_passphrase_file(settings, secret_file)
    passphrase = read_passphrase(
        env_var=settings.passphrase_env, file=settings.passphrase_file, environ=environ
    )
    assert settings.keystore_dir is not None  # noqa: S101 - set by NodeSettings
    limits = {}
    if keystore_opslimit is not None and keystore_memlimit is not None:
        limits = {"opslimit": keystore_opslimit, "memlimit": keystore_memlimit}
    KeyStore.create(settings.keystore_dir, passphrase, **limits)
    schema_db = Database(settings.database_url)
    try:
        schema_db.migrate()
    finally:
        schema_db.dispose()
    config = data_dir / CONFIG_NAME
    fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(dump(settings))
    services = build_services(settings, environ)
    services.identity.add_key(now=now, actor="node-init", make_current=True)
    _, token = create_token(
        services.db, name="initial admin", scopes=frozenset({"admin"}), now=now, actor="node-init"
    )
    return services, token


def _with_passphrase_file(settings: NodeSettings, path: Path) -> NodeSettings:
    return replace(settings, passphrase_file=path)
