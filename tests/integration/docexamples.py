"""Run the request examples of the docs against two in-process nodes.

An example is a block of the form::

    Request (`METHOD /path?query`, scope `SCOPE`, at EU):   (or: public, at US)

    ```json            (optional: the body; ``form`` for an urlencoded one, a line a field)
    {...}
    ```

    Answer `200` (`content/type`):          (the content type is optional)

    ```json            (the whole answer; or ``text``, with ", beginning" before the
    {...}              colon, for how the answer starts; or no block at all and a full
    ```                stop after the header: status and content type only)

:func:`check` sends an example to EU or US of :mod:`mrapair` (in the pages' order, one
:class:`Run` for both pages) and compares the answer. What cannot be the
same from run to run (ids, times, signatures, nonces, codes) is masked before comparing,
and the documented ids stand for those this run made at the same place of an earlier
answer. A request that carries something signed for this run (a device's scan, a wallet's
key proof, a holder's presentation) is built by a :data:`BUILDERS` entry: the documented
request must have the same shape and masked values, and the built one is sent.
:func:`rewrite` writes a run's answers into a page instead (for a change that alters
answers on purpose; ``TRUSTLANE_REWRITE_DOC_EXAMPLES=1``, see the test).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from flask.testing import FlaskClient
from mrapair import AEO_SUBJECT, Node
from test_scans import attestation
from werkzeug.test import TestResponse

from credentials.keys import PrivateKey
from credentials.model import VC_V2_CONTEXT
from credentials.oid4vci import PRE_AUTHORIZED_CODE_GRANT, sign_key_proof
from credentials.signing import sign_presentation
from node.services.risk import SELECTION_SECRET_PURPOSE
from node.services.tokens import SCOPES, create_token
from openapi_check import assert_matches_openapi, document
from peersim import Behaviour, PeerNetworkSimulator
from risk import selection_draw

ROOT = Path(__file__).resolve().parents[2]
#: The pages whose examples run, in this order (the second continues from the first).
PAGES = (ROOT / "docs" / "node.md", ROOT / "docs" / "api-examples.md")
#: The keys of the scenario: fixed, so that the documented DIDs are the run's own.
DEVICE_KEY = PrivateKey.from_seed(bytes([21]) * 32)
HOLDER_KEY = PrivateKey.from_seed(bytes([22]) * 32)
NEW_PEER_KEY = PrivateKey.from_seed(bytes([23]) * 32)
REPIN_KEY = PrivateKey.from_seed(bytes([24]) * 32)

EXAMPLE = re.compile(
    r"(?P<header>Request \(`(?P<method>GET|POST) (?P<target>\S+)`, "
    r"(?:scope (?P<scopes>`[^\n]*?)|(?P<public>public)), at (?P<node>EU|US)\):)\n\n"
    r"(?:```(?P<body_lang>json|form)\n(?P<body>.*?)\n```\n\n)?"
    r"Answer `(?P<status>\d{3})`(?: \(`(?P<content_type>[^`]+)`\))?"
    r"(?:(?P<first>, beginning)?:\n\n```(?P<answer_lang>json|text)\n(?P<answer>.*?)\n```|\.)",
    re.S,
)
_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_MASKS = [
    (_ID, "UUID"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z"), "TIME"),
    # At least 47 characters, as every multibase value here (a Multikey is 48, a proofValue
    # 87 or 88): a random 43-character base64url code (an offer's pre-authorised code) that
    # happens to start with z and use only base58 letters is no multibase.
    (re.compile(r"\bz[1-9A-HJ-NP-Za-km-z]{46,}"), "MULTIBASE"),
    (re.compile(r"\bz[1-9A-HJ-NP-Za-km-z]{11}\.\.\.[1-9A-HJ-NP-Za-km-z]{4}\b"), "KEY"),
    (re.compile(r"\b[0-9a-f]{32,64}\b"), "HEX"),
    (re.compile(r"\btoken:[0-9a-f]{16}\b"), "token:TOKEN_ID"),
    (re.compile(r"\btl_[0-9a-f]{16}_[A-Za-z0-9_-]{43}\b"), "TOKEN"),
    (re.compile(r"[A-Za-z0-9+/_-]{40,}={0,2}"), "BASE64"),
    (re.compile(r"(bit |#|index )\d+"), r"\1N"),
    (re.compile(r"^\d+$"), "N"),
]

#: Members whose value differs from run to run: an age in seconds (0 or 1, depending on
#: the clock) and the random selection draw of a risk decision (keyed with the node's secret).
_AGE = re.compile(r"^(?:.*[aA]geSeconds|draw)$")


@dataclasses.dataclass
class Example:
    """One documented request and its answer."""

    page: str
    method: str
    target: str
    node: str
    scopes: tuple[str, ...]  # () for a public route
    body_lang: str | None
    body: str | None
    status: int
    content_type: str | None
    answer_lang: str | None
    answer: str | None
    first_lines: bool
    #: Where the example is in its page: the request line, and the whole block's span.
    header: str = ""
    span: tuple[int, int] = (0, 0)

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def route(self) -> str:
        """``METHOD /openapi/{path}``: the operation of node/openapi.json it calls.

        Raises:
            LookupError: No operation of the document matches.
        """
        matches = []
        for template, item in document()["paths"].items():
            if self.method.lower() not in item:
                continue
            # A variable is one path segment, except the tile path (``{rest}``: the rest).
            pattern = re.sub(
                r"\\\{(\w+)\\\}",
                lambda m: ".+" if m[1] == "rest" else "[^/]+",
                re.escape(template),
            )
            if re.fullmatch(pattern, self.path):
                matches.append(template)
        if not matches:
            raise LookupError(f"{self.method} {self.path}: no such operation")
        # A literal path wins over a template (``/credentials/verify``).
        return f"{self.method} {min(matches, key=lambda t: t.count('{'))}"


def parse(page: Path) -> list[Example]:
    """Every example of ``page``, in order.

    Raises:
        ValueError: A ``Request (`...`` line does not start a well-formed example (it
            would otherwise be skipped without a word).
    """
    return parse_text(page.read_text(encoding="utf-8"), page.name)


def parse_text(text: str, page: str) -> list[Example]:
    """Every example of a page's ``text``, in order (see :func:`parse`)."""
    found = list(EXAMPLE.finditer(text))
    starts = {m.start() for m in found}
    for line in re.finditer(r"^Request \(`.*$", text, re.M):
        if line.start() not in starts:
            raise ValueError(f"{page}: not a well-formed example: {line[0]}")
    examples = []
    for m in found:
        scopes = tuple(re.findall(r"`([a-z-]+)`", m["scopes"])) if m["scopes"] else ()
        examples.append(
            Example(
                page=page,
                method=m["method"],
                target=m["target"],
                node=m["node"],
                scopes=scopes,
                body_lang=m["body_lang"],
                body=m["body"],
                status=int(m["status"]),
                content_type=m["content_type"],
                answer_lang=m["answer_lang"],
                answer=m["answer"],
                first_lines=bool(m["first"]),
                header=m["header"],
                span=m.span(),
            )
        )
    return examples


def masked(value: Any) -> Any:
    """The value with what differs from run to run masked (and its shape kept)."""
    if isinstance(value, dict):
        return {k: "AGE" if _AGE.search(k) else masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    if isinstance(value, str):
        for pattern, mask in _MASKS:
            value = pattern.sub(mask, value)
    return value


def _replace(value: Any, mapping: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _replace(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, mapping) for v in value]
    if isinstance(value, str):
        for documented, real in mapping.items():
            value = value.replace(documented, real)
    return value


def learn_ids(documented: Any, real: Any, mapping: dict[str, str]) -> None:
    """Learn which documented id stands for which id of this run (same position)."""
    if isinstance(documented, dict) and isinstance(real, dict):
        for key in documented.keys() & real.keys():
            learn_ids(documented[key], real[key], mapping)
    elif isinstance(documented, list) and isinstance(real, list):
        for d, r in zip(documented, real, strict=False):
            learn_ids(d, r, mapping)
    elif isinstance(documented, str) and isinstance(real, str):
        for d, r in zip(_ID.findall(documented), _ID.findall(real), strict=False):
            mapping.setdefault(d, r)


@dataclasses.dataclass
class Run:
    """The two nodes, a token per scope at each, and what the examples answered so far."""

    sim: PeerNetworkSimulator
    nodes: dict[str, Node]
    tokens: dict[str, dict[str, str]]
    #: The AEO credential of the node.md examples, issued at EU from examples/aeo-subject.json.
    credential: dict[str, Any]
    answers: dict[str, Any] = dataclasses.field(default_factory=dict)
    mapping: dict[str, str] = dataclasses.field(default_factory=dict)
    #: The body the last example sent (the built one, where it was built).
    sent: Any = None


def start(sim: PeerNetworkSimulator, eu: Node, us: Node) -> Run:
    now = datetime.now(UTC)
    tokens = {
        name: {
            scope: create_token(
                node.services.db,
                name=f"docs {scope}",
                scopes=frozenset({scope}),
                now=now,
                actor="test",
            )[1]
            for scope in sorted(SCOPES)
        }
        for name, node in (("EU", eu), ("US", us))
    }
    issued = eu.client.post(
        "/aeo-credentials",
        json={"credentialSubject": json.loads(AEO_SUBJECT.read_text(encoding="utf-8"))},
        headers={"Authorization": f"Bearer {eu.token}"},
    )
    assert issued.status_code == 201, issued.get_data()
    return Run(sim, {"EU": eu, "US": us}, tokens, issued.get_json()["verifiableCredential"])


# -- requests built for this run ----------------------------------------------------------------

Built = tuple[Any, dict[str, str]]


def _verify(run: Run, documented: Any) -> Built:
    """The credential of the examples is the one issued from the example subject."""
    subject = json.loads(AEO_SUBJECT.read_text(encoding="utf-8"))
    assert documented["verifiableCredential"]["credentialSubject"] == subject
    learn_ids(documented["verifiableCredential"], run.credential, run.mapping)
    return {**documented, "verifiableCredential": run.credential}, {}


def _declaration(run: Run, documented: Any) -> Built:
    """The documented declaration, under an id the US does not pick for random selection.

    The draw is keyed with the node's own secret, so the documented id may be drawn (1 run
    in 100 at the default rate). It is kept when its draw is at least 0.5; otherwise the
    first of 26US000000000900 to 999 whose draw is stands for it.
    """
    secret = run.nodes["US"].services.keystore.derive_secret(SELECTION_SECRET_PURPOSE)
    declaration = dict(documented["declaration"])
    documented_id = declaration["declarationId"]
    candidates = [documented_id] + [f"26US{n:012d}" for n in range(900, 1000)]
    chosen = next(c for c in candidates if selection_draw(secret, c) >= 0.5)
    if chosen != documented_id:
        run.mapping[documented_id] = chosen
    return {**documented, "declaration": {**declaration, "declarationId": chosen}}, {}


def _scan(run: Run, documented: Any) -> Built:
    authorization = run.answers["POST /devices"]["deviceAuthorization"]
    return attestation(
        DEVICE_KEY, authorization, site=authorization["credentialSubject"]["site"]
    ), {}


def _bundle(run: Run, documented: Any) -> Built:
    return {**documented, "bundle": run.answers["POST /scans"]}, {}


def _token(run: Run, documented: Any) -> Built:
    offer = run.answers["POST /credential-offers"]
    grant = offer["credentialOffer"]["grants"][PRE_AUTHORIZED_CODE_GRANT]
    return {
        **documented,
        "pre-authorized_code": grant["pre-authorized_code"],
        "tx_code": offer["txCode"],
    }, {}


def _credential(run: Run, documented: Any) -> Built:
    proof = sign_key_proof(
        HOLDER_KEY,
        nonce=run.answers["POST /nonce"]["c_nonce"],
        issuer=run.nodes["EU"].services.offers.issuer,
        created=datetime.now(UTC),
    )
    access = run.answers["POST /token"]["access_token"]
    return {**documented, "proofs": {"di_vp": [proof]}}, {"Authorization": f"Bearer {access}"}


def _presentation(run: Run, documented: Any) -> Built:
    issued = run.answers["POST /challenges"]
    credential = run.answers["POST /credential"]["credentials"][0]["credential"]
    vp = sign_presentation(
        {
            "@context": [VC_V2_CONTEXT],
            "type": ["VerifiablePresentation"],
            "holder": HOLDER_KEY.public_key.did,
            "verifiableCredential": [credential],
        },
        HOLDER_KEY,
        challenge=issued["challenge"],
        domain=issued["domain"],
        created=datetime.now(UTC),
    )
    options = {**documented["options"], "challenge": issued["challenge"]}
    return {"verifiablePresentation": vp, "options": options}, {}


def _undelivered_proposal(run: Run, documented: Any) -> Built:
    """EU proposes while US is down: the proposal reaches US only by hand."""
    eu = run.nodes["EU"]
    run.sim.behaviour[_base_url(run, "US")] = Behaviour(down=True)
    try:
        proposed = eu.client.post(
            "/mras",
            json={k: documented["agreement"]["credentialSubject"][k] for k in _PROPOSAL_TERMS}
            | {"peer": run.nodes["US"].services.identity.did},
            headers={"Authorization": f"Bearer {eu.token}"},
        )
    finally:
        del run.sim.behaviour[_base_url(run, "US")]
    assert proposed.status_code == 201, proposed.get_data()
    return {"agreement": proposed.get_json()["agreement"]}, {}


_PROPOSAL_TERMS = ("recognitions", "noticePeriodDays")


def _notice(run: Run, documented: Any) -> Built:
    """The notice EU gave in the example before, handed over again."""
    return {"notice": run.answers["POST /mras/terminate"]["notice"]}, {}


def _first_difference(got: Any, expected: Any, at: str = "") -> str:
    """Where two JSON values first differ, for the failure message."""
    if isinstance(got, dict) and isinstance(expected, dict):
        for key in sorted(got.keys() | expected.keys()):
            if got.get(key, "<absent>") != expected.get(key, "<absent>"):
                return _first_difference(got.get(key), expected.get(key), f"{at}/{key}")
    if isinstance(got, list) and isinstance(expected, list) and len(got) == len(expected):
        for i, (g, e) in enumerate(zip(got, expected, strict=True)):
            if g != e:
                return _first_difference(g, e, f"{at}/{i}")
    return f"{at or '/'}: got {got!r}, documented {expected!r}"


def _as_documented(value: Any, run: Run) -> Any:
    """What this run made in place of a documented value, as that value."""
    return _replace(value, {real: documented for documented, real in run.mapping.items()})


def _base_url(run: Run, name: str) -> str:
    return run.nodes[name].services.settings.base_url


#: ``METHOD /path`` -> what to send instead of the documented request.
BUILDERS: dict[str, Callable[[Run, Any], Built]] = {
    "POST /credentials/verify": _verify,
    "POST /risk/assess": _declaration,
    "POST /scans": _scan,
    "POST /attestations/verify": _bundle,
    "POST /token": _token,
    "POST /credential": _credential,
    "POST /presentations/verify": _presentation,
    "POST /mras/receive": _undelivered_proposal,
    "POST /mras/terminations": _notice,
}


# -- sending ------------------------------------------------------------------------------------


def _send(
    client: FlaskClient, example: Example, target: str, body: Any, headers: dict[str, str]
) -> TestResponse:
    if example.method == "GET":
        return client.get(target, headers=headers)
    if example.body_lang == "form":
        return client.post(target, data=body, headers=headers)
    if example.body_lang == "json":
        return client.post(target, json=body, headers=headers)
    return client.post(target, headers=headers)


def documented_body(example: Example) -> Any:
    if example.body is None:
        return None
    if example.body_lang == "form":
        return dict(parse_qsl(example.body.replace("\n", "&"), keep_blank_values=True))
    return json.loads(example.body)


def check_scopes(example: Example, route: str) -> str | None:
    """The documented scope must be one the route accepts; returns one it does not accept."""
    method, path = route.split(" ", 1)
    operation = document()["paths"][path][method.lower()]
    if not example.scopes:
        assert operation.get("security") == [], f"{route}: documented public, it is not"
        return None
    accepted = operation["x-trustlane-scopes"]
    assert set(example.scopes) <= set(accepted), f"{route}: {example.scopes} not in {accepted}"
    outside = sorted(set(SCOPES) - set(accepted) - {"admin"})
    return outside[0] if outside else None


def send(run: Run, example: Example, *, record: bool = False) -> TestResponse:
    """Send one example (its documented scope's token, or none) and return the response.

    Unless ``record``, a protected route must first answer 401 without a token and 403 to a
    token of a scope it does not accept.
    """
    node = run.nodes[example.node]
    route = example.route
    refused_scope = check_scopes(example, route)
    target = _replace(example.target, run.mapping)
    body = _replace(documented_body(example), run.mapping)
    headers: dict[str, str] = {}
    if route in BUILDERS:
        built, headers = BUILDERS[route](run, body)
        if not record:
            documented = masked(body)
            assert masked(_as_documented(built, run)) == documented, f"{route}: request differs"
        body = built
    if example.scopes:
        tokens = run.tokens[example.node]
        if not record:
            anonymous = _send(node.client, example, target, body, {})
            assert anonymous.status_code == 401, (route, anonymous.status_code)
        if refused_scope is not None and not record:
            refused = _send(
                node.client,
                example,
                target,
                body,
                {"Authorization": f"Bearer {tokens[refused_scope]}"},
            )
            assert refused.status_code == 403, (route, refused_scope, refused.status_code)
        headers = {"Authorization": f"Bearer {tokens[example.scopes[0]]}"}
    run.sent = body
    response = _send(node.client, example, target, body, headers)
    if route == "POST /credentials/verify" and any(
        c.get("code") == "STATUS_UNAVAILABLE" for c in response.get_json().get("checks", [])
    ):
        # A list this node does not hold yet is fetched in the background: ask again.
        assert node.services.refetch.drain(10)
        response = _send(node.client, example, target, body, headers)
    assert_matches_openapi(response, example.method.lower(), route.split(" ", 1)[1])
    if response.is_json:
        run.answers[route] = response.get_json()
    return response


def _difference(run: Run, example: Example, response: TestResponse) -> str | None:
    """How the response differs from the documented answer; None when it does not."""
    if response.status_code != example.status:
        return f"status {response.status_code}: {response.get_data()[:2000]!r}"
    if example.content_type is not None and response.content_type != example.content_type:
        return f"content type {response.content_type}"
    if example.answer is None:
        return None
    if example.answer_lang == "json" and not example.first_lines:
        documented = json.loads(example.answer)
        answer = response.get_json()
        got, expected = masked(_as_documented(answer, run)), masked(documented)
        if got != expected:
            return _first_difference(got, expected)
        learn_ids(documented, answer, run.mapping)
        return None
    if not masked(response.get_data(as_text=True)).startswith(masked(example.answer)):
        return "the answer starts differently"
    return None


def _matches(run: Run, example: Example, response: TestResponse) -> bool:
    return _difference(run, example, response) is None


def check(run: Run, example: Example) -> None:
    """Send one example and compare the answer with the documented one."""
    response = send(run, example)
    difference = _difference(run, example, response)
    assert difference is None, f"{example.page}: {example.method} {example.target}: {difference}"


# -- rewriting the pages ------------------------------------------------------------------------


def render_json(value: Any, indent: str = "") -> str:
    """JSON as the pages show it: two spaces a level, short lists of scalars on one line."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        members = [f"{inner}{json.dumps(k)}: {render_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(members) + "\n" + indent + "}"
    if isinstance(value, list) and value:
        one_line = json.dumps(value, ensure_ascii=False)
        if all(not isinstance(v, dict | list) for v in value) and len(one_line) <= 60:
            return one_line
        items = [inner + render_json(v, inner) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False)


def rewritten(run: Run, example: Example, block: str) -> str:
    """The example's ``block`` with this run's answer (and built request), ids as documented.

    A block whose answer still matches is kept as it is.
    """
    response = send(run, example, record=True)
    if _matches(run, example, response):
        return block
    parts = [example.header, ""]
    if example.body is not None:
        body = example.body
        if example.route in BUILDERS:
            sent = _as_documented(run.sent, run)
            body = (
                render_json(sent)
                if example.body_lang == "json"
                else "\n".join(f"{k}={v}" for k, v in sent.items())
            )
        parts += [f"```{example.body_lang}", body, "```", ""]
    answer = f"Answer `{response.status_code}` (`{response.content_type}`)"
    if example.answer is None:
        parts.append(answer + ".")
    elif example.answer_lang == "json" and not example.first_lines:
        documented = json.loads(example.answer)
        real = response.get_json()
        learn_ids(documented, real, run.mapping)
        parts += [answer + ":", "", "```json", render_json(_as_documented(real, run)), "```"]
    else:
        text = response.get_data(as_text=True)
        lines = example.answer.count("\n") + 1
        # As many lines as documented; a one-line body (compact JSON): as many characters.
        text = "\n".join(text.split("\n")[:lines]) if lines > 1 else text[: len(example.answer)]
        parts += [answer + ", beginning:", "", "```text", text, "```"]
    return "\n".join(parts)


def rewrite(run: Run, page: Path) -> None:
    """Run ``page``'s examples and write this run's answers (as documented values) into it.

    For a change that alters answers on purpose; review the diff it makes.
    """
    text = page.read_text(encoding="utf-8")
    out, at = [], 0
    for example in parse_text(text, page.name):
        start, end = example.span
        out += [text[at:start], rewritten(run, example, text[start:end])]
        at = end
    page.write_text("".join(out) + text[at:], encoding="utf-8")
