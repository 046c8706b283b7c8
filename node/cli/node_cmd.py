"""``trustlane node ...``: create, serve and administer a node."""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from urllib.parse import urlsplit

from credentials.errors import TrustlaneError
from federation_config.loader import CONFIG_NAME, load
from federation_config.settings import NodeSettings
from node import logs
from node.cli._io import EXIT_FAILED, EXIT_OK, fail, json_always, parse_at, print_json
from node.cli.node_keys import register_keys
from node.cli.node_migrate import register_migrate
from node.cli.node_show import node_summary
from node.keystore import WrongPassphraseError
from node.services.audit import verify_chain
from node.services.reissue import reissue_signed_by
from node.services.tokens import SCOPES, create_token, revoke_token
from node.storage import tokens_repo
from node.tls_pilot import PILOT_LIFETIME, PilotCA
from node.wiring import NodeServices, build_services, init_node, utcnow

__all__ = ["close_services", "load_services", "register"]

# Services loaded by this run of a command; main() closes their database pools at the end.
_LOADED: list[NodeServices] = []


def _data_dir(args: argparse.Namespace) -> Path:
    value = args.data_dir or os.environ.get("TRUSTLANE_DATA_DIR")
    if not value:
        fail("no node data directory: pass --data-dir or set TRUSTLANE_DATA_DIR")
    return Path(value)


def load_services(args: argparse.Namespace) -> NodeServices:
    """Load settings and services of the node named by ``--data-dir``."""
    try:
        settings = load(_data_dir(args), os.environ)
    except TrustlaneError as e:
        fail(e.diagnostics())
    try:
        services = build_services(settings, os.environ)
    except WrongPassphraseError as e:
        fail(
            f"{e.diagnostics()}: check ${settings.passphrase_env} (or the passphrase file "
            "that node.toml names)"
        )
    except TrustlaneError as e:
        fail(e.diagnostics())
    _LOADED.append(services)
    return services


def close_services() -> None:
    """Close the database pools of every node loaded by :func:`load_services`."""
    while _LOADED:
        services = _LOADED.pop()
        # Background work first: a push or refetch after dispose() would reopen the pool.
        services.push.close()
        services.refetch.stop()
        services.refetch.drain(5.0)
        services.db.dispose()


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``node`` command group."""
    node = sub.add_parser("node", help="create, serve and administer a node")
    node_sub = node.add_subparsers(dest="node_command", required=True)

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        parser = node_sub.add_parser(name, help=help_text)
        parser.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
        return parser

    init = command("init", "create a node: config, key store, database, admin token")
    init.add_argument("--name", required=True, help="administration name")
    init.add_argument(
        "--base-url", required=True, help="public origin, e.g. https://customs.example"
    )
    init.add_argument("--database-url", help="SQLAlchemy URL (default: SQLite in the data dir)")
    init.add_argument("--tls-cert", help="PEM certificate chain for HTTPS")
    init.add_argument("--tls-key", help="PEM private key for HTTPS")
    init.add_argument(
        "--tls",
        choices=["self-signed"],
        help="self-signed: make a private CA and a certificate for the base URL's host "
        "(pilots on private hosts); prints the CA bundle to hand partners",
    )
    init.add_argument("--json", action="store_true", help='print {"did", "adminToken", "caBundle"}')
    init.set_defaults(func=_init)

    show = command("show", "what a partner must pin, and the line its administrator runs")
    show.add_argument("--json", action="store_true", help="print the summary as JSON")
    show.set_defaults(func=_show)

    serve = command("serve", "serve the node with gunicorn")
    serve.add_argument("--host", help="listen address (default: the base URL's host)")
    serve.add_argument("--port", type=int, help="listen port (default: the base URL's port)")
    serve.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    serve.add_argument(
        "--request-timeout",
        type=float,
        metavar="SECONDS",
        help="longest time to receive one request; slower ones get 408 (default 10)",
    )
    serve.add_argument(
        "--drain-timeout",
        type=float,
        metavar="SECONDS",
        help="on SIGTERM or SIGINT, how long requests in progress may take to finish "
        "(default 10; [server] drain_timeout_seconds)",
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        help="stderr log lines: text, or one JSON object per line with request ids "
        "(default text; TRUSTLANE_LOG_FORMAT)",
    )
    serve.set_defaults(func=_serve)

    rotate = command(
        "rotate-key", "announce a new key to every trusted peer, then publish it as current"
    )
    rotate.add_argument(
        "--ack-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="wait this long for peers to acknowledge before publishing anyway (default 30)",
    )
    rotate.add_argument("--json", action="store_true", help="print the report as JSON")
    rotate.set_defaults(func=_rotate)
    register_keys(node_sub, load_services)
    register_migrate(node_sub)

    revoke = command("revoke-key", "mark a key compromised since a time")
    revoke.add_argument("kid", help="key id, e.g. key-1")
    revoke.add_argument("--compromised-since", required=True, help="ISO 8601 time")
    json_always(revoke)
    revoke.set_defaults(func=_revoke_key)

    audit = command("audit-verify", "check the audit log's hash chain")
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(func=_audit_verify)

    token = node_sub.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="create a token (shown once)")
    create.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    create.add_argument("--name", required=True)
    create.add_argument(
        "--scope", action="append", required=True, choices=sorted(SCOPES), help="repeatable"
    )
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=_token_create)
    revoke_t = token_sub.add_parser("revoke", help="revoke a token by id")
    revoke_t.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    revoke_t.add_argument("token_id")
    revoke_t.add_argument("--json", action="store_true", help='print {"id", "revoked"}')
    revoke_t.set_defaults(func=_token_revoke)
    list_t = token_sub.add_parser("list", help="list tokens (never their secrets)")
    list_t.add_argument("--data-dir", help="node data directory (or TRUSTLANE_DATA_DIR)")
    json_always(list_t)
    list_t.set_defaults(func=_token_list)


def _init(args: argparse.Namespace) -> int:
    data_dir = _data_dir(args).resolve()
    if args.tls is not None and (args.tls_cert is not None or args.tls_key is not None):
        fail("--tls self-signed makes its own certificate: leave out --tls-cert and --tls-key")
    if (args.tls_cert is None) != (args.tls_key is None):
        fail("--tls-cert and --tls-key go together")
    base_url = args.base_url.rstrip("/")
    tls_cert = Path(args.tls_cert).resolve() if args.tls_cert else None
    tls_key = Path(args.tls_key).resolve() if args.tls_key else None
    ca_bundle: Path | None = None
    try:
        if args.tls == "self-signed":
            if (data_dir / CONFIG_NAME).exists():
                fail(f"{data_dir} already holds a node ({CONFIG_NAME} exists)")
            tls_cert, tls_key, ca_bundle = issue_pilot_certificate(base_url, data_dir)
        settings = NodeSettings(
            name=args.name,
            base_url=base_url,
            data_dir=data_dir,
            database_url=args.database_url or f"sqlite:///{data_dir / 'node.db'}",
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
        services, token = init_node(settings, os.environ, now=utcnow())
        _LOADED.append(services)
    except TrustlaneError as e:
        fail(e.diagnostics())
    except OSError as e:
        fail(f"{data_dir}: {e.strerror or e}: give --data-dir a new or empty folder")
    bundle = None if ca_bundle is None else str(ca_bundle)
    if args.json:
        current = next(r for r in services.identity.keys() if r.is_current)
        print_json(
            {
                "did": services.identity.did,
                "adminToken": token,
                "caBundle": bundle,
                # What a partner pins (``registry peer add --key``), as ``node show`` gives it.
                "publicKeyMultibase": current.public_key_multibase,
            }
        )
    else:
        print(f"node created in {data_dir}")
        print(f"DID:         {services.identity.did}")
        print(f"admin token: {token}")
        print("The token is shown once; store it in a secret manager.")
        if bundle is not None:
            print(f"CA bundle:   {bundle}")
            print(
                "Hand partners this CA bundle: they add this node with "
                "'registry peer add ... --ca-bundle FILE' (or ca_bundle in federation.toml)."
            )
    return EXIT_OK


def issue_pilot_certificate(base_url: str, data_dir: Path) -> tuple[Path, Path, Path]:
    """Make a private CA, a server certificate for the base URL's host, and the CA bundle.

    Writes ``tls/cert.pem`` (chain), ``tls/key.pem`` (0600) and ``tls/ca-bundle.pem`` (the
    CA certificate partners pin) in the data directory. The CA key is not kept: nothing can
    issue another certificate under this CA, so the bundle partners pin vouches for this one
    certificate only (a new certificate means a new CA and a new bundle for partners).

    Raises:
        CLIError: The base URL is not an https URL with a host.
    """
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname:
        fail("--tls self-signed needs an https base URL (https://HOST[:PORT])")
    directory = data_dir / "tls"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    ca = PilotCA.create(
        f"trustlane pilot CA for {parts.hostname}",
        lifetime=PILOT_LIFETIME,
        only_host=parts.hostname,
    )
    cert, key = ca.issue(parts.hostname, directory, cert_name="cert.pem", key_name="key.pem")
    bundle = ca.write_bundle(directory / "ca-bundle.pem")
    return cert, key, bundle


def _serve(args: argparse.Namespace) -> int:
    from node.server import serve

    if args.log_format is not None:
        os.environ[logs.FORMAT_VARIABLE] = args.log_format  # the workers inherit it
    try:
        logs.log_format(os.environ)
    except ValueError as e:
        fail(f"{e}: set it to text or json, or pass --log-format")
    try:
        settings = load(_data_dir(args), os.environ)
        if args.request_timeout is not None:
            settings = dataclasses.replace(
                settings, request_read_timeout_seconds=args.request_timeout
            )
        if args.drain_timeout is not None:
            settings = dataclasses.replace(settings, drain_timeout_seconds=args.drain_timeout)
        # Fail before forking if the key store, database or federation file cannot be used,
        # and register the peers federation.toml lists.
        services = build_services(settings, os.environ)
        services.peers.apply_configured(services.federation.peers, now=utcnow())
        services.db.dispose()
        serve(settings, host=args.host, port=args.port, workers=max(1, args.workers))
    except TrustlaneError as e:
        fail(e.diagnostics())
    return EXIT_OK


def _show(args: argparse.Namespace) -> int:
    summary = node_summary(load_services(args))
    if args.json:
        print_json(summary)
        return EXIT_OK
    print(f"{summary['name']}: {summary['did']} at {summary['baseUrl']}")
    for key in summary["keys"]:
        print(f"  {key['kid']} ({key['state']}): {key['publicKeyMultibase']}")
    if summary["caBundle"]:
        print(f"  TLS certificate: {summary['tlsCertificate']}")
        print(f"  CA bundle to hand partners (node init --tls self-signed): {summary['caBundle']}")
    elif summary["tls"]:
        print(
            f"  TLS certificate: {summary['tlsCertificate']}; hand partners the CA bundle that "
            "issued it"
        )
    print("A partner adds this node with:")
    print(f"  {summary['peerAddCommand']}")
    return EXIT_OK


def _rotate(args: argparse.Namespace) -> int:
    services = load_services(args)
    # Two phases: the new key is announced (signed with the current key) and only then
    # published; peers that did not acknowledge are sent it again by the scheduler.
    try:
        report = services.rotation.rotate(actor="cli", ack_timeout=max(0.0, args.ack_timeout))
    except TrustlaneError as e:
        fail(e.diagnostics())
    if args.json:
        print_json({"did": services.identity.did, **report.to_dict()})
        return EXIT_OK
    print(f"{report.kid} is current (was {report.previous}); start {report.to_dict()['start']}")
    for did in report.acknowledged:
        print(f"  acknowledged: {did}")
    for did, error in report.unacknowledged.items():
        print(f"  NOT acknowledged: {did} ({error}); the scheduler sends it again")
    return EXIT_OK


def _revoke_key(args: argparse.Namespace) -> int:
    services = load_services(args)
    since = parse_at(args.compromised_since)
    now = utcnow()
    if not any(k.kid == args.kid for k in services.identity.keys()):
        fail(f"no key {args.kid!r} on this node ('trustlane node keys list' shows them)")
    rotated = None
    if services.identity.current().kid == args.kid:
        # Nothing can be re-signed with a compromised key: rotate first, announced with the
        # key peers still trust (it is not marked compromised until the next step).
        try:
            rotated = services.rotation.rotate(actor="cli", ack_timeout=10.0).kid
        except TrustlaneError as e:
            fail(e.diagnostics())
    services.identity.revoke_key(args.kid, since=since, now=now, actor="cli")
    report = reissue_signed_by(
        args.kid,
        db=services.db,
        identity=services.identity,
        status=services.status,
        now=now,
        actor="cli",
    )
    resigned = services.agreements.resign_own_proofs(args.kid, actor="cli")
    print_json(
        {
            "kid": args.kid,
            "compromisedSince": args.compromised_since,
            "rotatedTo": rotated,
            "resignedAgreements": resigned,
            "reissuedCredentials": report.credentials,
            "republishedStatusLists": report.status_lists,
            "notReissuable": list(report.not_reissuable),
        }
    )
    return EXIT_OK


def _audit_verify(args: argparse.Namespace) -> int:
    services = load_services(args)
    report = verify_chain(services.db)
    if args.json:
        print_json({"ok": report.ok, "events": report.events, "problem": report.problem})
    elif report.ok:
        print(f"audit chain intact: {report.events} events")
    else:
        print(f"audit chain BROKEN: {report.problem}")
    return EXIT_OK if report.ok else EXIT_FAILED


def _token_create(args: argparse.Namespace) -> int:
    services = load_services(args)
    try:
        token_id, token = create_token(
            services.db, name=args.name, scopes=frozenset(args.scope), now=utcnow(), actor="cli"
        )
    except TrustlaneError as e:
        fail(e.diagnostics())
    if args.json:
        print_json({"id": token_id, "token": token, "scopes": sorted(args.scope)})
    else:
        print(f"token {token_id}: {token}")
    return EXIT_OK


def _token_revoke(args: argparse.Namespace) -> int:
    services = load_services(args)
    if not revoke_token(services.db, args.token_id, now=utcnow(), actor="cli"):
        fail(f"no active token {args.token_id!r} ('trustlane node token list' shows them)")
    if args.json:
        print_json({"id": args.token_id, "revoked": True})
    else:
        print(f"token {args.token_id} revoked")
    return EXIT_OK


def _token_list(args: argparse.Namespace) -> int:
    services = load_services(args)
    with services.db.read() as conn:
        records = tokens_repo.list_tokens(conn)
    print_json(
        [
            {
                "id": r.id,
                "name": r.name,
                "scopes": sorted(r.scopes),
                "createdAt": r.created_at.isoformat(),
                "revokedAt": r.revoked_at.isoformat() if r.revoked_at else None,
            }
            for r in records
        ]
    )
    return EXIT_OK
