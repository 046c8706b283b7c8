"""``trustlane node show``: what a partner needs to pin this node, and how.

Prints the DID, base URL and every key of the DID document (current, retired, compromised:
at first contact a partner must pin every key the document lists), and the exact
``registry peer add`` line the partner's administrator runs.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

from credentials.datetimes import format_datetime
from node.wiring import NodeServices

__all__ = ["node_summary", "peer_add_command"]


def _peer_name(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:32].strip("-")
    return slug or "partner"


def peer_add_command(summary: dict[str, Any]) -> str:
    """The line a partner's administrator runs to add this node as a peer."""
    parts = [
        "trustlane",
        "registry",
        "peer",
        "add",
        "--data-dir",
        "PARTNER_DATA_DIR",
        "--name",
        _peer_name(str(summary["name"])),
        "--did",
        str(summary["did"]),
        "--base-url",
        str(summary["baseUrl"]),
    ]
    for key in summary["keys"]:
        parts += ["--key", str(key["publicKeyMultibase"])]
    line = shlex.join(parts)
    bundle = summary.get("caBundle")
    if bundle:
        # A pilot certificate (node init --tls self-signed): the partner keeps a copy of the
        # bundle (caBundle), handed over with the keys, under a name of its choice.
        line += " --ca-bundle " + shlex.quote(f"{_peer_name(str(summary['name']))}-ca-bundle.pem")
    elif summary["tls"]:
        line += " --ca-bundle CA_THAT_ISSUED_OUR_TLS_CERTIFICATE.pem"
    return line


def _pilot_bundle(data_dir: Path, tls_cert: Path | None) -> str | None:
    """The CA bundle ``node init --tls self-signed`` wrote, while its certificate is in use."""
    bundle = data_dir / "tls" / "ca-bundle.pem"
    if tls_cert is None or tls_cert != data_dir / "tls" / "cert.pem" or not bundle.is_file():
        return None
    return str(bundle)


def node_summary(services: NodeServices) -> dict[str, Any]:
    """The node's identity as a partner needs it (JSON-ready)."""
    settings = services.settings
    keys = []
    for record in services.identity.keys(fresh=True):
        if record.pending:
            continue  # announced, not in the DID document yet: a partner cannot pin it
        if record.compromised_since is not None:
            state = "compromised"
        elif record.is_current:
            state = "current"
        else:
            state = "retired"
        keys.append(
            {
                "kid": record.kid,
                "verificationMethod": f"{services.identity.did}#{record.kid}",
                "publicKeyMultibase": record.public_key_multibase,
                "state": state,
                "createdAt": format_datetime(record.created_at),
                "compromisedSince": None
                if record.compromised_since is None
                else format_datetime(record.compromised_since),
            }
        )
    summary: dict[str, Any] = {
        "name": settings.name,
        "did": services.identity.did,
        "baseUrl": settings.base_url,
        "didDocument": settings.base_url.rstrip("/") + "/.well-known/did.json",
        "keys": keys,
        "tls": settings.tls_cert is not None,
        "tlsCertificate": None if settings.tls_cert is None else str(settings.tls_cert),
        "caBundle": _pilot_bundle(settings.data_dir, settings.tls_cert),
    }
    summary["peerAddCommand"] = peer_add_command(summary)
    return summary
