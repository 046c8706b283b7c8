"""``trustlane key ...``: Ed25519 key files (Multikey JSON)."""

from __future__ import annotations

import argparse
import json

from credentials.errors import TrustlaneError
from credentials.keys import PrivateKey, key_pair_from_dict, key_pair_to_dict
from node.cli._io import (
    EXIT_OK,
    fail,
    json_always,
    print_json,
    read_json_object,
    write_private_file,
)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``key`` command group."""
    key = sub.add_parser("key", help="manage Ed25519 keys")
    key_sub = key.add_subparsers(dest="key_command", required=True)
    gen = key_sub.add_parser("generate", help="generate a key pair")
    gen.add_argument("--out", help="write the key file here (mode 0600) instead of stdout")
    gen.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    json_always(gen)
    gen.set_defaults(func=_generate)


def _generate(args: argparse.Namespace) -> int:
    pair = key_pair_to_dict(PrivateKey.generate())
    if args.out:
        write_private_file(args.out, json.dumps(pair, indent=2) + "\n", force=args.force)
        print_json({"id": pair["id"], "publicKeyMultibase": pair["publicKeyMultibase"]})
    else:
        print_json(pair)
    return EXIT_OK


def load_key(path: str) -> PrivateKey:
    """Load a key file written by ``key generate`` (or the W3C keyPair.json form)."""
    data = read_json_object(path)
    try:
        return key_pair_from_dict(data)
    except TrustlaneError as e:
        fail(f"{path}: {e.diagnostics()}")
