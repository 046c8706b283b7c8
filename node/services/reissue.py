"""Re-issuing what a compromised key signed, with the node's current key.

Once a key is marked compromised, every proof by it fails (whatever date it claims), so
everything it signed that is still live must be signed again: each credential keeps its id,
subject, validity and status entries and gets a fresh proof by the current key; every status
list is re-published (its versions were signed by the node's keys). Credentials whose
issuer *is* the compromised key's did:key cannot keep their issuer and are only counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from credentials.model import issuer_id
from credentials.signing import sign_credential
from credentials.strict_json import loads_object
from node.services.audit import record_event
from node.services.identity import NodeIdentity
from node.services.status import StatusService, list_issuer_kid
from node.services.transparency import record_signed
from node.storage import credentials_repo, status_repo
from node.storage.db import Database
from node.storage.documents import serialize_document

__all__ = ["ReissueReport", "reissue_signed_by"]


@dataclass(frozen=True)
class ReissueReport:
    """What a re-issue did."""

    credentials: int
    status_lists: int
    not_reissuable: tuple[str, ...]


def reissue_signed_by(
    kid: str,
    *,
    db: Database,
    identity: NodeIdentity,
    status: StatusService,
    now: datetime,
    actor: str,
) -> ReissueReport:
    """Re-sign every live credential ``kid`` signed, and re-publish every status list.

    Raises:
        ValueError: ``kid`` is the current key (rotate first: nothing to re-sign with).
    """
    current = identity.current()
    if current.kid == kid:
        raise ValueError(f"{kid} is the current key; rotate to a new key first")
    compromised = next((k for k in identity.keys() if k.kid == kid), None)
    if compromised is None:
        raise ValueError(f"no key {kid!r} on this node")
    old_vms = {f"{identity.did}#{kid}", f"did:key:{compromised.public_key_multibase}"}
    old_did_key = f"did:key:{compromised.public_key_multibase}"
    reissued = 0
    skipped: list[str] = []
    with db.read() as conn:
        ids = credentials_repo.live_credential_ids(conn, now)
    for credential_id in ids:
        with db.write() as conn:
            record = credentials_repo.get_credential(conn, credential_id)
            if record is None:
                continue
            document = loads_object(record.document)
            proofs = document.get("proof")
            items = proofs if isinstance(proofs, list) else [proofs]
            if not any(
                isinstance(p, dict) and p.get("verificationMethod") in old_vms for p in items
            ):
                continue
            if issuer_id(document) == old_did_key:
                skipped.append(credential_id)
                continue
            unsigned = {k: v for k, v in document.items() if k != "proof"}
            signed = sign_credential(
                unsigned, current.key, verification_method=current.did_web_vm, created=now
            )
            credentials_repo.replace_document(
                conn,
                credential_id,
                serialize_document(signed),
            )
            record_signed(conn, signed)
            record_event(
                conn,
                now=now,
                actor=actor,
                action="credential.reissued",
                target=credential_id,
                details={"compromisedKey": kid, "verificationMethod": current.did_web_vm},
            )
            reissued += 1
    with db.read() as conn:
        # The lists the compromised key's did:key issues are signed by that key only: never
        # re-sign them with it (their credentials are not reissuable either, see above).
        list_ids = [i for i in status_repo.list_ids(conn) if list_issuer_kid(i) != kid]
    for list_id in list_ids:
        status.republish(list_id, now)
    return ReissueReport(reissued, len(list_ids), tuple(skipped))
