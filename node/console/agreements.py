"""The console's agreement pages: mutual recognition agreements with pinned peers.

``/console/agreements`` lists them; ``/console/agreements/<id>`` is the review page (what
each side recognises, in words, beside the raw document; who signed; a termination notice).
``registry-admin`` proposes (a peer from the pinned peers and the recognitions as JSON, typed
or uploaded), countersigns a peer's proposal and gives notice, each after a confirmation page
that shows what is signed; ``officer`` and ``auditor`` may read. The same scopes as ``/mras``
in the API.

Each change goes through the node's agreement workflow and is delivered to the peer at once,
as ``trustlane registry mra`` does; the page then says whether the peer took it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import datetime

from flask import Blueprint, Response, g, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from credentials.aeo import SchemaValidationError
from credentials.errors import TrustlaneError
from credentials.strict_json import JSONObject, loads, loads_object
from node.api.errors import status_of
from node.api.routing import url_id_route
from node.console.devices import FormError, form_date
from node.console.web import console_blueprint, console_scope, current_user, render_page
from node.federation.agreements import AgreementService
from node.federation.peers import PeerService
from node.services.console_registry import ConsoleRegistry, notice_effective, terms_digest
from node.services.console_sessions import ConsoleSessions
from node.services.identity import NodeIdentity
from node.services.tokens import has_scope
from node.storage.db import Database
from registry.mra import MutualRecognitionAgreement, build_mra

__all__ = ["DEFAULT_NOTICE_DAYS", "MAX_RECOGNITIONS_BYTES", "make_blueprint"]

#: Notice period a proposal form starts with (as the CLI's default).
DEFAULT_NOTICE_DAYS = 90
#: Largest recognitions text or file taken (the example is under 1 KiB).
MAX_RECOGNITIONS_BYTES = 64 * 1024
_PLACEHOLDER_ID = "urn:uuid:00000000-0000-4000-8000-000000000000"

#: Fixed notices after a change (``?done=``): never text from the request.
DONE = {
    "proposed": (
        "ok",
        "Proposal signed and delivered to the peer: it is pending until the peer countersigns it.",
    ),
    "proposed-undelivered": (
        "error",
        "Proposal signed and stored here, but the peer did not "
        "take it (unreachable or refused; see the node's log). Its "
        "administrator can take it with POST /mras/receive.",
    ),
    "countersigned": ("ok", "Agreement countersigned and delivered: it is active."),
    "countersigned-undelivered": (
        "error",
        "Agreement countersigned: it is active here; the "
        "peer did not take it yet and will at its next sync.",
    ),
    "terminated": ("ok", "Notice given and delivered: the agreement ends after its notice period."),
    "terminated-undelivered": (
        "error",
        "Notice given here, but the peer did not take it "
        "(see the node's log); hand the notice over or try again.",
    ),
}


class _Delivery:
    """Wraps the node's delivery to a peer and remembers whether the peer took it."""

    def __init__(self, send: Callable[[str, JSONObject], bool]) -> None:
        self._send = send
        self.delivered = False

    def __call__(self, peer_did: str, document: JSONObject) -> bool:
        self.delivered = self._send(peer_did, document)
        return self.delivered


def _recognitions() -> list[JSONObject]:
    """The recognitions from the uploaded file, or else from the text area."""
    upload = request.files.get("recognitions_file")
    raw: bytes
    if upload is not None and upload.filename:
        raw = upload.stream.read(MAX_RECOGNITIONS_BYTES + 1)
    else:
        raw = request.form.get("recognitions", "").encode()
    if not raw.strip():
        raise FormError("Give the recognitions: paste the JSON or choose a file.")
    if len(raw) > MAX_RECOGNITIONS_BYTES:
        raise FormError(f"The recognitions are larger than {MAX_RECOGNITIONS_BYTES} bytes.")
    try:
        value = loads(raw)
    except TrustlaneError as e:
        raise FormError(f"The recognitions are not valid JSON: {e.message}") from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise FormError("The recognitions must be a JSON array of one or two objects.")
    return [v for v in value if isinstance(v, dict)]


def make_blueprint(
    *,
    sessions: ConsoleSessions,
    db: Database,
    identity: NodeIdentity,
    peers: PeerService,
    deliver: Callable[[str, JSONObject], bool],
    views: ConsoleRegistry,
    clock: Callable[[], datetime],
) -> Blueprint:
    """The ``/console/agreements`` blueprint."""
    bp = console_blueprint("console_agreements", __name__, sessions=sessions, clock=clock)

    def workflow() -> tuple[AgreementService, _Delivery]:
        delivery = _Delivery(deliver)
        service = AgreementService(
            db=db, identity=identity, peers=peers, clock=clock, deliver=delivery
        )
        return service, delivery

    def can_change() -> bool:
        return has_scope(current_user().token, "registry-admin")

    def notices() -> list[tuple[str, str]]:
        done = request.args.get("done", "")
        return [DONE[done]] if done in DONE else []

    @bp.get("/agreements")
    @console_scope("registry-admin", "officer", "auditor")
    def agreements() -> Response:
        names = views.names()
        return render_page(
            "console/agreements.html",
            agreements=[(r, m, views.label(r.peer_did, names)) for r, m in views.agreements()],
            can_change=can_change(),
            notices=notices(),
        )

    def propose_form(status: int = 200, errors: list[str] | None = None) -> Response:
        return render_page(
            "console/agreement_propose.html",
            status=status,
            peers=views.peers(),
            own=identity.did,
            form=request.form,
            default_notice=DEFAULT_NOTICE_DAYS,
            notices=[("error", e) for e in errors or []],
        )

    @bp.get("/agreements/new")
    @console_scope("registry-admin")
    def new_agreement() -> Response:
        return propose_form()

    @bp.post("/agreements")
    @console_scope("registry-admin")
    def propose() -> BaseResponse:
        try:
            peer_name = request.form.get("peer", "")
            peer = next((p for p in views.peers() if p.name == peer_name), None)
            if peer is None:
                raise FormError("Choose one of the pinned peers.")
            days_text = request.form.get("notice_days", "").strip()
            if not days_text.isdigit() or len(days_text) > 4:
                raise FormError("The notice period must be a whole number of days (0-730).")
            days = int(days_text)
            effective_from = form_date("effective_from", "Effective from") or g.console_now
            effective_until = form_date("effective_until", "Effective until")
            recognitions = _recognitions()
            try:
                build_mra(
                    agreement_id=_PLACEHOLDER_ID,
                    parties=[identity.did, peer.did],
                    recognitions=recognitions,
                    effective_from=effective_from,
                    effective_until=effective_until,
                    notice_period_days=days,
                    proposer=identity.did,
                )
            except SchemaValidationError as e:
                return propose_form(
                    422, [f"{err['path'] or '(root)'}: {err['message']}" for err in e.errors]
                )
            service, delivery = workflow()
            proposal = service.propose(
                peer_did=peer.did,
                recognitions=recognitions,
                effective_from=effective_from,
                effective_until=effective_until,
                notice_period_days=days,
                actor=current_user().actor,
            )
        except FormError as e:
            return propose_form(e.status, [e.message])
        except TrustlaneError as e:
            status = status_of(e)
            if status >= 500:
                raise
            return propose_form(status, [e.message])
        agreement_id = MutualRecognitionAgreement.from_dict(proposal).id
        done = "proposed" if delivery.delivered else "proposed-undelivered"
        return redirect(url_for(".agreement", agreement_id=agreement_id, done=done), 303)

    # Agreement ids are URIs (``urn:uuid:...``, possibly ``https://...`` from a peer), so
    # the action comes before the id: ``/agreements/countersign/<id>`` never matches this.
    @url_id_route(bp, "/agreements/<url:agreement_id>")
    @console_scope("registry-admin", "officer", "auditor")
    def agreement(agreement_id: str) -> Response:
        return render_page(
            "console/agreement.html",
            a=views.agreement(agreement_id, g.console_now),
            can_change=can_change(),
            notices=notices(),
        )

    def confirm_page(
        template: str, agreement_id: str, status: int = 200, error: str | None = None
    ) -> Response:
        view = views.agreement(agreement_id, g.console_now)
        return render_page(
            template,
            status=status,
            a=view,
            ends=notice_effective(view, g.console_now),
            notices=[("error", error)] if error else [],
        )

    def confirmed_action(
        page: str,
        agreement_id: str,
        act: Callable[[], object],
        delivery: _Delivery,
        done: str,
    ) -> BaseResponse:
        """Run ``act`` once the box is ticked; back to the agreement with what happened."""
        if request.form.get("confirm") != "yes":
            return confirm_page(page, agreement_id, 400, "Tick the box to confirm.")
        try:
            act()
        except TrustlaneError as e:
            status = status_of(e)
            if status >= 500:
                raise
            return confirm_page(page, agreement_id, status, e.message)
        if not delivery.delivered:
            done = f"{done}-undelivered"
        return redirect(url_for(".agreement", agreement_id=agreement_id, done=done), 303)

    @url_id_route(bp, "/agreements/countersign/<url:agreement_id>")
    @console_scope("registry-admin")
    def confirm_countersign(agreement_id: str) -> Response:
        return confirm_page("console/agreement_countersign.html", agreement_id)

    @bp.post("/agreements/countersign/<url:agreement_id>")
    @console_scope("registry-admin")
    def countersign(agreement_id: str) -> BaseResponse:
        page = "console/agreement_countersign.html"
        service, delivery = workflow()
        record = service.get(agreement_id)  # 404 page for an unknown agreement
        mra = MutualRecognitionAgreement.from_dict(loads_object(record.document))
        if mra.proposer == identity.did:
            return confirm_page(
                page,
                agreement_id,
                409,
                "This is this node's own proposal: only the peer can countersign it.",
            )
        if record.state != "pending":
            return confirm_page(
                page,
                agreement_id,
                409,
                f"This agreement is already {record.state}: only a pending proposal is "
                "countersigned.",
            )
        shown = request.form.get("terms_digest", "")
        if not hmac.compare_digest(shown.encode(), terms_digest(record).encode()):
            return confirm_page(
                page,
                agreement_id,
                409,
                "The agreement changed since the page was shown. "
                "Review it again before countersigning.",
            )
        return confirmed_action(
            page,
            agreement_id,
            lambda: service.countersign(agreement_id, actor=current_user().actor),
            delivery,
            "countersigned",
        )

    @url_id_route(bp, "/agreements/terminate/<url:agreement_id>")
    @console_scope("registry-admin")
    def confirm_terminate(agreement_id: str) -> Response:
        return confirm_page("console/agreement_terminate.html", agreement_id)

    @bp.post("/agreements/terminate/<url:agreement_id>")
    @console_scope("registry-admin")
    def terminate(agreement_id: str) -> BaseResponse:
        page = "console/agreement_terminate.html"
        service, delivery = workflow()
        record = service.get(agreement_id)
        if record.state != "active":
            return confirm_page(
                page,
                agreement_id,
                409,
                f"This agreement is {record.state}: only an active agreement is terminated.",
            )
        return confirmed_action(
            page,
            agreement_id,
            lambda: service.terminate(agreement_id, actor=current_user().actor),
            delivery,
            "terminated",
        )

    return bp
