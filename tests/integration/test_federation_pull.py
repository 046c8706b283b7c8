"""Three real nodes with push disabled: a revocation reaches a peer by its scheduled pull.

The other federation scenarios are in test_federation_nodes.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from federation3 import checks, federation_nodes, sign_mra, verify, wait_for
from nodehelpers import aeo_subject
from nodeproc import NodeProcess


@pytest.fixture
def federation(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, NodeProcess]]:
    with federation_nodes(tmp_path, request.param) as nodes:
        yield nodes


@pytest.mark.parametrize(
    "federation",
    [("sqlite", False), ("postgresql", False)],
    indirect=True,
    ids=["push-disabled-sqlite", "push-disabled-postgresql"],
)
def test_revocation_reaches_peer_by_pull_when_push_is_off(
    federation: dict[str, NodeProcess],
) -> None:
    eu, us = federation["eu"], federation["us"]
    sign_mra(eu, us)
    status, body = eu.post_json(
        "/aeo-credentials", {"credentialSubject": aeo_subject()}, eu.admin_token
    )
    assert status == 201
    vc = body["verifiableCredential"]
    status, result = verify(us, vc)
    assert status == 200, result  # US fetched and cached EU's lists in the background
    status, _ = eu.post_json(
        "/credentials/status",
        {
            "credentialId": vc["id"],
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
            "status": True,
        },
        eu.admin_token,
    )
    assert status == 200
    # No push: US still relies on its cached (fresh) list until its scheduled pull.
    assert checks(verify(us, vc)[1])["status"][0] == "pass"
    wait_for(lambda: checks(verify(us, vc)[1])["status"] == ("fail", "REVOKED"), 20.0, "pull at US")
