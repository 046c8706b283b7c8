"""A pilot node over HTTPS with ``node init --tls self-signed``, as real processes: the CA
bundle it prints is all a client (or a partner node's fetcher) needs, and without it TLS
verification fails with a message naming the option that fixes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from node.federation.fetcher import FetchError, RequestsFetcher
from nodeproc import LOOPBACK, NodeProcess, run_cli


def test_self_signed_node_serves_https_verified_with_the_printed_bundle(tmp_path: Path) -> None:
    node = NodeProcess(tmp_path)
    node.data_dir.mkdir(parents=True, mode=0o700)
    node.base_url = f"https://{LOOPBACK}:{node.port}"
    done = run_cli(
        "node",
        "init",
        "--data-dir",
        str(node.data_dir),
        "--name",
        "EU pilot",
        "--base-url",
        node.base_url,
        "--tls",
        "self-signed",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    node.ca_path = Path(out["caBundle"])
    with node:
        node.start(workers=1)
        with requests.get(
            node.url("/.well-known/did.json"), verify=str(node.ca_path), timeout=10
        ) as r:
            assert r.status_code == 200 and r.json()["id"] == out["did"]
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(node.url("/health"), timeout=10)
        # What a partner's sync sees with and without the bundle.
        fetcher = RequestsFetcher(timeout=10)
        did_url = node.url("/.well-known/did.json")
        assert fetcher.get(did_url, ca_bundle=str(node.ca_path)).status == 200
        with pytest.raises(FetchError) as failed:
            fetcher.get(did_url, ca_bundle=None)
        message = failed.value.message
        assert "TLS verification failed" in message
        assert "--ca-bundle on 'trustlane registry peer add'" in message
