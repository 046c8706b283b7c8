"""One demo node: its data directory and its ``trustlane node serve`` process.

Everything goes through the commands and the HTTP API an operator uses: ``node init``,
``node show --json`` for what partners pin, a ``federation.toml`` naming the peers, then
``node serve``. Each process leads its own process group, so :meth:`DemoNode.stop` ends the
gunicorn master and its workers together; every wait is bounded; only 127.0.0.1 is used.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

__all__ = ["LOOPBACK", "DemoError", "DemoNode", "checked_cli", "free_port", "run_cli"]

LOOPBACK = "127.0.0.1"
_CLI_TIMEOUT = 120.0
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0
_HTTP_TIMEOUT = 30.0


class DemoError(Exception):
    """A step of the demo did not go as the story says (one line for the operator)."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def _environment() -> dict[str, str]:
    # The nodes read their own configuration: no TRUSTLANE_* override from the caller.
    return {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLANE_")}


def run_cli(
    *args: str, timeout: float = _CLI_TIMEOUT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``trustlane ARGS...`` in a child process (this interpreter, bounded)."""
    return subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "node.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**_environment(), **(env or {})},
        check=False,
        stdin=subprocess.DEVNULL,
    )


def checked_cli(*args: str, who: str, env: dict[str, str] | None = None) -> str:
    """Run ``trustlane ARGS...``; return its stdout, or raise with its last error line."""
    done = run_cli(*args, env=env)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise DemoError(f"{who}: trustlane {args[0]} {args[1]}: {lines[-1]}")
    return done.stdout


@dataclass
class DemoNode:
    """An administration's node in the demo federation."""

    code: str
    name: str
    root: Path
    ca_bundle: Path
    port: int = field(default_factory=free_port)
    did: str = ""
    admin_token: str = ""
    key: str = ""
    _proc: subprocess.Popen[bytes] | None = None
    _http: requests.Session | None = None

    @property
    def data_dir(self) -> Path:
        """The node's data directory."""
        return self.root / "data"

    @property
    def base_url(self) -> str:
        """The node's origin."""
        return f"https://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        """Where ``node serve`` writes its log."""
        return self.root / "serve.log"

    @property
    def running(self) -> bool:
        """True while ``node serve`` has not exited."""
        return self._proc is not None and self._proc.poll() is None

    def cli(self, *args: str) -> str:
        """Run ``trustlane ARGS... --data-dir D`` and return its stdout; raise on failure."""
        return checked_cli(*args, "--data-dir", str(self.data_dir), who=self.code)

    def init(self, tls_cert: Path, tls_key: Path) -> None:
        """``node init`` over HTTPS, then ``node show --json`` for the key partners pin."""
        self.data_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
        out = json.loads(
            self.cli(
                "node",
                "init",
                "--name",
                self.name,
                "--base-url",
                self.base_url,
                "--tls-cert",
                str(tls_cert),
                "--tls-key",
                str(tls_key),
                "--json",
            )
        )
        self.did, self.admin_token = out["did"], out["adminToken"]
        shown = json.loads(self.cli("node", "show", "--json"))
        self.key = _current_key(shown)

    def write_federation(
        self, peers: list[DemoNode], *, interval: int, policy: tuple[str, str]
    ) -> None:
        """Write the node's ``federation.toml``.

        Fast sync for a demo, push on, its risk policy (a bundled one: id and version), and
        the pinned peers.
        """
        lines = [
            "[federation]",
            f'name = "trustlane demo ({self.name})"',
            f'self_did = "{self.did}"',
            "[sync]",
            f"interval_seconds = {interval}",
            "jitter_seconds = 1",
            "timeout_seconds = 5",
            "[push]",
            "enabled = true",
            "[risk]",
            f'policy_id = "{policy[0]}"',
            f'version = "{policy[1]}"',
        ]
        for peer in peers:
            lines += [
                "[[peers]]",
                f'name = "{peer.code}"',
                f'did = "{peer.did}"',
                f'base_url = "{peer.base_url}"',
                f'key_fingerprints = ["{peer.key}"]',
                f'ca_bundle = "{peer.ca_bundle}"',
            ]
        (self.data_dir / "federation.toml").write_text("\n".join(lines) + "\n")

    def start(self, workers: int = 2) -> None:
        """Start ``node serve`` and wait (bounded) until ``/health`` answers 200."""
        args = [sys.executable, "-m", "node.cli", "node", "serve"]
        args += ["--data-dir", str(self.data_dir), "--host", LOOPBACK, "--port", str(self.port)]
        args += ["--workers", str(workers)]
        runtime = self.root / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**_environment(), "XDG_RUNTIME_DIR": str(runtime)},
                start_new_session=True,
            )
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            try:
                if self.session().get(self.url("/health"), timeout=2.0).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise DemoError(f"{self.code}: the node did not start; see {self.log_path}")

    def stop(self) -> None:
        """SIGTERM the process group, wait (bounded), then SIGKILL what is left."""
        proc, self._proc = self._proc, None
        if self._http is not None:
            self._http.close()
            self._http = None
        if proc is None:
            return
        group = proc.pid  # start_new_session: the master leads its group
        # SIGTERM lets gunicorn stop its workers; SIGKILL ends whatever is left of the group
        # (workers orphaned by a master that died first included).
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=_STOP_TIMEOUT)

    # -- HTTP ------------------------------------------------------------------------------

    def url(self, path: str) -> str:
        """An absolute URL on this node."""
        return self.base_url + path

    def session(self) -> requests.Session:
        """A keep-alive session trusting the demo CA, never through a proxy."""
        if self._http is None:
            self._http = requests.Session()
            self._http.verify = str(self.ca_bundle)
            self._http.trust_env = False
        return self._http

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        admin: bool = True,
        expect: tuple[int, ...] = (200, 201),
    ) -> tuple[int, Any]:
        """Send one request; return status and JSON body; raise unless status is expected."""
        headers = {}
        if admin:
            headers["Authorization"] = f"Bearer {self.admin_token}"
        try:
            response = self.session().request(
                method, self.url(path), json=body, headers=headers, timeout=_HTTP_TIMEOUT
            )
        except requests.RequestException as e:
            raise DemoError(f"{self.code}: {method} {path}: {type(e).__name__}") from None
        try:
            answer = response.json() if response.content else None
        except ValueError:
            answer = response.text[:200]
        if response.status_code not in expect:
            detail = answer.get("detail") if isinstance(answer, dict) else answer
            raise DemoError(
                f"{self.code}: {method} {path} answered {response.status_code}: {detail}"
            )
        return response.status_code, answer


def _current_key(shown: dict[str, Any]) -> str:
    for key in shown.get("keys", []):
        if isinstance(key, dict) and key.get("state") == "current":
            value = key.get("publicKeyMultibase")
            if isinstance(value, str):
                return value
    raise DemoError("node show printed no current key")
