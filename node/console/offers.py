"""The console's offer page: offer a trader its AEO credential for its wallet (OpenID4VCI).

The same action as ``POST /credential-offers`` (:meth:`OfferService.create_offer`), with the
same scope. The answer to the form shows the offer and the transaction code once: the node
keeps only their hashes, so they are rendered straight into that answer (never put in a URL,
a redirect or a cookie) and cannot be shown again. A lost code means a new offer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import segno
from flask import Blueprint, Response, g, request
from markupsafe import Markup

from credentials.errors import MalformedInputError
from credentials.oid4vci import PRE_AUTHORIZED_CODE_GRANT
from node.console.web import console_blueprint, console_scope, current_user, render_page
from node.services.console_sessions import ConsoleSessions
from node.services.offers import OfferService
from node.services.status import NotFoundError, StatusConflictError

__all__ = ["make_blueprint", "offer_qr_svg"]

_TRADER_SHOWN = 200


def offer_qr_svg(url: str) -> Markup:
    """The offer link as a QR code for the trader's wallet app to scan (inline SVG).

    Error correction M (15% of the symbol may be unreadable: a screen's glare, a smudge),
    dark on a white quiet zone of 4 modules as ISO/IEC 18004 asks; presentation attributes
    only, so the console's Content-Security-Policy (no inline styles) lets it show. The SVG
    holds no text of the offer, only its modules.
    """
    symbol = segno.make(url, error="m", micro=False)
    return Markup(  # noqa: S704 - segno's own SVG of module paths, nothing from the request
        symbol.svg_inline(scale=4, border=4, dark="#000", light="#fff", title="Credential offer")
    )


def make_blueprint(
    *, sessions: ConsoleSessions, offer_service: OfferService, clock: Callable[[], datetime]
) -> Blueprint:
    """The ``/console/offers`` blueprint."""
    bp = console_blueprint("console_offers", __name__, sessions=sessions, clock=clock)

    def _form(trader: str, *, status: int = 200, error: str | None = None) -> Response:
        return render_page(
            "console/offer.html",
            status=status,
            trader=trader[:_TRADER_SHOWN],
            notices=[("error", error)] if error else [],
        )

    @bp.get("/offers")
    @console_scope("issuer")
    def offers() -> Response:
        # Prefilled from a credential's page (?trader=urn:uuid:...); shown escaped.
        return _form(request.args.get("trader", ""))

    @bp.post("/offers")
    @console_scope("issuer")
    def create_offer() -> Response:
        trader = request.form.get("trader", "").strip()
        try:
            created = offer_service.create_offer(
                trader, now=g.console_now, actor=current_user().actor
            )
        except MalformedInputError as e:
            return _form(trader, status=400, error=e.message)
        except NotFoundError as e:
            return _form(trader, status=404, error=e.message)
        except StatusConflictError as e:
            return _form(trader, status=409, error=e.message)
        grant = created.offer["grants"]
        assert isinstance(grant, dict)  # noqa: S101 - built by create_offer
        code = grant[PRE_AUTHORIZED_CODE_GRANT]
        assert isinstance(code, dict)  # noqa: S101 - built by create_offer
        return render_page(
            "console/offer_created.html",
            created=created,
            pre_authorized_code=code["pre-authorized_code"],
            qr=offer_qr_svg(created.url),
        )

    return bp
