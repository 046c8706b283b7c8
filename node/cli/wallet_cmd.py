"""``trustlane wallet ...``: the trader's wallet (see docs/presentations.md).

``init`` makes the holder key; ``receive`` redeems a credential offer at the issuer node;
``list``, ``show``, ``export`` and ``delete`` manage what the wallet holds; ``present``
signs a presentation for one consignment at one port and either sends it (with the
officer's token the port gave: challenge fetched, presentation verified) or writes it for
a challenge and domain given on the command line (offline).

The wallet directory is ``--dir``, else ``$TRUSTLANE_WALLET_DIR``, else
``~/.trustlane/wallet``. The passphrase comes from ``$TRUSTLANE_WALLET_PASSPHRASE`` or, on
a terminal, a prompt. Every error is one line and a non-zero exit (2 usage or unusable
input, 1 refused or not verified).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

from credentials.datetimes import format_datetime
from credentials.errors import TrustlaneError
from credentials.keys import PrivateKey
from credentials.model import (
    MAX_PRESENTED_CREDENTIALS,
    PRESENTATION_CONTEXT,
    SCAN_ATTESTATION_BUNDLES,
    VC_V2_CONTEXT,
)
from credentials.signing import sign_presentation
from credentials.strict_json import JSONObject, JSONValue
from node.cli._io import EXIT_FAILED, EXIT_OK, EXIT_USAGE, fail, print_json, read_json_object
from node.wallet.client import NodeClient, dumps_pretty, origin_of, parse_offer
from node.wallet.store import (
    Wallet,
    WalletError,
    WrongPassphraseError,
    default_wallet_dir,
    write_private,
)
from registry.challenges import check_challenge_format, check_consignment, check_port
from scan_attestation.bundle import read_bundle

__all__ = ["register"]

PASSPHRASE_ENV = "TRUSTLANE_WALLET_PASSPHRASE"  # noqa: S105 - a variable name
PORT_TOKEN_ENV = "TRUSTLANE_PORT_TOKEN"  # noqa: S105 - a variable name
_MAX_PRESENTED = MAX_PRESENTED_CREDENTIALS


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``wallet`` command group."""
    wallet = sub.add_parser("wallet", help="the trader's wallet: receive and present credentials")
    wallet_sub = wallet.add_subparsers(dest="wallet_command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = wallet_sub.add_parser(name, help=help_text)
        parser.add_argument(
            "--dir", help="wallet directory (or TRUSTLANE_WALLET_DIR; default ~/.trustlane/wallet)"
        )
        parser.add_argument("--json", action="store_true", help="print JSON")
        return parser

    command("init", "create the wallet and the holder's key (did:key)").set_defaults(func=_init)

    receive = command("receive", "receive a credential offered by an issuer node (OpenID4VCI)")
    receive.add_argument("--from", dest="issuer", required=True, help="the issuer node's URL")
    receive.add_argument(
        "--code", required=True, help="the pre-authorised code, or the offer URL itself"
    )
    receive.add_argument("--tx-code", help="the transaction code sent separately (else a prompt)")
    receive.add_argument("--ca-bundle", help="PEM CAs to trust for the node's TLS certificate")
    receive.set_defaults(func=_receive)

    command("list", "list the credentials in the wallet").set_defaults(func=_list)
    show = command("show", "show one credential")
    show.add_argument("id", metavar="ID", help="wallet id (or a unique prefix) or credential id")
    show.set_defaults(func=_show)
    export = command("export", "print one credential exactly as issued (JSON)")
    export.add_argument("id", metavar="ID", help="wallet id (or a unique prefix) or credential id")
    export.add_argument("--out", help="write it to FILE (0600) instead of stdout")
    export.set_defaults(func=_export)
    delete = command("delete", "remove one credential from the wallet")
    delete.add_argument("id", metavar="ID", help="wallet id (or a unique prefix) or credential id")
    delete.set_defaults(func=_delete)

    present = command("present", "sign a presentation for one consignment at one port")
    present.add_argument("--to", help="the port node's URL (its origin is the domain)")
    present.add_argument("--consignment", required=True, help="the consignment's WCO UCR")
    present.add_argument("--port", required=True, help="the port's UN/LOCODE")
    present.add_argument(
        "--credential",
        action="append",
        default=[],
        metavar="ID",
        help="a credential to present (repeatable; default: every credential in the wallet)",
    )
    present.add_argument(
        "--attestation",
        action="append",
        default=[],
        metavar="FILE",
        help="a scan attestation bundle (JSON, as POST /scans answers and `audit bundle` "
        "reads) to carry in the presentation (repeatable)",
    )
    present.add_argument("--out", help="write the signed presentation to FILE (0600)")
    present.add_argument(
        "--token",
        help=f"the port officer's token: fetch a challenge and send the presentation "
        f"(or ${PORT_TOKEN_ENV})",
    )
    present.add_argument("--challenge", help="offline: the challenge the officer relayed")
    present.add_argument("--domain", help="offline: the port node's origin (default: --to)")
    present.add_argument("--ca-bundle", help="PEM CAs to trust for the node's TLS certificate")
    present.set_defaults(func=_present)


# -- helpers --------------------------------------------------------------------------------


def _dir(args: argparse.Namespace) -> Path:
    return Path(args.dir) if args.dir else default_wallet_dir(os.environ)


def _open(args: argparse.Namespace) -> Wallet:
    try:
        return Wallet.open(_dir(args))
    except WalletError as e:
        fail(e.message)


def _passphrase(*, confirm: bool = False) -> bytes:
    value = os.environ.get(PASSPHRASE_ENV, "")
    if value:
        return value.encode("utf-8", "surrogateescape")
    if not sys.stdin.isatty():
        fail(f"no wallet passphrase: set ${PASSPHRASE_ENV} (no terminal to ask on)")
    entered = getpass.getpass("wallet passphrase: ")
    if not entered:
        fail("the wallet passphrase must not be empty: type one, or set $" + PASSPHRASE_ENV)
    if confirm and getpass.getpass("again: ") != entered:
        fail("the passphrases differ: run the command again and type the same one twice")
    return entered.encode("utf-8", "surrogateescape")


def _key_of(wallet: Wallet) -> PrivateKey:
    try:
        return wallet.key(_passphrase())
    except WrongPassphraseError as e:
        fail(f"{e.message}: check ${PASSPHRASE_ENV} (or type the wallet's passphrase)")
    except WalletError as e:
        fail(e.message)


def _ca(args: argparse.Namespace) -> Path | None:
    return Path(args.ca_bundle) if args.ca_bundle else None


# -- commands -------------------------------------------------------------------------------


def _init(args: argparse.Namespace) -> int:
    directory = _dir(args)
    passphrase = _passphrase(confirm=True)
    try:
        wallet = Wallet.create(directory, passphrase, created=format_datetime(datetime.now(UTC)))
    except WalletError as e:
        fail(e.message)
    if args.json:
        print_json({"holder": wallet.holder, "dir": str(directory)})
    else:
        print(f"wallet created at {directory}")
        print(f"holder: {wallet.holder}")
    return EXIT_OK


def _receive(args: argparse.Namespace) -> int:
    wallet = _open(args)
    try:
        client = NodeClient(args.issuer, ca_bundle=_ca(args))
        issuer, code, wants_tx_code = parse_offer(args.code)
        if issuer is not None and issuer.rstrip("/") != client.origin:
            fail(f"the offer is from {issuer}, not {client.origin}")
    except WalletError as e:
        fail(e.message)
    tx_code = args.tx_code
    if tx_code is None and wants_tx_code:
        if not sys.stdin.isatty():
            fail("the offer needs the transaction code: give --tx-code PIN")
        tx_code = getpass.getpass("transaction code: ").strip()
    key = _key_of(wallet)
    try:
        credential = client.receive(code, tx_code, key, now=datetime.now(UTC))
        stored = wallet.add(credential)
    except WalletError as e:
        fail(e.message, EXIT_FAILED)
    if args.json:
        print_json(stored.summary())
    else:
        print(f"received {stored.credential_id} as {stored.id}")
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    wallet = _open(args)
    try:
        items = wallet.credentials()
    except WalletError as e:
        fail(e.message)
    if args.json:
        print_json({"holder": wallet.holder, "credentials": [c.summary() for c in items]})
        return EXIT_OK
    print(f"holder: {wallet.holder}")
    for c in items:
        kind = next((t for t in c.types if t != "VerifiableCredential"), c.types[0])
        print(f"{c.id}  {kind}  {c.name or '-'}  until {c.valid_until or '-'}  from {c.issuer}")
    if not items:
        print("no credentials (receive one: trustlane wallet receive --from URL --code CODE)")
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    wallet = _open(args)
    try:
        found = wallet.get(args.id)
    except WalletError as e:
        fail(e.message)
    if args.json:
        print_json({**found.summary(), "verifiableCredential": found.document})
        return EXIT_OK
    for name, value in found.summary().items():
        shown = ", ".join(value) if isinstance(value, list) else value
        print(f"{name}: {shown if shown is not None else '-'}")
    return EXIT_OK


def _export(args: argparse.Namespace) -> int:
    wallet = _open(args)
    try:
        found = wallet.get(args.id)
        text = dumps_pretty(found.document)
        if args.out:
            write_private(Path(args.out), text.encode("utf-8"))
            if args.json:
                print_json({"id": found.id, "out": args.out})
            return EXIT_OK
    except WalletError as e:
        fail(e.message)
    sys.stdout.write(text)
    return EXIT_OK


def _delete(args: argparse.Namespace) -> int:
    wallet = _open(args)
    try:
        gone = wallet.delete(args.id)
    except WalletError as e:
        fail(e.message)
    if args.json:
        print_json({"deleted": gone.id, "credentialId": gone.credential_id})
    else:
        print(f"deleted {gone.id} ({gone.credential_id})")
    return EXIT_OK


def _attestations(files: list[str]) -> list[JSONValue]:
    """The bundles named on the command line, whole (the port audits them)."""
    documents = [read_json_object(name) for name in files]
    for name, document in zip(files, documents, strict=True):
        try:
            bundle = read_bundle(document)
        except TrustlaneError as e:
            fail(
                f"{name}: not a scan attestation bundle as POST /scans answers it "
                f"({e.message}); a bare attestation cannot be checked at a port"
            )
        if "proof" not in bundle.attestation:
            fail(f"{name}: the bundle's attestation is not signed (no proof)")
    return list[JSONValue](documents)


def _present(args: argparse.Namespace) -> int:
    try:
        consignment = check_consignment(args.consignment)
        port = check_port(args.port)
    except TrustlaneError as e:
        fail(e.message)
    token = args.token or os.environ.get(PORT_TOKEN_ENV) or None
    if token is None and args.challenge is None:
        fail(
            "give the officer's --token (fetch a challenge and send the presentation), or "
            "--challenge C with --domain D or --to URL (sign offline, with --out)"
        )
    if token is not None and args.challenge is not None:
        fail("give either --token (online) or --challenge (offline), not both")
    if token is not None and args.to is None:
        fail("--token needs --to URL: the port node to ask")
    wallet = _open(args)
    try:
        chosen = [wallet.get(ref) for ref in args.credential] or wallet.credentials()
    except WalletError as e:
        fail(e.message)
    if not chosen:
        fail("the wallet holds no credential to present")
    attestations = _attestations(args.attestation)
    if len(chosen) + len(attestations) > _MAX_PRESENTED:
        fail(f"at most {_MAX_PRESENTED} credentials and attestations in one presentation")
    client: NodeClient | None = None
    issued: JSONObject
    try:
        if token is not None:
            client = NodeClient(args.to, ca_bundle=_ca(args))
            issued = client.challenge(token, consignment=consignment, port=port)
        else:
            target = args.domain or args.to
            if target is None:
                fail("offline: give --domain D (the port node's origin) or --to URL")
            issued = {
                "challenge": check_challenge_format(args.challenge),
                "domain": origin_of(target),
                "consignment": consignment,
                "port": port,
            }
    except TrustlaneError as e:
        fail(e.message, EXIT_FAILED if token is not None else EXIT_USAGE)
    key = _key_of(wallet)
    presented: list[JSONValue] = [c.document for c in chosen]
    unsigned: JSONObject = {
        "@context": [VC_V2_CONTEXT, PRESENTATION_CONTEXT] if attestations else [VC_V2_CONTEXT],
        "type": ["VerifiablePresentation"],
        "holder": wallet.holder,
        "verifiableCredential": presented,
    }
    if attestations:
        # Whole bundles, so the port can audit each one; the holder's proof covers them.
        unsigned[SCAN_ATTESTATION_BUNDLES] = attestations
    challenge, domain = issued["challenge"], issued["domain"]
    if not isinstance(challenge, str) or not isinstance(domain, str):
        fail("the port node answered a challenge without challenge and domain", EXIT_FAILED)
    try:
        vp = sign_presentation(
            unsigned, key, challenge=challenge, domain=domain, created=datetime.now(UTC)
        )
    except TrustlaneError as e:
        fail(f"the presentation would not conform, so it was not signed: {e.message}")
    if args.out:
        try:
            write_private(Path(args.out), dumps_pretty(vp).encode("utf-8"))
        except WalletError as e:
            fail(e.message)
    if client is None or token is None:
        if not args.out:
            sys.stdout.write(dumps_pretty(vp))
        elif args.json:
            print_json({"out": args.out, "challenge": challenge, "domain": domain})
        return EXIT_OK
    try:
        status, result = client.verify(token, vp, issued=issued)
    except WalletError as e:
        fail(e.message, EXIT_FAILED)
    verified = status == 200 and result.get("verified") is True
    if args.json:
        print_json(result)
    else:
        print("verified" if verified else "NOT verified")
        benefits = result.get("benefits")
        if isinstance(benefits, list) and benefits:
            print(f"benefits: {', '.join(str(b) for b in benefits)}")
        errors = result.get("errors")
        for error in errors if isinstance(errors, list) else []:
            if isinstance(error, dict):
                print(f"{error.get('check')}: {error.get('code')}: {error.get('message')}")
    return EXIT_OK if verified else EXIT_FAILED
