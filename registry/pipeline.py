"""The verification pipeline: (document, trust snapshot, now, options) -> result (PURE).

This is the one place where a node decides whether a credential counts and what it grants.
It reads nothing but its arguments: no network, no database, no clock. The node builds the
:class:`~registry.trust_snapshot.TrustSnapshot`; when a list it needs is missing or stale,
the result names it in :attr:`TrustedVerification.refetch` and the node fetches it in the
background, never inside the request.

Steps (each adds one named check, in this order):

1. ``data_model``, ``proof``, ``issuer``, ``validity``: the trust kernel
   (:func:`credentials.verification.get_credential_verification_result`) with keys from the
   snapshot (:class:`~registry.trust_snapshot.SnapshotResolver`: compromise and key-start
   rules, pinned and fresh peers only).
2. ``status``: this node's credentials on its own lists; a peer's credential must carry both
   a revocation and a suspension entry (``STATUS_REQUIRED``) on lists the peer publishes at
   its own origin (``STATUS_LIST_FOREIGN``), confirmed within the freshness limit
   (``STATUS_STALE``/``STATUS_UNAVAILABLE``: unknown). Not run when step 1's proof or
   issuer did not pass.
3. ``recognition`` (every issuer but this node): an agreement this node's workflow signed, in
   force at the reference time, covering the credential (:mod:`registry.mra_recognition`).
   Not run when step 1's proof or issuer did not pass.
4. Benefits: granted only when every check passed and the question is about now. A
   historical question (``at`` given and not ``now``) answers "was it valid then" and never
   grants benefits.

A check that is not run is reported ``unknown`` with code ``NOT_RUN`` and the reason, so a
later check is never ``pass`` when an earlier one failed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from credentials.errors import MalformedInputError
from credentials.model import issuer_id
from credentials.result import Check, CheckStatus, VerificationResult
from credentials.signature_cache import SignatureCache
from credentials.strict_json import JSONObject
from credentials.verification import (
    PreparedCredential,
    check_prepared_credential,
    get_credential_verification_result,
    prepare_credential,
)
from registry.mra_recognition import (
    RecognitionFacts,
    aeo_recognition_facts,
    get_recognition_check,
)
from registry.status_list import (
    STATUS_PURPOSES,
    StatusListEntry,
    combine_status_checks,
    get_status_check,
    status_entries_of,
)
from registry.trust_snapshot import PeerState, SnapshotResolver, TrustSnapshot

__all__ = [
    "LIST_ID",
    "OWN_LIST_ID",
    "PreparedForSnapshot",
    "TrustedVerification",
    "prepare_for_snapshot",
    "verify_with_snapshot",
]

#: The path segment that names a node's status list ("revocation-1"); nothing else is one.
LIST_ID = re.compile(r"[a-z]+-[0-9]{1,9}\Z", re.ASCII)
#: This node's own lists: also those its did:key forms issue ("revocation-key-2-1"). Partners
#: verify only credentials issued by a did:web, so they never need the latter.
OWN_LIST_ID = re.compile(r"[a-z]+-(?:key-[0-9]{1,9}-)?[0-9]{1,9}\Z", re.ASCII)
_GATES = ("data_model", "proof", "issuer")


@dataclass(frozen=True)
class TrustedVerification:
    """A verification result with what it grants here.

    Attributes:
        result: Every check, in order.
        benefits: Benefit codes granted (empty unless every check passed and not historical).
        agreement: The agreement that granted them.
        historical: True when the question was about a past time.
        refetch: Status list URLs to fetch in the background (missing or stale, and named
            by a credential whose proof and issuer checks passed).

    """

    result: VerificationResult
    benefits: frozenset[str] = frozenset()
    agreement: str | None = None
    historical: bool = False
    refetch: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.benefits and (not self.result.verified or self.historical):
            raise ValueError("benefits are granted only with a verified result about now")

    @property
    def verified(self) -> bool:
        """True when every check passed."""
        return self.result.verified

    def to_dict(self) -> dict[str, object]:
        """The API body: the result, ``benefits`` and ``historical``."""
        body = self.result.to_dict()
        body["benefits"] = sorted(self.benefits)
        body["historical"] = self.historical
        if self.agreement is not None:
            body["agreement"] = self.agreement
        return body


@dataclass(frozen=True, slots=True)
class PreparedForSnapshot:
    """Everything a credential's bytes decide for :func:`verify_with_snapshot` (shared).

    Immutable; may be kept per exact bytes (:class:`credentials.prepared.PreparedCache`) and
    used by many requests and threads at once.

    Attributes:
        credential: The static phase of steps 1 (:func:`prepare_credential`).
        status_entries: The parsed ``credentialStatus`` entries, or why they do not parse.
        recognition_facts: The AEO facts recognition reads, or why there are none.

    """

    credential: PreparedCredential
    status_entries: tuple[StatusListEntry, ...] | MalformedInputError
    recognition_facts: RecognitionFacts | MalformedInputError

    @property
    def document(self) -> JSONObject:
        """The credential as parsed (read only)."""
        return self.credential.document


def _kept(error: MalformedInputError) -> MalformedInputError:
    # A kept error must not keep the frames that raised it alive.
    error.__traceback__ = None
    if error.__cause__ is not None:
        error.__cause__.__traceback__ = None
    return error


def prepare_for_snapshot(document: JSONObject) -> PreparedForSnapshot:
    """Run every step of :func:`verify_with_snapshot` that depends only on ``document``.

    Step 1's static phase (data model, proofs' static steps and signed bytes), parsing the
    status entries (step 2) and reading the recognition facts with the AEO subject schema
    (step 3). Checking them against the trust snapshot and the time is left to
    :func:`verify_with_snapshot`, every time.

    Args:
        document: The credential, parsed strictly; it must not be changed afterwards.

    Returns:
        The prepared credential.

    """
    entries: tuple[StatusListEntry, ...] | MalformedInputError
    facts: RecognitionFacts | MalformedInputError
    try:
        entries = tuple(status_entries_of(document))
    except MalformedInputError as e:
        entries = _kept(e)
    try:
        facts = aeo_recognition_facts(document)
    except MalformedInputError as e:
        facts = _kept(e)
    return PreparedForSnapshot(prepare_credential(document), entries, facts)


def _not_run(name: str, result: VerificationResult) -> Check | None:
    if result.verified:
        return None  # every check passed, the gates too
    for gate in _GATES:
        check = result.check(gate)
        if check is not None and check.status is not CheckStatus.PASS:
            return Check.unknown(name, "NOT_RUN", f"not run: the {gate} check did not pass")
    return None


def _own_list_check(
    entry: StatusListEntry, issuer: str | None, snapshot: TrustSnapshot, reference: datetime
) -> Check:
    url = entry.status_list_credential
    if not url.startswith(snapshot.own_status_list_prefix) or not OWN_LIST_ID.match(
        url[len(snapshot.own_status_list_prefix) :]
    ):
        return Check.failed(
            "status", "STATUS_LIST_FOREIGN", f"{url} is not a status list of this node"
        )
    held = snapshot.status_lists.get(url)
    if held is None:
        return Check.unknown(
            "status",
            "STATUS_UNKNOWN_AT_TIME",
            f"no version of {url} was published by the reference time",
        )
    # A status list must have the issuer of the credential. Credentials this node signed as
    # a did:key before its did:key forms had lists of their own point at its did:web's
    # lists: both names are this node, so it still accepts those (independent verifiers
    # do not; reissue them).
    legacy = held.issuer == snapshot.own_did and issuer is not None and issuer != held.issuer
    return get_status_check(
        entry, held.info, now=reference, credential_issuer=None if legacy else issuer
    )


def _peer_list_check(
    entry: StatusListEntry,
    peer: PeerState,
    snapshot: TrustSnapshot,
    reference: datetime,
    historical: bool,
    refetch: set[str],
) -> Check:
    url = entry.status_list_credential
    if not url.startswith(peer.status_list_prefix) or not LIST_ID.match(
        url[len(peer.status_list_prefix) :]
    ):
        return Check.failed(
            "status",
            "STATUS_LIST_FOREIGN",
            f"{url} is not a status list {peer.did} publishes at {peer.status_list_prefix}",
        )
    held = snapshot.status_lists.get(url)
    max_age = snapshot.limits.status_max_age
    if held is None:
        if historical:
            return Check.unknown(
                "status", "STATUS_UNKNOWN_AT_TIME", f"no version of {url} is held for that time"
            )
        refetch.add(url)
        return Check.unknown(
            "status", "STATUS_UNAVAILABLE", f"status list {url} is not held yet; fetching it"
        )
    if held.issuer != peer.did:
        return Check.failed(
            "status", "STATUS_LIST_FOREIGN", f"{url} is signed by {held.issuer}, not {peer.did}"
        )
    checked = held.checked_at
    if not historical and (checked is None or reference - checked > max_age):
        refetch.add(url)
    check = get_status_check(entry, held.info, now=reference, checked_at=checked, max_age=max_age)
    if historical and check.code == "STATUS_STALE":
        # The held version was not confirmed close enough to that time: a gap in the history.
        return Check.unknown("status", "STATUS_UNKNOWN_AT_TIME", check.detail)
    return check


def _status_check(
    credential: JSONObject,
    issuer: str | None,
    snapshot: TrustSnapshot,
    reference: datetime,
    historical: bool,
    refetch: set[str],
    prepared: Sequence[StatusListEntry] | MalformedInputError | None = None,
) -> Check:
    if prepared is None:
        try:
            prepared = status_entries_of(credential)
        except MalformedInputError as e:
            prepared = e
    if isinstance(prepared, MalformedInputError):
        return Check.failed("status", prepared.code, prepared.message)
    entries = tuple(prepared)
    # The answer depends on the time only through each held list's validity period and the
    # moment it goes stale; between those instants it is kept for this snapshot.
    key = (issuer, historical, entries)
    kept = snapshot.status_memo.get(key, reference)
    if kept is not None:
        check, urls = kept
        refetch.update(urls)
        return check
    wanted: set[str] = set()
    check = _entries_check(entries, issuer, snapshot, reference, historical, wanted)
    max_age = snapshot.limits.status_max_age
    instants: list[datetime | None] = []
    for entry in entries:
        held = snapshot.status_lists.get(entry.status_list_credential)
        if held is not None:
            instants += (held.info.valid_from, held.info.valid_until)
            if held.checked_at is not None:
                instants.append(held.checked_at + max_age)
    snapshot.status_memo.put(key, reference, instants, (check, frozenset(wanted)))
    refetch.update(wanted)
    return check


def _entries_check(
    entries: Sequence[StatusListEntry],
    issuer: str | None,
    snapshot: TrustSnapshot,
    reference: datetime,
    historical: bool,
    refetch: set[str],
) -> Check:
    peer = snapshot.peers.get(issuer) if issuer is not None else None
    if peer is not None:
        purposes = {e.status_purpose for e in entries}
        missing = [p for p in STATUS_PURPOSES if p not in purposes]
        if missing:
            return Check.failed(
                "status",
                "STATUS_REQUIRED",
                f"a partner's credential needs {' and '.join(STATUS_PURPOSES)} entries; "
                f"missing: {', '.join(missing)}",
            )
        checks = [
            _peer_list_check(e, peer, snapshot, reference, historical, refetch) for e in entries
        ]
    elif snapshot.is_own(issuer):
        checks = [_own_list_check(e, issuer, snapshot, reference) for e in entries]
    else:
        checks = [
            Check.unknown(
                "status",
                "STATUS_UNAVAILABLE",
                f"status list {e.status_list_credential} is published by neither this node "
                "nor a peer",
            )
            for e in entries
        ]
    return combine_status_checks(checks)


def _recognition(
    credential: JSONObject,
    issuer: str,
    snapshot: TrustSnapshot,
    reference: datetime,
    prepared: RecognitionFacts | MalformedInputError | None = None,
) -> tuple[Check, frozenset[str], str | None]:
    if prepared is None:
        try:
            prepared = aeo_recognition_facts(credential)
        except MalformedInputError as e:
            prepared = e
    if isinstance(prepared, MalformedInputError):
        return (
            Check.failed(
                "recognition", "OUT_OF_SCOPE", f"not a recognisable credential: {prepared.message}"
            ),
            frozenset(),
            None,
        )
    facts = prepared
    # In force or not is the only thing that depends on the time: kept between the counted
    # agreements' starts, ends and terminations, for this snapshot.
    key = (issuer, facts)
    kept = snapshot.recognition_memo.get(key, reference)
    if kept is not None:
        return kept
    counted = [a for a in snapshot.agreements if a.counts]
    outcome = get_recognition_check(
        [a.mra for a in counted],
        recognising_party=snapshot.own_did,
        issuer=issuer,
        at=reference,
        terminations={
            a.mra.id: a.termination_effective
            for a in counted
            if a.termination_effective is not None
        },
        **facts._asdict(),
    )
    answer = (outcome.check, outcome.benefits, outcome.agreement_id)
    instants = [
        t
        for a in counted
        for t in (a.mra.effective_from, a.mra.effective_until, a.termination_effective)
    ]
    snapshot.recognition_memo.put(key, reference, instants, answer)
    return answer


def verify_with_snapshot(
    document: JSONObject,
    snapshot: TrustSnapshot,
    *,
    now: datetime,
    at: datetime | None = None,
    signature_cache: SignatureCache | None = None,
    prepared: PreparedCredential | PreparedForSnapshot | None = None,
) -> TrustedVerification:
    """Verify a credential against a trust snapshot (module steps 1-4); never raises.

    Args:
        document: The credential, parsed strictly.
        snapshot: What this node trusts. For a historical question, the caller passes a
            snapshot holding the status list versions it held at ``at``
            (:meth:`TrustSnapshot.with_status_lists`).
        now: The request's time (aware).
        at: The time the question is about; None or ``now`` asks about now.
        signature_cache: Ed25519 checks that passed before; a hit skips only that check
            (key resolution, status and recognition run every time).
        prepared: What exactly ``document``'s bytes decide, possibly kept in a
            :class:`credentials.prepared.PreparedCache`: step 1's static phase
            (:func:`credentials.verification.prepare_credential`), or that and the parsed
            status entries and recognition facts (:func:`prepare_for_snapshot`). None
            prepares nothing ahead. Keys, time, status and recognition are checked against
            the snapshot every time.

    Returns:
        The checks, the benefits granted and the lists to refetch.

    """
    historical = at is not None and at != now
    reference = at if at is not None else now
    resolver = SnapshotResolver(snapshot, now=now)
    skew = snapshot.limits.clock_skew
    entries: Sequence[StatusListEntry] | MalformedInputError | None = None
    facts: RecognitionFacts | MalformedInputError | None = None
    if isinstance(prepared, PreparedForSnapshot):
        entries, facts = prepared.status_entries, prepared.recognition_facts
        prepared = prepared.credential
    if prepared is None:
        result = get_credential_verification_result(
            document,
            resolver=resolver,
            now=reference,
            clock_skew=skew,
            signature_cache=signature_cache,
        )
    else:
        result = check_prepared_credential(
            prepared,
            resolver=resolver,
            now=reference,
            clock_skew=skew,
            signature_cache=signature_cache,
        )
    if len(result.checks) == 1:
        # Not a credential at all (data model failed): nothing more can be said.
        return TrustedVerification(result, historical=historical)
    issuer = issuer_id(document)
    refetch: set[str] = set()
    extra: list[Check] = []
    # The gates are read once: the recognition check is not run for the same reason.
    blocked = _not_run("status", result)
    status = blocked or _status_check(
        document, issuer, snapshot, reference, historical, refetch, entries
    )
    extra.append(status)
    benefits: frozenset[str] = frozenset()
    agreement: str | None = None
    if issuer is not None and not snapshot.is_own(issuer):
        # Every other issuer needs recognition, peer or not (a stranger gets NO_MRA).
        recognition = (
            None if blocked is None else Check.unknown("recognition", "NOT_RUN", blocked.detail)
        )
        if recognition is None:
            recognition, benefits, agreement = _recognition(
                document, issuer, snapshot, reference, facts
            )
        extra.append(recognition)
    final = result.with_checks(*extra)
    if not final.verified or historical:
        # Fail closed: anything not passed, or a question about the past, grants nothing.
        benefits, agreement = frozenset(), None
    return TrustedVerification(
        final,
        benefits=benefits,
        agreement=agreement,
        historical=historical,
        refetch=frozenset(refetch),
    )
