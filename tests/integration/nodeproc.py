"""Run real node processes (``trustlane node init`` / ``trustlane node serve``) on loopback.

Every process started here gets its own process group and is stopped by :meth:`stop`
(SIGTERM to the group, a bounded wait, then SIGKILL). Every wait is bounded. Only loopback
(127.0.0.1) is ever contacted.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import requests
import trustme

__all__ = ["TRUSTLANE", "NodeProcess", "die_with_parent", "free_port", "run_cli", "sanitized_env"]

TRUSTLANE = Path(sys.executable).parent / "trustlane"
LOOPBACK = "127.0.0.1"
CLI_TIMEOUT = 60.0
START_TIMEOUT = 60.0  # a bound for hangs; two xdist workers starting nodes at once are slow
# Above the node's own bound (node.server.stop_bound: the default drain of 10 s plus a 5 s
# margin, after which gunicorn's master kills workers that are still alive, such as one still
# booting when the SIGTERM came, and exits 0): the harness must not SIGKILL a stop that is
# still within what the node promises.
STOP_TIMEOUT = 20.0


def die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM this process when pytest dies.

    The node runs in its own session (so :meth:`NodeProcess.stop` can signal its whole
    group); without this, a test run killed from outside would leave it serving, and
    syncing against a database its fixture can no longer drop.
    """
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def is_listening(port: int, host: str = LOOPBACK) -> bool:
    """Tell whether something accepts TCP connections at ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((host, port)) == 0


def sanitized_env(**extra: str) -> dict[str, str]:
    """The test environment without TRUSTLANE_* overrides (the node reads its own config)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLANE_")}
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``trustlane ARGS...`` and capture its output (bounded by ``timeout``)."""
    return subprocess.run(
        [str(TRUSTLANE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=sanitized_env(),
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        return f"<no log: {e}>"
    return "\n".join(text.splitlines()[-lines:])


class NodeProcess:
    """One node: its data directory, and at most one running ``node serve`` process.

    Args:
        tmp_dir: Directory for the data directory, the log and the CA bundle.
        name: The administration's name (``--name``).
        port: Loopback port to serve on (a free one when None).
    """

    def __init__(self, tmp_dir: Path, name: str = "EU customs", port: int | None = None) -> None:
        self.tmp_dir = tmp_dir
        self.name = name
        self.port = port or free_port()
        self.data_dir = tmp_dir / "data"
        self.log_path = tmp_dir / "serve.log"
        self.ca_path: Path | None = None
        self.base_url = ""
        self.did = ""
        self.admin_token = ""
        self.public_key_multibase = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._runtime_dir: str | None = None

    # -- init ------------------------------------------------------------------------

    def init(
        self,
        database_url: str | None,
        tls: trustme.CA | None,
        *,
        base_url: str | None = None,
    ) -> tuple[str, str]:
        """Run ``trustlane node init`` and return ``(did, admin_token)``.

        With ``tls``, a server certificate for 127.0.0.1 is issued by the CA, written into the
        data directory and passed as ``--tls-cert``/``--tls-key``; the base URL is then
        ``https://127.0.0.1:PORT``. ``base_url`` overrides the base URL (for refusal tests).
        """
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        args = ["node", "init", "--data-dir", str(self.data_dir), "--name", self.name, "--json"]
        scheme = "http"
        if tls is not None:
            scheme = "https"
            leaf = tls.issue_cert(LOOPBACK, "localhost")
            cert = self.data_dir / "tls-cert.pem"
            key = self.data_dir / "tls-key.pem"
            cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
            fd = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(leaf.private_key_pem.bytes())
            self.ca_path = self.tmp_dir / "ca.pem"
            tls.cert_pem.write_to_path(str(self.ca_path))
            args += ["--tls-cert", str(cert), "--tls-key", str(key)]
        self.base_url = base_url or f"{scheme}://{LOOPBACK}:{self.port}"
        args += ["--base-url", self.base_url]
        if database_url is not None:
            args += ["--database-url", database_url]
        done = run_cli(*args)
        assert done.returncode == 0, f"node init failed ({done.returncode}): {done.stderr}"
        out = json.loads(done.stdout)
        self.did, self.admin_token = out["did"], out["adminToken"]
        self.public_key_multibase = out["publicKeyMultibase"]
        return self.did, self.admin_token

    def cli(self, *args: str, timeout: float = CLI_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run ``trustlane node ARGS... --data-dir D`` for this node."""
        return run_cli("node", *args, "--data-dir", str(self.data_dir), timeout=timeout)

    # -- serve -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the serve process has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def url(self, path: str) -> str:
        """An absolute URL on the loopback listener (always 127.0.0.1)."""
        scheme = "https" if self.ca_path is not None else "http"
        return f"{scheme}://{LOOPBACK}:{self.port}{path}"

    @property
    def verify(self) -> str | bool:
        """The ``verify`` argument for requests: the CA bundle, or True (no TLS)."""
        return str(self.ca_path) if self.ca_path is not None else True

    @contextmanager
    def session(self, token: str | None = None) -> Iterator[requests.Session]:
        """A requests session trusting the node's CA, optionally with a bearer token."""
        with requests.Session() as http:
            http.verify = self.verify
            http.trust_env = False  # never route loopback traffic through a proxy
            if token is not None:
                http.headers["Authorization"] = f"Bearer {token}"
            yield http

    def start(
        self,
        workers: int = 2,
        timeout: float = START_TIMEOUT,
        serve_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        """Start ``trustlane node serve [serve_args]`` and wait until ``/health`` answers 200.

        ``env``: more environment variables for the server (``TMPDIR``, say).
        """
        assert not self.running, "node already running"
        # Each node gets its own gunicorn control socket directory (short path: AF_UNIX).
        self._runtime_dir = tempfile.mkdtemp(prefix="tlrt")
        env = sanitized_env(XDG_RUNTIME_DIR=self._runtime_dir, **(env or {}))
        args = [
            str(TRUSTLANE),
            "node",
            "serve",
            "--data-dir",
            str(self.data_dir),
            "--host",
            LOOPBACK,
            "--port",
            str(self.port),
            "--workers",
            str(workers),
            *serve_args,
        ]
        with self.log_path.open("ab") as log:
            log.write(f"--- start {' '.join(args[1:])}\n".encode())
            log.flush()
            self._proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=die_with_parent,  # only prctl: safe after fork
            )
        deadline = time.monotonic() + timeout
        problem = "no answer"
        with self.session() as http:
            while time.monotonic() < deadline:
                if self._proc.poll() is not None:
                    problem = f"exited with {self._proc.returncode}"
                    break
                try:
                    with http.get(self.url("/health"), timeout=2.0) as response:
                        if response.status_code == 200:
                            return
                        problem = f"/health answered {response.status_code}"
                except requests.RequestException as e:
                    problem = f"{type(e).__name__}"
                time.sleep(0.1)
        self.stop()
        raise AssertionError(
            f"node did not become healthy within {timeout} s ({problem}); log tail:\n"
            + _tail(self.log_path)
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM the process group, wait (bounded), then SIGKILL; return the exit code."""
        proc, self._proc = self._proc, None
        code: int | None = None
        if proc is not None:
            pgid = proc.pid  # start_new_session: the master leads its own group
            if proc.poll() is None:
                try:
                    os.killpg(pgid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                code = proc.wait(timeout=timeout)
            # Workers orphaned by a dying master are still in the group: end them too.
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
            self._runtime_dir = None
        return code

    def send_signal(self, sig: signal.Signals, *, group: bool = False) -> None:
        """Send ``sig`` to the serve process (the gunicorn master), or to its whole group.

        ``group`` is what Ctrl-C in a terminal and systemd's default ``KillMode`` do: the
        workers get the signal too. :meth:`wait` then collects the exit code.
        """
        assert self._proc is not None and self._proc.poll() is None, "node not running"
        if group:
            os.killpg(self._proc.pid, sig)
        else:
            self._proc.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        """Wait (bounded) for the serve process to exit; its exit code, or None if it runs on."""
        assert self._proc is not None, "node not started"
        try:
            return self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the serve log."""
        return _tail(self.log_path, lines)

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- small API helpers --------------------------------------------------------------

    def get_json(self, path: str, token: str | None = None) -> tuple[int, Any, dict[str, str]]:
        """GET ``path``; return status, JSON body (or None) and headers."""
        with self.session(token) as http, http.get(self.url(path), timeout=10.0) as response:
            body = response.json() if response.content else None
            return response.status_code, body, dict(response.headers)

    def post_json(self, path: str, body: Any, token: str | None = None) -> tuple[int, Any]:
        """POST JSON to ``path``; return status and JSON body."""
        with (
            self.session(token) as http,
            http.post(self.url(path), json=body, timeout=30.0) as response,
        ):
            return response.status_code, response.json()
