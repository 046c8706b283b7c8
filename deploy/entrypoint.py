#!/usr/bin/env python3
"""Container entrypoint of a trustlane node (``Dockerfile``, ``docker-compose.yml``, Kubernetes).

Usage: ``trustlane-entrypoint [MODE | COMMAND ...]``

``serve`` (the default)
    Prepare the environment, create the node with ``trustlane node init`` when the data
    directory holds no ``node.toml`` yet, apply the database migrations when
    ``TRUSTLANE_MIGRATE_ON_START`` is true, then replace this process with
    ``trustlane node serve`` (gunicorn, whose scheduler runs the federation sync job).
``init``
    The same first-start step and the migrations, then exit: the Kubernetes init Job.
``migrate``
    Only apply the migrations of the installed version to the configured database.
``wait-init``
    Wait until ``node.toml`` exists (another container or Job creates the node), then exit:
    the Kubernetes initContainer of every replica, so that replicas never race ``node init``.
``certs``
    Write a throwaway CA and one server certificate per host of ``TRUSTLANE_CERT_HOSTS`` to
    ``TRUSTLANE_CERT_DIR`` (``docker-compose.yml`` only; production nodes use their own PKI).
anything else
    Prepare the environment and run it, e.g. ``trustlane-entrypoint trustlane node show``.

The node reads its key store passphrase from ``$TRUSTLANE_KEYSTORE_PASSPHRASE`` (or a
passphrase file named in ``node.toml``, which it refuses when the file is readable by group
or others, as Kubernetes secret volumes with ``fsGroup`` and bind-mounted Compose secrets
usually are). This script therefore reads the mounted secret file named by
``TRUSTLANE_KEYSTORE_PASSPHRASE_FILE`` (one trailing newline stripped, as the node strips it
from its own passphrase files) and hands the passphrase to the node in that variable.

``node init`` writes its ``--database-url`` into ``node.toml``. A password inside
``TRUSTLANE_DATABASE_URL`` is therefore moved to ``PGPASSWORD`` (which libpq reads), and
``TRUSTLANE_DB_PASSWORD_FILE`` can supply it from a secret file instead. A URL starting with
``postgres://`` or ``postgresql://`` (what CloudNativePG and most providers hand out) is given
the ``postgresql+psycopg://`` driver the node installs.

Every variable this script reads is listed in :data:`REQUIRED_ENV` and :data:`OPTIONAL_ENV`
(``tests/unit/test_deployment.py`` checks that the deployments set the required ones).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import NoReturn

#: Variables ``serve`` and ``init`` need, with what they mean.
REQUIRED_ENV: dict[str, str] = {
    "TRUSTLANE_NODE_NAME": "administration name given to `node init --name`",
    "TRUSTLANE_BASE_URL": "public https origin; the node's did:web derives from it",
    "TRUSTLANE_DATABASE_URL": "SQLAlchemy URL (postgresql+psycopg://... or sqlite:////...)",
    "TRUSTLANE_KEYSTORE_PASSPHRASE_FILE": "mounted secret file holding the key store passphrase",
}

#: Optional variables and their defaults ("" = unset).
OPTIONAL_ENV: dict[str, str] = {
    "TRUSTLANE_DATA_DIR": "/var/lib/trustlane",
    "TRUSTLANE_TLS_CERT": "",
    "TRUSTLANE_TLS_KEY": "",
    "TRUSTLANE_DB_PASSWORD_FILE": "",
    "TRUSTLANE_FEDERATION_FILE": "",
    "TRUSTLANE_LISTEN_HOST": "0.0.0.0",  # noqa: S104 - a container listens on its interfaces
    "TRUSTLANE_LISTEN_PORT": "",
    "TRUSTLANE_WORKERS": "2",
    "TRUSTLANE_MIGRATE_ON_START": "false",
    "TRUSTLANE_INIT_WAIT_SECONDS": "600",
    "TRUSTLANE_ADMIN_TOKEN_FILE": "",
    # Read by `trustlane node serve` itself (node/logs.py): text or json log lines.
    "TRUSTLANE_LOG_FORMAT": "text",
    "TRUSTLANE_CERT_DIR": "/etc/trustlane/certs",
    "TRUSTLANE_CERT_HOSTS": "",
}

PASSPHRASE_ENV = "TRUSTLANE_KEYSTORE_PASSPHRASE"  # noqa: S105 - a variable name
CONFIG_NAME = "node.toml"
FEDERATION_NAME = "federation.toml"
MAX_SECRET_BYTES = 4096
_TRUE = {"1", "true", "yes", "on"}


class EntrypointError(Exception):
    """A problem the operator must fix; the message says what to do."""


def die(message: str) -> NoReturn:
    """Print one line naming the problem and exit 2."""
    print(f"trustlane-entrypoint: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def setting(environ: Mapping[str, str], name: str) -> str:
    """A variable's value, or its default from :data:`OPTIONAL_ENV` when unset or empty."""
    if name not in REQUIRED_ENV and name not in OPTIONAL_ENV:
        raise KeyError(f"{name} is not declared in REQUIRED_ENV or OPTIONAL_ENV")
    return environ.get(name, "") or OPTIONAL_ENV.get(name, "")


def require(environ: Mapping[str, str], names: Sequence[str] = tuple(REQUIRED_ENV)) -> None:
    """Refuse to go on when a required variable is unset or empty, naming all of them."""
    missing = [name for name in names if not environ.get(name)]
    if missing:
        raise EntrypointError(
            "set " + ", ".join(missing) + " (see deploy/entrypoint.py REQUIRED_ENV)"
        )


def read_secret_file(path: Path) -> str:
    """Read a mounted secret: at most 4 KiB, one trailing LF or CR LF stripped, not empty."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise EntrypointError(f"cannot read secret file {path}: {e.strerror or e}") from e
    if len(data) > MAX_SECRET_BYTES:
        raise EntrypointError(f"secret file {path} is larger than {MAX_SECRET_BYTES} bytes")
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise EntrypointError(f"secret file {path} is empty")
    if b"\x00" in data:
        raise EntrypointError(f"secret file {path} contains a NUL byte")
    return data.decode("utf-8", "surrogateescape")


def normalise_database_url(url: str) -> tuple[str, str | None]:
    """Give a PostgreSQL URL the psycopg 3 driver and take its password out.

    Returns:
        The URL without password, and the password (None when the URL has none).
    """
    from sqlalchemy.engine import URL, make_url
    from sqlalchemy.exc import ArgumentError

    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    if not url.startswith("postgresql"):
        return url, None
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise EntrypointError("TRUSTLANE_DATABASE_URL is not a valid database URL") from e
    if parsed.password is None:
        return url, None
    without = URL.create(
        parsed.drivername,
        username=parsed.username,
        host=parsed.host,
        port=parsed.port,
        database=parsed.database,
        query=parsed.query,
    )
    return without.render_as_string(hide_password=False), str(parsed.password)


def prepare(environ: MutableMapping[str, str]) -> Path:
    """Put what the node reads into ``environ``; return the data directory.

    Sets ``TRUSTLANE_KEYSTORE_PASSPHRASE`` from the secret file, ``PGPASSWORD`` from the
    database URL or ``TRUSTLANE_DB_PASSWORD_FILE``, the normalised ``TRUSTLANE_DATABASE_URL``
    and ``TRUSTLANE_DATA_DIR`` (which every ``trustlane node`` command reads).
    """
    data_dir = Path(setting(environ, "TRUSTLANE_DATA_DIR"))
    environ["TRUSTLANE_DATA_DIR"] = str(data_dir)
    passphrase_file = environ.get("TRUSTLANE_KEYSTORE_PASSPHRASE_FILE", "")
    if passphrase_file:
        environ[PASSPHRASE_ENV] = read_secret_file(Path(passphrase_file))
    elif not environ.get(PASSPHRASE_ENV):
        raise EntrypointError(
            "set TRUSTLANE_KEYSTORE_PASSPHRASE_FILE to the mounted key store passphrase secret"
        )
    # A Secret made with --from-file usually ends with a newline.
    url = environ.get("TRUSTLANE_DATABASE_URL", "").strip()
    if url:
        url, password = normalise_database_url(url)
        environ["TRUSTLANE_DATABASE_URL"] = url
        if password is not None:
            environ["PGPASSWORD"] = password
    password_file = setting(environ, "TRUSTLANE_DB_PASSWORD_FILE")
    if password_file:
        environ["PGPASSWORD"] = read_secret_file(Path(password_file))
    federation = setting(environ, "TRUSTLANE_FEDERATION_FILE")
    if federation:
        link_federation_file(data_dir, Path(federation))
    return data_dir


def link_federation_file(data_dir: Path, source: Path) -> None:
    """Make ``DATA_DIR/federation.toml`` (the only place the node reads it) point at ``source``.

    A missing source is an error: a node started without its pinned peers would quietly
    recognise nobody.
    """
    if not source.is_file():
        raise EntrypointError(f"TRUSTLANE_FEDERATION_FILE {source} does not exist")
    target = data_dir / FEDERATION_NAME
    if target.is_symlink() and Path(os.readlink(target)) == source:
        return
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = data_dir / (FEDERATION_NAME + ".link")
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    temporary.symlink_to(source)
    temporary.replace(target)


def database_holds_node(url: str) -> bool:
    """True when the database already has a node's keys (``node_keys`` not empty).

    ``node init`` would then add a new current key and admin token to that node's database
    while the key files of the old keys are elsewhere: restore the data directory instead.
    """
    from sqlalchemy import create_engine, inspect, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("node_keys"):
                return False
            count = conn.execute(text("SELECT count(*) FROM node_keys")).scalar_one()
            return bool(count)
    except SQLAlchemyError as e:
        raise EntrypointError(f"cannot reach the database: {type(e).__name__}") from e
    finally:
        engine.dispose()


def _cli(argv: Sequence[str]) -> tuple[int, str]:
    """Run ``trustlane ARGV`` in this process; return its exit code and stdout."""
    from node.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def ensure_initialised(environ: MutableMapping[str, str], data_dir: Path) -> bool:
    """Run ``trustlane node init`` unless ``node.toml`` exists; True when it ran.

    The first admin token is written to ``TRUSTLANE_ADMIN_TOKEN_FILE`` (default
    ``DATA_DIR/secrets/initial-admin-token``, mode 0600), never to the log.
    """
    if (data_dir / CONFIG_NAME).exists():
        return False
    require(environ)
    if (data_dir / "keys" / "keystore.json").exists():
        raise EntrypointError(
            f"{data_dir}/keys holds a key store but there is no {CONFIG_NAME}: an earlier "
            "`node init` stopped half way or node.toml was lost; restore the data directory "
            "from its backup (or, for a node never used, empty the data directory and the "
            "database) and start again"
        )
    url = environ["TRUSTLANE_DATABASE_URL"]
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _pushed_env(environ):
        if database_holds_node(url):
            raise EntrypointError(
                "the database already holds a node but this data directory has no "
                f"{CONFIG_NAME}: restore the data directory (node.toml, keys/) from its backup; "
                "`node init` would give the node a new key and admin token"
            )
    argv = [
        "node",
        "init",
        "--json",
        "--data-dir",
        str(data_dir),
        "--name",
        environ["TRUSTLANE_NODE_NAME"],
        "--base-url",
        environ["TRUSTLANE_BASE_URL"],
        "--database-url",
        url,
    ]
    cert, key = setting(environ, "TRUSTLANE_TLS_CERT"), setting(environ, "TRUSTLANE_TLS_KEY")
    if bool(cert) != bool(key):
        raise EntrypointError("set TRUSTLANE_TLS_CERT and TRUSTLANE_TLS_KEY together")
    if cert:
        argv += ["--tls-cert", cert, "--tls-key", key]
    with _pushed_env(environ):
        code, output = _cli(argv)
    if code != 0:
        raise EntrypointError(f"`trustlane node init` failed (exit {code}); see the line above")
    created = json.loads(output)
    token_file = Path(
        setting(environ, "TRUSTLANE_ADMIN_TOKEN_FILE")
        or data_dir / "secrets" / "initial-admin-token"
    )
    token_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(created["adminToken"] + "\n")
    print(f"node created in {data_dir}: {created['did']}")
    print(f"first admin token written to {token_file} (0600): move it to a secret manager")
    print("partners pin this node's keys: run `trustlane-entrypoint trustlane node show`")
    return True


def migrate(environ: MutableMapping[str, str], data_dir: Path) -> None:
    """Bring the configured database to the Alembic head of the installed version.

    Runs ``trustlane node migrate`` (Alembic ``upgrade head``, idempotent; it refuses a
    database at a revision newer than the installed version knows).
    """
    with _pushed_env(environ):
        code, output = _cli(["node", "migrate", "--json", "--data-dir", str(data_dir)])
    if code != 0:
        raise EntrypointError(f"`trustlane node migrate` failed (exit {code}); see the line above")
    revisions = json.loads(output)
    if revisions["changed"]:
        print(f"database schema upgraded from {revisions['from'] or 'empty'} to {revisions['to']}")
    else:
        print(f"database schema at {revisions['to']}, the head of this version's migrations")


def wait_for_init(environ: Mapping[str, str], data_dir: Path) -> None:
    """Wait until another container has created the node (``node.toml`` exists)."""
    seconds = float(setting(environ, "TRUSTLANE_INIT_WAIT_SECONDS"))
    deadline = time.monotonic() + seconds
    while not (data_dir / CONFIG_NAME).exists():
        if time.monotonic() > deadline:
            raise EntrypointError(
                f"no {data_dir / CONFIG_NAME} after {seconds:g} s: check the node's init Job "
                "(kubectl logs job/...-init)"
            )
        time.sleep(2)


def serve_argv(environ: Mapping[str, str], data_dir: Path) -> list[str]:
    """The ``trustlane node serve`` command line for this container."""
    argv = [
        sys.executable,
        "-m",
        "node.cli",
        "node",
        "serve",
        "--data-dir",
        str(data_dir),
        "--host",
        setting(environ, "TRUSTLANE_LISTEN_HOST"),
        "--workers",
        setting(environ, "TRUSTLANE_WORKERS"),
    ]
    port = setting(environ, "TRUSTLANE_LISTEN_PORT")
    if port:
        argv += ["--port", port]
    return argv


def make_certificates(environ: Mapping[str, str]) -> None:
    """Write a throwaway CA and server certificates for a federation on one machine.

    Nothing is done when ``ca.crt`` exists. The CA key is deleted once the certificates are
    signed, so the CA cannot sign anything else.
    """
    hosts = setting(environ, "TRUSTLANE_CERT_HOSTS").split()
    if not hosts:
        raise EntrypointError(
            "set TRUSTLANE_CERT_HOSTS, e.g. 'eu.customs.example us.customs.example'"
        )
    out = Path(setting(environ, "TRUSTLANE_CERT_DIR"))
    if (out / "ca.crt").exists():
        print(f"{out}/ca.crt exists; certificates kept")
        return
    openssl = shutil.which("openssl")
    if openssl is None:
        raise EntrypointError("openssl is not installed")
    out.mkdir(parents=True, exist_ok=True)
    old_umask = os.umask(0o077)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            ca_key, ca_crt = work / "ca.key", work / "ca.crt"
            _openssl(
                openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "365",
                "-subj", "/CN=trustlane compose demo CA",
                "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            )  # fmt: skip
            for host in hosts:
                short = host.split(".")[0]
                ext = work / f"{short}.ext"
                ext.write_text(
                    f"subjectAltName=DNS:{host},DNS:{short},DNS:localhost,IP:127.0.0.1\n"
                    "basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid,issuer\n"
                )
                key, csr = work / f"{short}.key", work / f"{short}.csr"
                _openssl(
                    openssl, "req", "-new", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", key, "-out", csr, "-subj", f"/CN={host}",
                )  # fmt: skip
                _openssl(
                    openssl, "x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key,
                    "-CAcreateserial", "-days", "365", "-extfile", ext,
                    "-out", work / f"{short}.crt",
                )  # fmt: skip
                shutil.copyfile(key, out / f"{short}.key")
                os.chmod(out / f"{short}.key", 0o600)
                shutil.copyfile(work / f"{short}.crt", out / f"{short}.crt")
                os.chmod(out / f"{short}.crt", 0o644)
            shutil.copyfile(ca_crt, out / "ca.crt")  # last: marks the set complete
            os.chmod(out / "ca.crt", 0o644)
    finally:
        os.umask(old_umask)
    print(f"demo CA and certificates for {', '.join(hosts)} written to {out}")


def _openssl(openssl: str, *args: object) -> None:
    result = subprocess.run(  # noqa: S603 - fixed program, arguments built here
        [openssl, *map(str, args)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise EntrypointError(f"openssl {args[0]} failed: {result.stderr.strip()}")


@contextlib.contextmanager
def _pushed_env(environ: MutableMapping[str, str]) -> Iterator[None]:
    """Make ``os.environ`` equal ``environ`` for in-process node code, then restore it."""
    if environ is os.environ:
        yield
        return
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(argv: Sequence[str], environ: MutableMapping[str, str]) -> int:
    """Do what ``argv`` asks; return an exit code (``serve`` and commands do not return)."""
    mode = argv[0] if argv else "serve"
    if mode == "certs":
        make_certificates(environ)
        return 0
    if mode == "wait-init":
        wait_for_init(environ, Path(setting(environ, "TRUSTLANE_DATA_DIR")))
        return 0
    data_dir = prepare(environ)
    if mode in ("serve", "init"):
        created = ensure_initialised(environ, data_dir)
        if mode == "init" or (
            not created and setting(environ, "TRUSTLANE_MIGRATE_ON_START").lower() in _TRUE
        ):
            migrate(environ, data_dir)
        if mode == "init":
            return 0
        command = serve_argv(environ, data_dir)
    elif mode == "migrate":
        migrate(environ, data_dir)
        return 0
    else:
        command = list(argv)
    sys.stdout.flush()
    os.execvpe(command[0], command, dict(environ))  # noqa: S606 - replaces this process
    return 0  # pragma: no cover - execvpe does not return


def main() -> int:
    """Run the entrypoint with ``sys.argv`` and ``os.environ``."""
    try:
        return run(sys.argv[1:], os.environ)
    except EntrypointError as e:
        die(str(e))


if __name__ == "__main__":
    sys.exit(main())
