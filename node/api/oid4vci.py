"""The wallet-facing endpoints of this node's credential issuer (OpenID4VCI 1.0).

Public (no node token; see ``PUBLIC_ENDPOINTS``): what authenticates a wallet is the
pre-authorised code and its transaction code (token endpoint), then the access token and the
holder's proof over a node nonce (credential endpoint).

- ``GET /.well-known/openid-credential-issuer``: Credential Issuer Metadata (§12.2).
- ``GET /.well-known/oauth-authorization-server``: where the token endpoint is (RFC 8414).
- ``POST /token``: form-encoded pre-authorised code grant (§6) -> access token.
- ``POST /nonce``: a single-use ``c_nonce`` (§7).
- ``POST /credential``: the offer's one credential, for a ``di_vp`` key proof (§8).

Refusals of ``/token`` and ``/credential`` use the OAuth error shape
``{"error", "error_description"}`` (RFC 6749 §5.2, RFC 6750 §3.1, OpenID4VCI §8.3.1);
everything else (404, 405, 413, 503) is an RFC 9457 problem as on the rest of the node.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request

from credentials.oid4vci import PRE_AUTHORIZED_CODE_GRANT
from node.api.common import MAX_REQUEST_BYTES, Clock
from node.services.offers import OAuthError, OfferService

__all__ = ["make_blueprint"]

_FORM = "application/x-www-form-urlencoded"
_MAX_FORM_VALUE = 512


def _form_value(name: str) -> str:
    values = request.form.getlist(name)
    if not values:
        raise OAuthError("invalid_request", f"missing parameter {name}")
    if len(values) > 1:
        raise OAuthError("invalid_request", f"parameter {name} given more than once")
    value = values[0]
    if not value or len(value) > _MAX_FORM_VALUE:
        raise OAuthError("invalid_request", f"parameter {name} is empty or too long")
    return value


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise OAuthError(
            "invalid_token", "a bearer access token from the token endpoint is required", status=401
        )
    return value.strip()


def make_blueprint(*, offers: OfferService, clock: Clock) -> Blueprint:
    """The OpenID4VCI blueprint (metadata, token, nonce and credential endpoints)."""
    bp = Blueprint("oid4vci", __name__)

    @bp.errorhandler(OAuthError)
    def _oauth_error(error: OAuthError) -> Response:
        response = jsonify({"error": error.error, "error_description": error.message})
        response.status_code = error.status
        if error.status == 401:
            response.headers["WWW-Authenticate"] = (
                f'Bearer realm="{offers.issuer}", error="{error.error}"'
            )
        return response

    @bp.get("/.well-known/openid-credential-issuer")
    def issuer_metadata() -> Response:
        return jsonify(offers.issuer_metadata())

    @bp.get("/.well-known/oauth-authorization-server")
    def authorization_server_metadata() -> Response:
        return jsonify(offers.authorization_server_metadata())

    @bp.post("/token")
    def token() -> Response:
        if request.mimetype != _FORM:
            raise OAuthError("invalid_request", f"send the token request as {_FORM}")
        grant = _form_value("grant_type")
        if grant != PRE_AUTHORIZED_CODE_GRANT:
            raise OAuthError(
                "unsupported_grant_type", f"only {PRE_AUTHORIZED_CODE_GRANT} is supported"
            )
        code = _form_value("pre-authorized_code")
        tx_code = _form_value("tx_code")
        access_token, expires_in = offers.exchange(code, tx_code, now=clock())
        return jsonify(
            {"access_token": access_token, "token_type": "Bearer", "expires_in": expires_in}
        )

    @bp.post("/nonce")
    def nonce() -> Response:
        return jsonify({"c_nonce": offers.new_nonce(now=clock())})

    @bp.post("/credential")
    def credential() -> Response:
        offer = offers.authorize(_bearer(), now=clock())
        mimetype = request.mimetype or ""
        if mimetype != "application/json":
            raise OAuthError(
                "invalid_credential_request", "send the credential request as application/json"
            )
        limit: int = current_app.config[MAX_REQUEST_BYTES]
        body = request.get_data(cache=False)
        if len(body) > limit:
            raise OAuthError("invalid_credential_request", f"larger than {limit} bytes")
        signed = offers.issue(offer, body, now=clock())
        return jsonify({"credentials": [{"credential": signed}]})

    return bp
