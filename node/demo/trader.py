"""The trader's side of the demo: a ``trustlane wallet`` in its own folder.

Every operation is the command a trader runs: ``wallet init``, ``wallet receive`` (OpenID4VCI
pre-authorised code with the PIN from a second channel), ``wallet export`` and ``wallet
present`` (offline: the officer's client relays the challenge and the port's origin).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.demo.nodes import checked_cli

__all__ = ["Wallet"]


@dataclass
class Wallet:
    """One trader's wallet folder, its passphrase and CA bundle."""

    folder: Path
    ca_bundle: Path
    holder: str = ""
    _passphrase: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def _run(self, *args: str) -> Any:
        out = checked_cli(
            "wallet",
            *args,
            "--dir",
            str(self.folder),
            "--json",
            who="wallet",
            env={"TRUSTLANE_WALLET_PASSPHRASE": self._passphrase},
        )
        return json.loads(out) if out.strip() else None

    def init(self) -> str:
        """Create the holder key; return the holder's did:key."""
        self.holder = str(self._run("init")["holder"])
        return self.holder

    def receive(self, issuer: str, offer_url: str, pin: str) -> dict[str, Any]:
        """Redeem an offer; return the credential as issued."""
        stored = self._run(
            "receive",
            "--from",
            issuer,
            "--code",
            offer_url,
            "--tx-code",
            pin,
            "--ca-bundle",
            str(self.ca_bundle),
        )
        shown = self._run("show", str(stored["id"]))
        credential: dict[str, Any] = shown["verifiableCredential"]
        return credential

    def present(
        self,
        consignment: str,
        port: str,
        challenge: str,
        domain: str,
        out: Path,
        attestations: tuple[Path, ...] = (),
    ) -> dict[str, Any]:
        """Sign a presentation for one consignment at one port; return it.

        ``attestations`` are scan attestation bundle files the presentation carries.
        """
        carried = [arg for path in attestations for arg in ("--attestation", str(path))]
        self._run(
            "present",
            "--consignment",
            consignment,
            "--port",
            port,
            # A challenge may begin with "-" (base64url): bound with "=", it is never an option.
            f"--challenge={challenge}",
            "--domain",
            domain,
            "--out",
            str(out),
            *carried,
        )
        vp: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
        return vp
