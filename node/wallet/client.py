"""The wallet's HTTP side: receive a credential from an issuer, present at a port.

Receiving follows OpenID for Verifiable Credential Issuance 1.0, pre-authorised code flow:
the issuer metadata (``/.well-known/openid-credential-issuer``) and the authorisation server
metadata (``/.well-known/oauth-authorization-server``) name the endpoints; the code and the
transaction code buy an access token (``/token``); a ``c_nonce`` (``/nonce``) is signed into
a ``di_vp`` key proof (:func:`credentials.oid4vci.sign_key_proof`); the credential endpoint
answers the credential. Every endpoint must be on the issuer's own origin: the code is never
sent anywhere else.

Presenting asks the port node for a challenge (``POST /challenges``, which needs the officer's
token today; see docs/presentations.md) and posts the signed presentation to
``POST /presentations/verify``.

Only HTTPS (plain HTTP on loopback only), TLS verified (system roots or a CA bundle), every
request with a connect and a read timeout, every answer read up to a size limit. Errors are
:class:`~node.wallet.store.WalletError` with one line that says what went wrong.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from credentials.errors import MalformedInputError
from credentials.keys import PrivateKey
from credentials.oid4vci import DI_VP, PRE_AUTHORIZED_CODE_GRANT, sign_key_proof
from credentials.strict_json import JSONObject, loads_object
from node.wallet.store import WalletError

__all__ = ["CONFIGURATION_ID", "NodeClient", "origin_of", "parse_offer"]

#: The credential configuration the wallet asks for.
CONFIGURATION_ID = "AEOCertificate"
_TIMEOUT = (5.0, 30.0)
_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
_OFFER_SCHEME = "openid-credential-offer://"


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: HTTPS, or HTTP on loopback only.

    Raises:
        WalletError: Not such a URL.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WalletError(f"{url!r} is not an https:// URL")
    if parts.scheme == "http" and not _loopback(parts.hostname):
        raise WalletError(f"{url}: plain http is refused except on loopback; use https://")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise WalletError(f"{url}: give the node's origin only (scheme://host[:port])")
    return f"{parts.scheme}://{parts.netloc}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_offer(code: str) -> tuple[str | None, str, bool]:
    """The issuer, pre-authorised code and whether a transaction code is asked, from ``code``.

    ``code`` is the pre-authorised code itself, or an ``openid-credential-offer://`` URL
    holding the offer by value (as ``trustlane aeo offer`` prints it).

    Raises:
        WalletError: An offer URL that is not an offer this wallet can use.
    """
    if not code.startswith(_OFFER_SCHEME):
        if not code or any(c.isspace() for c in code):
            raise WalletError("--code must be the pre-authorised code or the offer URL")
        return None, code, True
    values = parse_qs(urlsplit(code).query).get("credential_offer", [])
    try:
        offer = loads_object(values[0].encode("utf-8")) if len(values) == 1 else None
    except MalformedInputError:
        offer = None
    grants = offer.get("grants") if offer is not None else None
    grant = grants.get(PRE_AUTHORIZED_CODE_GRANT) if isinstance(grants, dict) else None
    issuer = offer.get("credential_issuer") if offer is not None else None
    pre_authorized = grant.get("pre-authorized_code") if isinstance(grant, dict) else None
    if not isinstance(issuer, str) or not isinstance(pre_authorized, str):
        raise WalletError("the offer URL holds no pre-authorised code offer")
    assert isinstance(grant, dict)  # noqa: S101 - narrowed above
    return issuer, pre_authorized, "tx_code" in grant


class NodeClient:
    """Talks to one node (an issuer or a port) at ``base_url``.

    Args:
        base_url: The node's origin.
        ca_bundle: A PEM file of CAs to trust instead of the system roots.
        timeout: Connect and read timeouts in seconds.

    """

    def __init__(
        self,
        base_url: str,
        *,
        ca_bundle: Path | None = None,
        timeout: tuple[float, float] = _TIMEOUT,
    ) -> None:
        self.origin = origin_of(base_url)
        if ca_bundle is not None and not ca_bundle.is_file():
            raise WalletError(f"--ca-bundle {ca_bundle}: no such file")
        self._verify: str | bool = str(ca_bundle) if ca_bundle is not None else True
        self._timeout = timeout

    # -- plumbing ------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        url: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> tuple[int, JSONObject]:
        if origin_of_url(url) != self.origin:
            raise WalletError(f"{url} is not on {self.origin}; refusing to send anything there")
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            with requests.request(
                method,
                url,
                headers=headers,
                json=json_body,
                data=form,
                timeout=self._timeout,
                verify=self._verify,
                allow_redirects=False,
                stream=True,
            ) as response:
                data = response.raw.read(_MAX_RESPONSE_BYTES + 1, decode_content=True)
                status = response.status_code
        except requests.exceptions.SSLError as e:
            raise WalletError(
                f"{url}: TLS verification failed (use --ca-bundle for a private CA): "
                f"{type(e).__name__}"
            ) from e
        except requests.RequestException as e:
            raise WalletError(
                f"{url}: cannot reach the node ({type(e).__name__}): check the URL and that "
                "the node is running"
            ) from e
        if len(data) > _MAX_RESPONSE_BYTES:
            raise WalletError(f"{url}: the answer is larger than {_MAX_RESPONSE_BYTES} bytes")
        try:
            body = loads_object(data)
        except MalformedInputError as e:
            raise WalletError(f"{url}: answered {status} without a JSON object") from e
        return status, body

    @staticmethod
    def _refusal(url: str, status: int, body: JSONObject) -> WalletError:
        if "error" in body:  # OAuth error shape
            return WalletError(
                f"{url}: {status} {body.get('error')}: {body.get('error_description', '')}"
            )
        code = body.get("code", "")
        return WalletError(f"{url}: {status} {code}: {body.get('detail', '')}")

    # -- receiving -----------------------------------------------------------------------

    def receive(
        self, code: str, tx_code: str | None, key: PrivateKey, *, now: datetime
    ) -> JSONObject:
        """Redeem a pre-authorised code and return the credential issued to ``key``'s did:key.

        Raises:
            WalletError: The node refused (the OAuth error is named), or answered something
                that is not what OpenID4VCI says.
        """
        metadata_url = f"{self.origin}/.well-known/openid-credential-issuer"
        status, metadata = self._request("GET", metadata_url)
        if status != 200:
            raise self._refusal(metadata_url, status, metadata)
        issuer = metadata.get("credential_issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self.origin:
            raise WalletError(f"{metadata_url}: names another credential issuer ({issuer!r})")
        configurations = metadata.get("credential_configurations_supported")
        if not isinstance(configurations, dict) or CONFIGURATION_ID not in configurations:
            raise WalletError(f"{self.origin} does not issue {CONFIGURATION_ID} credentials")
        as_url = f"{self.origin}/.well-known/oauth-authorization-server"
        status, as_metadata = self._request("GET", as_url)
        token_endpoint = as_metadata.get("token_endpoint")
        if status != 200 or not isinstance(token_endpoint, str):
            raise WalletError(f"{as_url}: names no token endpoint")
        form = {"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": code}
        if tx_code is not None:
            form["tx_code"] = tx_code
        status, token = self._request("POST", token_endpoint, form=form)
        access_token = token.get("access_token")
        if status != 200 or not isinstance(access_token, str):
            raise self._refusal(token_endpoint, status, token)
        nonce_endpoint = _endpoint(metadata, "nonce_endpoint", metadata_url)
        status, nonce = self._request("POST", nonce_endpoint)
        c_nonce = nonce.get("c_nonce")
        if status != 200 or not isinstance(c_nonce, str):
            raise self._refusal(nonce_endpoint, status, nonce)
        proof = sign_key_proof(key, nonce=c_nonce, issuer=issuer, created=now)
        credential_endpoint = _endpoint(metadata, "credential_endpoint", metadata_url)
        status, answer = self._request(
            "POST",
            credential_endpoint,
            token=access_token,
            json_body={"credential_configuration_id": CONFIGURATION_ID, "proofs": {DI_VP: [proof]}},
        )
        if status != 200:
            raise self._refusal(credential_endpoint, status, answer)
        items = answer.get("credentials")
        first = items[0] if isinstance(items, list) and len(items) == 1 else None
        credential = first.get("credential") if isinstance(first, dict) else None
        if not isinstance(credential, dict):
            raise WalletError(f"{credential_endpoint}: the answer holds no credential")
        return credential

    # -- presenting ----------------------------------------------------------------------

    def challenge(self, token: str, *, consignment: str, port: str) -> JSONObject:
        """Ask the port node for a challenge (``POST /challenges``; an officer's token).

        Raises:
            WalletError: The node refused.
        """
        url = f"{self.origin}/challenges"
        status, body = self._request(
            "POST", url, token=token, json_body={"consignment": consignment, "port": port}
        )
        if status != 201 or not isinstance(body.get("challenge"), str):
            raise self._refusal(url, status, body)
        return body

    def verify(
        self, token: str, presentation: JSONObject, *, issued: JSONObject
    ) -> tuple[int, JSONObject]:
        """Post a presentation for an issued challenge; the status and the result.

        Raises:
            WalletError: The node refused the request itself (not 200 or 422).
        """
        url = f"{self.origin}/presentations/verify"
        request = {
            "verifiablePresentation": presentation,
            "options": {
                "challenge": issued["challenge"],
                "domain": issued["domain"],
                "consignment": issued["consignment"],
                "port": issued["port"],
            },
        }
        status, body = self._request("POST", url, token=token, json_body=request)
        if status not in (200, 422):
            raise self._refusal(url, status, body)
        return status, body


def origin_of_url(url: str) -> str:
    """The origin of any URL (for the same-origin rule), without the path checks."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _endpoint(metadata: JSONObject, name: str, where: str) -> str:
    value = metadata.get(name)
    if not isinstance(value, str):
        raise WalletError(f"{where}: names no {name}")
    return value


def dumps_pretty(value: object) -> str:
    """JSON for files and terminals (indented, UTF-8)."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
