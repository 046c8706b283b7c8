"""``trustlane proof ...``: add and check Data Integrity proofs (eddsa-jcs-2022)."""

from __future__ import annotations

import argparse

from credentials.data_integrity import DIDKeyResolver, ProofOptions, add_proof, get_proof_outcomes
from credentials.errors import TrustlaneError
from node.cli._io import EXIT_FAILED, EXIT_OK, fail, parse_at, print_json, read_json_object
from node.cli.keys_cmd import load_key


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``proof`` command group."""
    proof = sub.add_parser("proof", help="sign and verify Data Integrity proofs")
    proof_sub = proof.add_subparsers(dest="proof_command", required=True)

    sign = proof_sub.add_parser("sign", help="add one eddsa-jcs-2022 proof to a document")
    sign.add_argument("file", help="JSON document ('-' for stdin)")
    sign.add_argument("--key", required=True, help="key file from 'trustlane key generate'")
    sign.add_argument("--verification-method", help="key URL (default: the key's did:key)")
    sign.add_argument("--created", help="proof creation time (default: now)")
    sign.add_argument("--expires", help="proof expiry time")
    sign.add_argument("--purpose", default="assertionMethod", help="proof purpose")
    sign.add_argument("--proof-id", help="id of the new proof")
    sign.add_argument(
        "--previous-proof", action="append", metavar="ID", help="chain to this proof id"
    )
    sign.add_argument("--challenge", help="bind the proof to this challenge")
    sign.add_argument("--domain", help="bind the proof to this domain")
    sign.set_defaults(func=_sign)

    verify = proof_sub.add_parser("verify", help="verify every proof (keys from did:key)")
    verify.add_argument("file", help="JSON document ('-' for stdin)")
    verify.add_argument("--json", action="store_true", help="print a JSON result")
    verify.add_argument("--purpose", help="require this proof purpose")
    verify.add_argument("--challenge", help="require this challenge")
    verify.add_argument("--domain", help="require this domain")
    verify.add_argument("--at", help="reference time for created/expires (default: now)")
    verify.set_defaults(func=_verify)


def _sign(args: argparse.Namespace) -> int:
    document = read_json_object(args.file)
    key = load_key(args.key)
    previous: str | tuple[str, ...] | None = None
    if args.previous_proof:
        ids = args.previous_proof
        previous = ids[0] if len(ids) == 1 else tuple(ids)
    try:
        options = ProofOptions(
            verification_method=args.verification_method or key.public_key.verification_method_id,
            proof_purpose=args.purpose,
            created=parse_at(args.created),
            expires=parse_at(args.expires) if args.expires else None,
            id=args.proof_id,
            previous_proof=previous,
            challenge=args.challenge,
            domain=args.domain,
        )
        signed = add_proof(document, key, options)
    except TrustlaneError as e:
        fail(e.diagnostics())
    print_json(signed)
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    document = read_json_object(args.file)
    outcomes = get_proof_outcomes(
        document,
        resolver=DIDKeyResolver(),
        expected_purpose=args.purpose,
        now=parse_at(args.at),
        challenge=args.challenge,
        domain=args.domain,
    )
    verified = all(o.verified for o in outcomes)
    rows = []
    for o in outcomes:
        row: dict[str, object] = {
            "index": o.index,
            "id": o.proof.get("id"),
            "verificationMethod": o.proof.get("verificationMethod"),
            "status": "pass" if o.verified else ("unknown" if o.unknown else "fail"),
        }
        if o.error is not None:
            row["code"] = o.error.code
            row["message"] = o.error.message
        rows.append(row)
    if args.json:
        print_json({"verified": verified, "proofs": rows})
    else:
        for row in rows:
            line = f"proof {row['index']}: {row['status']} ({row['verificationMethod']})"
            if "code" in row:
                line += f": {row['code']}: {row['message']}"
            print(line)
        print("verified" if verified else "NOT verified")
    return EXIT_OK if verified else EXIT_FAILED
