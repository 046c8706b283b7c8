"""The demo's story, step by step, over three real nodes (EU, US, JP) on loopback.

Each step prints what a customs officer would want to know and records one row of the
summary. A step that does not go as the story says raises :class:`DemoError`; the command
then stops the nodes and exits non-zero with that one line.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from credentials.datetimes import format_datetime
from credentials.keys import PrivateKey
from credentials.model import VC_V2_CONTEXT
from credentials.signing import sign_presentation
from node.demo.nodes import DemoError, DemoNode, run_cli
from node.demo.trader import Wallet
from node.tls_pilot import PilotCA
from scan_attestation.adapters import parse_scan
from scan_attestation.attestation import build_scan_attestation, sign_as_device

__all__ = ["Federation", "Row", "Story"]

SITE = "NLRTM"  # EU's port of loading: Rotterdam
US_PORT = "USLAX"
JP_PORT = "JPTYO"
CONTAINERS = ("YMLU3030933", "CSQU3054383")
CONSIGNMENT = "6DE123456789012-DEMO-0001"
OTHER_CONSIGNMENT = "6US987654321-DEMO-0002"
TRADER_NAME = "Beispiel Logistik GmbH"
TRADER_EORI = "DE123456789012345"
TRADER_MID = "DEBEILOG1234HAM"
BENEFITS = ["origin-scan-recognised", "priority-processing", "reduced-examination"]
# The risk policy each node applies (bundled examples in federation_config/risk/).
POLICIES = {
    "eu": ("eu-aeo-default", "2026.1"),
    "us": ("us-ctpat-default", "2026.1"),
    "jp": ("jp-aeo-default", "2026.1"),
}
PROPAGATION_LIMIT = 30.0  # seconds the demo waits for a revocation to reach US


@dataclass
class Row:
    """One line of the summary."""

    step: str
    ok: bool
    detail: str
    figures: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The row as JSON."""
        return {"step": self.step, "ok": self.ok, "detail": self.detail, **self.figures}


@dataclass
class Federation:
    """The three nodes and the CA their certificates come from."""

    root: Path
    ca: PilotCA
    nodes: dict[str, DemoNode]

    @classmethod
    def create(cls, root: Path) -> Federation:
        """Make the CA and the three nodes' folders (nothing runs yet)."""
        root.mkdir(parents=True, exist_ok=True)
        ca = PilotCA.create()
        bundle = ca.write_bundle(root / "demo-ca.pem")
        nodes = {
            code: DemoNode(code, name, root / code, bundle)
            for code, name in (
                ("eu", "EU customs (DG TAXUD pilot)"),
                ("us", "US Customs and Border Protection (pilot)"),
                ("jp", "Japan Customs (pilot)"),
            )
        }
        for node in nodes.values():
            node.root.mkdir(exist_ok=True)
            node.data_dir.mkdir(mode=0o700, exist_ok=True)
        return cls(root, ca, nodes)

    @property
    def ca_bundle(self) -> Path:
        """The CA bundle every party trusts for the nodes' TLS."""
        return self.root / "demo-ca.pem"

    def stop(self) -> None:
        """Stop every node (safe to call twice)."""
        for node in self.nodes.values():
            node.stop()


class Story:
    """Runs the steps against a :class:`Federation`, printing narration to ``out``."""

    def __init__(self, federation: Federation, out: TextIO = sys.stdout) -> None:
        self.fed = federation
        self.out = out
        self.rows: list[Row] = []
        self.eu = federation.nodes["eu"]
        self.us = federation.nodes["us"]
        self.jp = federation.nodes["jp"]
        self.wallet = Wallet(federation.root / "trader-wallet", federation.ca_bundle)
        self.credential: dict[str, Any] = {}
        self.bundles: list[dict[str, Any]] = []
        self._last_request: dict[str, Any] = {}

    # -- narration -----------------------------------------------------------------------

    def say(self, text: str = "") -> None:
        """One line of narration."""
        print(text, file=self.out, flush=True)

    def step(self, title: str, run: Callable[[], Row]) -> Row:
        """Print the title, run the step and record its row."""
        self.say()
        self.say(f"== {title}")
        row = run()
        self.rows.append(row)
        if not row.ok:
            raise DemoError(f"{row.step}: {row.detail}")
        return row

    # -- the steps ------------------------------------------------------------------------

    def run(self) -> list[Row]:
        """Every step in order; returns the summary rows."""
        self.step("Three administrations start their nodes", self.start_nodes)
        self.step("They pin each other's keys and sign agreements", self.sign_agreements)
        self.step("EU grants an AEO credential to a trader", self.grant_credential)
        self.step("EU's radiation portal and X-ray scanner scan the containers", self.scan)
        self.step("The trader presents at the Port of Los Angeles", self.present_at_us)
        self.step("The same presentation, replayed", self.replay)
        self.step("A US trader presents at Tokyo (no US-JP agreement)", self.us_trader_at_jp)
        self.step("EU revokes the credential: how long until US refuses it", self.revoke)
        self.step("An auditor checks the scan bundle offline", self.audit)
        return self.rows

    def start_nodes(self) -> Row:
        """``node init`` each node with a certificate from the demo CA; pin; serve."""
        for node in self.fed.nodes.values():
            cert, key = self.fed.ca.issue("127.0.0.1", node.data_dir)
            node.init(cert, key)
            self.say(f"   {node.code.upper()}  {node.did}")
            self.say(f"       key {node.key}  at {node.base_url}")
        peers = {"eu": [self.us, self.jp], "us": [self.eu], "jp": [self.eu]}
        for code, node in self.fed.nodes.items():
            node.write_federation(peers[code], interval=5, policy=POLICIES[code])
        started = time.monotonic()
        for node in self.fed.nodes.values():
            node.start()
        seconds = time.monotonic() - started
        self.say(f"   three nodes serving HTTPS on loopback ({seconds:.1f} s)")
        return Row("nodes", True, "EU, US, JP serving", {"startSeconds": round(seconds, 2)})

    def sign_agreements(self) -> Row:
        """Sync the pinned peers, then EU proposes and US and JP countersign."""
        self.say("   EU pins US and JP; US and JP pin EU (keys exchanged out of band).")
        self.say("   No agreement and no pins between US and JP.")
        for node in self.fed.nodes.values():
            outcomes = node.call("POST", "/registry/sync", {})[1]["outcomes"]
            bad = [o for o in outcomes if o["resource"] == "did_document" and not o["ok"]]
            if bad:
                return Row("agreements", False, f"{node.code} could not sync: {bad[0]}")
        agreements = []
        for partner, programme, levels in (
            (self.us, "CTPAT", ["Tier2", "Tier3"]),
            (self.jp, "JP-AEO", ["AEO-Exporter", "AEO-Importer"]),
        ):
            body = {
                "peer": partner.did,
                "recognitions": [
                    _recognition(partner.did, self.eu.did, "EU-AEO", ["AEOS", "AEOF"]),
                    _recognition(self.eu.did, partner.did, programme, levels),
                ],
                "noticePeriodDays": 90,
            }
            proposed = self.eu.call("POST", "/mras", body)[1]
            agreement = proposed["agreement"]["credentialSubject"]["id"]
            partner.call("POST", "/mras/countersign", {"id": agreement})
            states = {a["id"]: a["state"] for a in self.eu.call("GET", "/mras")[1]["agreements"]}
            if states.get(agreement) != "active":
                return Row("agreements", False, f"EU-{partner.code.upper()} is not active")
            agreements.append(agreement)
            self.say(f"   EU-{partner.code.upper()} agreement {agreement}: active,")
            self.say(f"       benefits {', '.join(BENEFITS)}")
        return Row("agreements", True, "EU-US and EU-JP active; none US-JP")

    def grant_credential(self) -> Row:
        """EU imports its AEO register, offers the trader a credential, the wallet redeems it."""
        register = self.fed.root / "eu-aeo-register.csv"
        register.write_text(_register_csv(), encoding="utf-8")
        imported = json.loads(self.eu.cli("aeo", "import", str(register), "--json"))
        self.say(f"   EU imports its AEO register: {imported.get('issued', '?')} traders")
        offer = json.loads(self.eu.cli("aeo", "offer", f"EORI:{TRADER_EORI}", "--json"))
        self.say(
            f"   EU offers {TRADER_NAME} a credential (offer {offer['id'][:8]}..., "
            f"expires {offer['expires']});"
        )
        self.say("       the PIN goes by a second channel (letter, SMS)")
        holder = self.wallet.init()
        self.say(f"   the trader's wallet makes its key: {holder}")
        self.credential = self.wallet.receive(
            self.eu.base_url, offer["credentialOfferUrl"], offer["txCode"]
        )
        subject = self.credential["credentialSubject"]
        bound = subject["id"] == holder
        self.say(f"   wallet received {self.credential['id']} ({subject['level']}),")
        self.say(f"       issued to the wallet's key: {bound}")
        return Row("credential", bound, f"{subject['level']} credential in the trader's wallet")

    def scan(self) -> Row:
        """Two EU devices scan the containers; EU logs them; US and JP cosign the log."""
        portal, scanner = PrivateKey.generate(), PrivateKey.generate()
        due = format_datetime(_now() + timedelta(days=90))
        portal_auth = self._register(portal, "nlrtm-rpm-1", ["rpm"], calibrationDue=due)
        scanner_auth = self._register(scanner, "nlrtm-nii-7", ["xray"])
        radiation = _attestation(portal, portal_auth, _portal_scan(), CONTAINERS)
        image = _attestation(scanner, scanner_auth, _xray_scan(), CONTAINERS)
        logged = []
        for attestation in (radiation, image):
            answer = self.eu.call("POST", "/scans", attestation, admin=False)[1]
            scan = answer["attestation"]["credentialSubject"]["scan"]
            logged.append(answer["attestation"]["id"])
            self.say(
                f"   {scan['modality']:<5} {scan['result']:<6} logged as entry "
                f"{answer['log']['attestation']['index']} of EU's transparency log"
            )
        cosign = [
            o
            for o in self.eu.call("POST", "/registry/sync", {})[1]["outcomes"]
            if o["resource"] == "cosign"
        ]
        witnesses = sorted(self._code_of(o["peer"]) for o in cosign if o["ok"])
        self.say(f"   EU's checkpoint cosigned by {', '.join(witnesses) or 'nobody'}")
        for attestation_id in logged:
            self.bundles.append(self.eu.call("GET", f"/scans/{attestation_id}/bundle")[1])
        ok = len(witnesses) == 2
        return Row("scans", ok, f"2 scans logged, cosigned by {len(witnesses)} witnesses")

    def present_at_us(self) -> Row:
        """The trader answers a US challenge; the US risk core decides with that evidence."""
        self._prime(self.us, self.credential)
        link = {
            "identifier": {"scheme": "EORI", "value": TRADER_EORI},
            "linked": {"scheme": "MID", "value": TRADER_MID},
            "note": "EU-US MRA identifier mapping",
        }
        self.us.call("POST", "/identifiers", link)
        self.say(f"   US crosswalk: EORI {TRADER_EORI} is MID {TRADER_MID} (CBP targets the MID)")
        issued = self.us.call("POST", "/challenges", {"consignment": CONSIGNMENT, "port": US_PORT})[
            1
        ]
        self.say(f"   US officer's client asks for a challenge for {CONSIGNMENT} at {US_PORT}")
        # The exporter received the scan bundles from EU and carries them in the presentation.
        files = []
        for n, bundle in enumerate(self.bundles):
            files.append(self.fed.root / f"scan-bundle-{n}.json")
            files[-1].write_text(json.dumps(bundle), encoding="utf-8")
        vp = self.wallet.present(
            CONSIGNMENT,
            US_PORT,
            issued["challenge"],
            issued["domain"],
            self.fed.root / "presentation-uslax.json",
            tuple(files),
        )
        self.say(
            f"   the trader's wallet signs a presentation for it, carrying the {len(files)} "
            "EU scans; it goes with the declaration"
        )
        options = {k: issued[k] for k in ("challenge", "domain", "consignment", "port")}
        # The officer wants each carried scan's checkpoint cosigned by one witness at least.
        options["minWitnesses"] = 1
        self._last_request = {
            "declaration": _declaration(),
            "presentation": {"verifiablePresentation": vp, "options": options},
        }
        assessment = self.us.call("POST", "/risk/assess", self._last_request)[1]
        decision = assessment["decision"]
        self._show_decision(assessment)
        benefits = decision.get("benefitsApplied", [])
        drawn = bool(decision.get("randomSelection", {}).get("selected"))
        if drawn:
            # The random floor: benefits lower it but never to zero, so a recognised trader
            # is still selected now and then (reproducibly, from the declaration id).
            self.say(
                "   selected at random: the floor no benefit removes (rate "
                f"{decision['randomSelection']['rate']})"
            )
        scans = assessment["evidence"]["scans"]
        weighed = sum(1 for scan in scans if scan.get("verified"))
        self.say(f"   the presented scans weighed as verified evidence: {weighed} of {len(scans)}")
        ok = (
            bool(benefits)
            and (decision["channel"] == "release" or drawn)
            and weighed == len(self.bundles)
        )
        how = "selected at random" if drawn else f"score {decision['score']}"
        return Row(
            "risk decision",
            ok,
            f"{decision['channel']} ({how}), benefits {', '.join(benefits)}, "
            f"{weighed} presented scans verified",
        )

    def replay(self) -> Row:
        """The same declaration and presentation again: the challenge is spent."""
        assessment = self.us.call("POST", "/risk/assess", self._last_request)[1]
        decision = assessment["decision"]
        notes = assessment["verification"].get("notes", [])
        self.say(f"   US decides {decision['channel']} without benefits:")
        for note in notes[:2]:
            self.say(f"   note: {note}")
        refused = not decision.get("benefitsApplied") and any("CHALLENGE_USED" in n for n in notes)
        return Row(
            "replay",
            refused,
            f"refused: CHALLENGE_USED, channel {decision['channel']}" if refused else "NOT refused",
        )

    def us_trader_at_jp(self) -> Row:
        """A C-TPAT trader at a JP port: JP does not know US, so no benefit."""
        us_trader = PrivateKey.generate()
        subject = _us_trader(us_trader.public_key.did)
        credential = self.us.call("POST", "/aeo-credentials", {"credentialSubject": subject})[1][
            "verifiableCredential"
        ]
        request = self._presentation(self.jp, us_trader, credential, OTHER_CONSIGNMENT, JP_PORT)
        _status, result = self.jp.call("POST", "/presentations/verify", request, expect=(200, 422))
        reasons = _failed_checks(result)
        self.say(
            f"   {subject['legalName']} (C-TPAT {subject['level']}) at {JP_PORT}: "
            f"benefits {', '.join(result.get('benefits', [])) or 'none'}"
        )
        for reason in reasons:
            self.say(f"   reason: {reason}")
        ok = not result.get("benefits") and bool(reasons)
        return Row("no agreement", ok, reasons[0] if reasons else "no reason given")

    def revoke(self) -> Row:
        """EU revokes; measure until US's verification says REVOKED."""
        body = {
            "credentialId": self.credential["id"],
            "credentialStatus": {"type": "BitstringStatusListEntry", "statusPurpose": "revocation"},
            "status": True,
        }
        started = time.monotonic()
        self.eu.call("POST", "/credentials/status", body)
        deadline = started + PROPAGATION_LIMIT
        while time.monotonic() < deadline:
            result = self.us.call(
                "POST",
                "/credentials/verify",
                {"verifiableCredential": self.credential},
                expect=(200, 422),
            )[1]
            status_check = {c["name"]: c.get("code") for c in result["checks"]}.get("status")
            if status_check == "REVOKED":
                ms = (time.monotonic() - started) * 1000
                self.say(
                    f"   US refuses the credential {ms:.0f} ms after EU revoked it "
                    "(signed push, status list re-fetched)"
                )
                return Row(
                    "revocation",
                    True,
                    f"seen at US after {ms:.0f} ms",
                    {"propagationMs": round(ms)},
                )
            time.sleep(0.05)
        return Row("revocation", False, f"US still accepted it after {PROPAGATION_LIMIT:.0f} s")

    def audit(self) -> Row:
        """``trustlane audit bundle`` with the three nodes' keys, no network."""
        folder = self.fed.root / "auditor"
        folder.mkdir(exist_ok=True)
        trust = folder / "trusted-nodes.json"
        trust.write_text(json.dumps({n.did: [n.key] for n in self.fed.nodes.values()}))
        bundle = folder / "xray-bundle.json"
        bundle.write_text(json.dumps(self.bundles[-1]))
        done = run_cli(
            "audit", "bundle", "--trust", str(trust), "--min-witnesses", "2", str(bundle)
        )
        for line in done.stdout.strip().splitlines():
            self.say(f"   {line}")
        return Row(
            "audit",
            done.returncode == 0,
            "bundle verified offline, 2 witnesses"
            if done.returncode == 0
            else (done.stderr.strip() or "audit failed"),
        )

    # -- helpers -----------------------------------------------------------------------------

    def _register(
        self, key: PrivateKey, name: str, modalities: list[str], **extra: Any
    ) -> dict[str, Any]:
        body = {
            "name": name,
            "device": key.public_key.did,
            "modalities": modalities,
            "site": SITE,
            **extra,
        }
        answer = self.eu.call("POST", "/devices", body)[1]
        self.say(f"   device {name} ({', '.join(modalities)}) authorised at {SITE}")
        authorization: dict[str, Any] = answer["deviceAuthorization"]
        return authorization

    def _show_decision(self, assessment: dict[str, Any]) -> None:
        decision = assessment["decision"]
        self.say(
            f"   US risk core: {decision['channel'].upper()} (score {decision['score']}, "
            f"policy {decision['policy']['policyId']} {decision['policy']['version']})"
        )
        for reason in decision.get("reasons", [])[:6]:
            self.say(f"     {reason['code']:<28} {reason.get('message', '')}")

    def _code_of(self, did: str) -> str:
        """EU, US or JP for a node's DID (the DID itself for anything else)."""
        for node in self.fed.nodes.values():
            if node.did == did:
                return node.code.upper()
        return did

    def _prime(self, port: DemoNode, credential: dict[str, Any]) -> None:
        """Let the port hold the issuer's status lists (a list not held yet is 'unknown')."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            result = port.call(
                "POST",
                "/credentials/verify",
                {"verifiableCredential": credential},
                expect=(200, 422),
            )[1]
            codes = {c.get("code") for c in result["checks"]}
            if "STATUS_UNAVAILABLE" not in codes:
                return
            time.sleep(0.1)

    def _presentation(
        self,
        port: DemoNode,
        holder: PrivateKey,
        credential: dict[str, Any],
        consignment: str,
        unlocode: str,
    ) -> dict[str, Any]:
        issued = port.call("POST", "/challenges", {"consignment": consignment, "port": unlocode})[1]
        vp = sign_presentation(
            {
                "@context": [VC_V2_CONTEXT],
                "type": ["VerifiablePresentation"],
                "holder": holder.public_key.did,
                "verifiableCredential": [credential],
            },
            holder,
            challenge=issued["challenge"],
            domain=issued["domain"],
            created=_now(),
        )
        options = {k: issued[k] for k in ("challenge", "domain", "consignment", "port")}
        return {"verifiablePresentation": vp, "options": options}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _recognition(recognising: str, issuing: str, programme: str, levels: list[str]) -> Any:
    return {
        "recognisingParty": recognising,
        "issuingParty": issuing,
        "programmes": [{"programme": programme, "levels": levels}],
        "credentialTypes": ["AEOCertificate"],
        "roles": ["exporter", "importer", "manufacturer"],
        "benefits": BENEFITS,
    }


def _declaration() -> dict[str, Any]:
    """The US import declaration for the consignment: the exporter is known by its MID."""
    return {
        "declarationId": "26USLAX0000000042",
        "ucr": CONSIGNMENT,
        "declarant": {
            "name": "Example Brokers Inc",
            "identifiers": [{"scheme": "TIN", "value": "12-3456789"}],
            "country": "US",
        },
        "exporter": {
            "name": TRADER_NAME,
            "identifiers": [{"scheme": "MID", "value": TRADER_MID}],
            "country": "DE",
        },
        "importer": {
            "name": "Example Imports LLC",
            "identifiers": [{"scheme": "TIN", "value": "98-7654321"}],
            "country": "US",
        },
        "consignorCountry": "DE",
        "consigneeCountry": "US",
        "portOfLoading": SITE,
        "portOfDischarge": US_PORT,
        "containers": list(CONTAINERS),
        "goodsItems": [
            {
                "hsCode": "8504401100",
                "description": "switch-mode power supplies",
                "declaredValue": {"amount": 12000.5, "currency": "EUR"},
                "grossMassKg": 812.4,
            }
        ],
        "transportDocument": "MAEU240512345",
    }


def _register_csv() -> str:
    """EU's AEO register as ``aeo import`` reads it: the trader and two others."""
    until = format_datetime(_now() + timedelta(days=730))
    header = (
        "id,legalName,identifierScheme,identifierValue,country,authorisationNumber,"
        "programme,level,roles,reassessmentDate"
    )
    rows = [
        (
            f"did:web:beispiel-logistik.example,{TRADER_NAME},EORI,{TRADER_EORI},DE,"
            "DEAEOF0000012345,EU-AEO,AEOF,exporter;importer"
        ),
        (
            "did:web:rotterdam-forwarding.example,Rotterdam Forwarding B.V.,EORI,NL123456789,NL,"
            "NLAEOF0000004711,EU-AEO,AEOF,exporter"
        ),
        (
            "did:web:lyon-textiles.example,Lyon Textiles SA,EORI,FR12345678901,FR,"
            "FRAEOC0000000815,EU-AEO,AEOC,importer"
        ),
    ]
    return "\n".join([header, *(f"{row},{until}" for row in rows)]) + "\n"


def _us_trader(holder: str) -> dict[str, Any]:
    return {
        "id": holder,
        "legalName": "Example Freight Inc.",
        "identifiers": [{"scheme": "MID", "value": "USEXAFRE1234LAX"}],
        "country": "US",
        "authorisationNumber": "CTPAT-0000-4711",
        "programme": "CTPAT",
        "level": "Tier2",
        "roles": ["importer"],
        "reassessmentDate": format_datetime(_now() + timedelta(days=730)),
    }


def _portal_scan() -> Any:
    sample = resources.files("scan_attestation").joinpath("samples/AnnexD.n42").read_bytes()
    scan = parse_scan(sample).to_json()
    scan["scanTime"] = format_datetime(_now())  # the sample's portal, scanning today
    return scan


def _xray_scan() -> Any:
    image = b"II*\x00 radiograph of two containers, demo"
    record = {
        "scannerId": "NII-NLRTM-07",
        "scanTime": format_datetime(_now()),
        "containerIds": list(CONTAINERS),
        "imageDigest": "sha256:" + hashlib.sha256(image).hexdigest(),
        "algorithm": {"name": "ThreatFinder", "version": "4.1.0", "verdict": "clear"},
    }
    return parse_scan(json.dumps(record).encode()).to_json()


def _attestation(
    key: PrivateKey, authorization: dict[str, Any], scan: Any, containers: tuple[str, ...]
) -> dict[str, Any]:
    unsigned = build_scan_attestation(
        attestation_id=f"urn:uuid:{uuid.uuid4()}",
        device=key.public_key.did,
        authorization_id=authorization["id"],
        site=SITE,
        scan=scan,
        containers=containers,
        seals=("NL7712345",),
        transport_document="MAEU240512345",
    )
    signed: dict[str, Any] = sign_as_device(unsigned, key, created=_now())
    return signed


def _failed_checks(result: dict[str, Any]) -> list[str]:
    """Why a presentation earned nothing: each credential's failed checks that ran."""
    reasons = []
    for credential in result.get("credentialResults", []):
        for check in credential.get("checks", []):
            if check.get("status") != "pass" and check.get("code") != "NOT_RUN":
                reasons.append(f"{check['name']}: {check.get('code')}: {check.get('detail', '')}")
    if not reasons:
        reasons = [f"{e.get('code')}: {e.get('detail', '')}" for e in result.get("errors", [])]
    return reasons
