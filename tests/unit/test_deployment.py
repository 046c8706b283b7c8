"""The deployment files: Dockerfile, docker-compose.yml, Kubernetes overlays, entrypoint.

No container engine runs here, so docker-compose.yml is validated against the Compose
Specification JSON Schema (tests/vectors/compose/compose-spec.json) and checked for what the
schema cannot see: paths, ports, variables, healthchecks and the federation files it mounts.
The Kustomize overlays are rendered with ``kubectl kustomize`` and the result is checked.
The entrypoint (deploy/entrypoint.py) is exercised in process on SQLite.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from federation_config.federation import load_federation
from federation_config.settings import did_web_for

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_SCHEMA = ROOT / "tests" / "vectors" / "compose" / "compose-spec.json"
FEDERATION_SCHEMA = ROOT / "federation_config" / "schema" / "federation.schema.json"
OPENAPI = ROOT / "node" / "openapi.json"
OVERLAYS = ROOT / "deploy" / "k8s" / "overlays"
NODES = ("eu", "us", "jp")
IMAGE = "trustlane:0.1.0"
#: Multikeys of federation_config/examples/: public test seeds, never to be trusted.
PLACEHOLDER_KEYS = {
    "z6Mkon3Necd6NkkyfoGoHxid2znGc59LU3K7mubaRcFbLfLX",
    "z6Mko9hTggMwjSTEaJaPUfE6tqcy2xvU6BnNq3e3o8qVBiyH",
    "z6MkvRXNYcE7MMduynWTgeKbDaT1iijDSC8pZqXZc8rHPrf2",
}


def _load_entrypoint() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "trustlane_entrypoint", ROOT / "deploy" / "entrypoint.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


entrypoint = _load_entrypoint()


def _openapi_paths() -> set[str]:
    return set(json.loads(OPENAPI.read_text(encoding="utf-8"))["paths"])


# -- docker-compose.yml ---------------------------------------------------------------------

_VARIABLE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


def _interpolate(value: Any) -> Any:
    """Compose interpolation with an empty environment: defaults apply, ``$$`` is ``$``."""
    if isinstance(value, dict):
        return {k: _interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v) for v in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        op = match.group("op")
        if op in (":-", "-"):
            return match.group("arg")
        raise AssertionError(f"{match.group(0)} has no default: the file needs a variable set")

    return _VARIABLE.sub(one, value)


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any]) -> dict[str, Any]:
    interpolated: dict[str, Any] = _interpolate(raw_compose)
    return interpolated


def _node_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: compose["services"][name] for name in NODES}


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) of every short-syntax volume of a service."""
    result = []
    for volume in service.get("volumes", []):
        assert isinstance(volume, str), "use the short volume syntax (the test reads it)"
        source, target, *_ = volume.split(":")
        result.append((source, target))
    return result


def test_compose_file_is_valid_against_the_compose_spec(raw_compose: dict[str, Any]) -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    # The schema names draft-07 as "https://json-schema.org/draft-07/schema" (no "#"), which
    # jsonschema does not recognise; it is draft-07 (tests/vectors/README.md).
    assert "draft-07" in schema["$schema"]
    validator_class = jsonschema.Draft7Validator
    validator_class.check_schema(schema)
    errors = sorted(
        validator_class(schema).iter_errors(raw_compose), key=lambda e: list(e.absolute_path)
    )
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors]


def test_compose_spec_copy_is_listed_in_the_vectors_readme() -> None:
    readme = (ROOT / "tests" / "vectors" / "README.md").read_text(encoding="utf-8")
    assert "compose/compose-spec.json" in readme
    assert "170098ba07d9f53c383a41bfd4c5166b0a4529a6" in readme


def test_compose_has_three_nodes_each_with_its_own_postgresql(compose: dict[str, Any]) -> None:
    services = compose["services"]
    databases = set()
    for name, node in _node_services(compose).items():
        db_name = f"{name}-db"
        db = services[db_name]
        assert db["image"] == "postgres:16"
        assert db["healthcheck"]["test"][:2] == ["CMD", "pg_isready"]
        assert any(target == "/var/lib/postgresql/data" for _, target in _mounts(db))
        assert node["depends_on"][db_name] == {"condition": "service_healthy"}
        host = urlsplit(
            _environment(node)["TRUSTLANE_DATABASE_URL"].replace("+psycopg", "")
        ).hostname
        assert host == db_name, f"{name} must use its own database"
        databases.add(host)
        # The password comes from the same secret file PostgreSQL was created with.
        secret = f"{name}_db_password"
        assert _environment(db)["POSTGRES_PASSWORD_FILE"] == f"/run/secrets/{secret}"
        assert _environment(node)["TRUSTLANE_DB_PASSWORD_FILE"] == f"/run/secrets/{secret}"
        assert secret in db["secrets"] and secret in node["secrets"]
    assert len(databases) == 3


def test_every_path_the_compose_file_refers_to_exists(compose: dict[str, Any]) -> None:
    declared_volumes = set(compose.get("volumes", {}))
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is not None:
            context = ROOT / build["context"]
            assert context.is_dir(), f"{name}: build context {context}"
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), name
        for source, _ in _mounts(service):
            if source.startswith((".", "/", "~")):
                assert (ROOT / source).exists(), f"{name}: bind mount {source} is missing"
            else:
                assert source in declared_volumes, f"{name}: volume {source} is not declared"
        for env_file in service.get("env_file", []):
            assert (ROOT / env_file).is_file(), f"{name}: env_file {env_file}"
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name}: secret {secret} is not declared"
    for name, secret in compose["secrets"].items():
        path = ROOT / secret["file"]
        assert path.is_file(), f"secret {name}: {path} is missing"
        # Only placeholders are committed; real secrets are named by variables.
        assert path.name.endswith(".example"), f"secret {name} must default to an example file"
        assert "example" in path.read_text(encoding="utf-8")


def test_compose_secret_files_are_overridable(raw_compose: dict[str, Any]) -> None:
    for name, secret in raw_compose["secrets"].items():
        assert re.fullmatch(
            r"\$\{[A-Z_]+_FILE:-\./deploy/secrets/[a-z-]+\.example\}", secret["file"]
        ), name


def test_compose_host_ports_are_unique(compose: dict[str, Any]) -> None:
    seen: dict[str, str] = {}
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            host = str(port).rsplit(":", 1)[0]
            assert host not in seen, f"port {host} used by {seen.get(host)} and {name}"
            seen[host] = name
    assert len(seen) == 3


def test_every_variable_the_entrypoint_needs_is_set_for_each_node(
    compose: dict[str, Any],
) -> None:
    known = set(entrypoint.REQUIRED_ENV) | set(entrypoint.OPTIONAL_ENV)
    for name, service in _node_services(compose).items():
        env = _environment(service)
        missing = [v for v in entrypoint.REQUIRED_ENV if not env.get(v)]
        assert not missing, f"{name}: {missing}"
        unknown = [v for v in env if v.startswith("TRUSTLANE_") and v not in known]
        assert not unknown, f"{name}: the entrypoint does not read {unknown}"
        assert service["image"] == IMAGE and service["command"] == ["serve"]
        assert did_web_for(env["TRUSTLANE_BASE_URL"]) == f"did:web:{name}.customs.example"


def test_every_file_a_node_is_told_to_read_is_mounted(compose: dict[str, Any]) -> None:
    for name, service in _node_services(compose).items():
        env = _environment(service)
        targets = [target for _, target in _mounts(service)]
        secrets = {f"/run/secrets/{s}" for s in service["secrets"]}
        for variable in (
            "TRUSTLANE_KEYSTORE_PASSPHRASE_FILE",
            "TRUSTLANE_DB_PASSWORD_FILE",
            "TRUSTLANE_TLS_CERT",
            "TRUSTLANE_TLS_KEY",
            "TRUSTLANE_FEDERATION_FILE",
        ):
            path = env[variable]
            assert path in secrets or any(path.startswith(t + "/") for t in targets), (
                f"{name}: {variable}={path} is neither a secret nor under a mount"
            )
        assert env["TRUSTLANE_KEYSTORE_PASSPHRASE_FILE"] in secrets
        data = env.get("TRUSTLANE_DATA_DIR", entrypoint.OPTIONAL_ENV["TRUSTLANE_DATA_DIR"])
        assert data in targets, f"{name}: the data directory must be a volume"
        # The federation folder mounted for this node holds its own file.
        federation = Path(env["TRUSTLANE_FEDERATION_FILE"])
        source = next(s for s, t in _mounts(service) if t == str(federation.parent))
        assert (ROOT / source / federation.name).is_file()
        assert Path(source).name == name


def test_compose_certificates_cover_every_node(compose: dict[str, Any]) -> None:
    certs = compose["services"]["certs"]
    assert certs["command"] == ["certs"]
    hosts = _environment(certs)["TRUSTLANE_CERT_HOSTS"].split()
    cert_dir = _environment(certs)["TRUSTLANE_CERT_DIR"]
    for name, service in _node_services(compose).items():
        env = _environment(service)
        host = urlsplit(env["TRUSTLANE_BASE_URL"]).hostname
        assert host in hosts
        assert env["TRUSTLANE_TLS_CERT"] == f"{cert_dir}/{name}.crt"
        assert service["depends_on"]["certs"] == {"condition": "service_completed_successfully"}
        # Peers reach the node at its public name inside the compose network.
        assert service["networks"]["default"]["aliases"] == [host]


def test_compose_healthchecks_probe_readiness_paths_the_node_serves(
    compose: dict[str, Any],
) -> None:
    paths = _openapi_paths()
    for name, service in _node_services(compose).items():
        test = service["healthcheck"]["test"]
        assert test[:2] == ["CMD", "trustlane-healthcheck"], name
        urls = [part for part in test if part.startswith("https://")]
        assert len(urls) == 1
        path = urlsplit(urls[0]).path
        assert path in paths, f"{name}: {path} is not in node/openapi.json"
        assert path == "/health", "the healthcheck is readiness, not liveness"
        cafile = test[test.index("--cafile") + 1]
        assert any(cafile.startswith(t + "/") for _, t in _mounts(service))


def _federation_schema_errors(data: dict[str, Any]) -> list[str]:
    schema = json.loads(FEDERATION_SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(data)]


def test_compose_federation_files_pin_the_other_nodes(compose: dict[str, Any]) -> None:
    dids = {
        name: did_web_for(_environment(service)["TRUSTLANE_BASE_URL"])
        for name, service in _node_services(compose).items()
    }
    expected_peers = {"eu": {"us", "jp"}, "us": {"eu"}, "jp": {"eu"}}
    for name in NODES:
        path = ROOT / "deploy" / "federation" / name / "federation.toml"
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        assert not _federation_schema_errors(data), _federation_schema_errors(data)
        assert data["federation"]["self_did"] == dids[name]
        peers = {p["name"]: p for p in data["peers"]}
        assert set(peers) == expected_peers[name]
        for peer_name, peer in peers.items():
            assert peer["did"] == dids[peer_name]
            peer_env = _environment(compose["services"][peer_name])
            assert peer["base_url"] == peer_env["TRUSTLANE_BASE_URL"]
            assert peer["ca_bundle"].startswith("/etc/trustlane/certs/")
            # Placeholder keys are never enabled: the operator pins the real ones first.
            if set(peer["key_fingerprints"]) & PLACEHOLDER_KEYS:
                assert peer["enabled"] is False, f"{name}: peer {peer_name}"


def test_dockerfile_builds_from_pyproject_as_a_non_root_user() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    instructions = [
        line.strip()
        for line in re.sub(r"\\\n", " ", text).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    froms = [line.split()[1] for line in instructions if line.startswith("FROM ")]
    assert froms and all(f == "python:3.11-slim" for f in froms)
    users = [line.split()[1] for line in instructions if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    copies = [line.split()[1:] for line in instructions if line.startswith("COPY ")]
    ignored = _dockerignore()
    for args in copies:
        args = [a for a in args if not a.startswith("--chmod")]
        if any(a.startswith("--from") for a in args):
            continue
        for source in args[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: missing"
            assert source.rstrip("/") not in ignored, f"COPY {source} is excluded by .dockerignore"
    assert "pyproject.toml" in " ".join(" ".join(c) for c in copies)
    entry = next(line for line in instructions if line.startswith("ENTRYPOINT"))
    assert json.loads(entry.split(None, 1)[1]) == ["trustlane-entrypoint"]
    assert any(
        "deploy/entrypoint.py" in c and "/usr/local/bin/trustlane-entrypoint" in c
        for c in (" ".join(args) for args in copies)
    )


def _dockerignore() -> set[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return {line.strip() for line in lines if line.strip() and not line.startswith("#")}


def test_dockerignore_keeps_the_build_inputs_and_drops_local_state() -> None:
    ignored = _dockerignore()
    for needed in ("pyproject.toml", "README.md", "node", "deploy", "deploy/entrypoint.py"):
        assert needed not in ignored
    for dropped in (".git", ".venv", "tests", "deploy/secrets"):
        assert dropped in ignored


# -- Kubernetes ---------------------------------------------------------------------------


def _render(overlay: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: cannot render the Kustomize overlays")
    result = subprocess.run(
        [kubectl, "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=NODES)
def rendered(request: pytest.FixtureRequest) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    yield request.param, _render(OVERLAYS / request.param)


def _one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}"
    return found[0]


def _matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def _container_env(
    container: dict[str, Any], docs: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    env: dict[str, dict[str, Any]] = {}
    for source in container.get("envFrom", []):
        name = source["configMapRef"]["name"]
        config = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == name)
        env.update({k: {"value": v} for k, v in config["data"].items()})
    env.update({e["name"]: e for e in container.get("env", [])})
    return env


def test_overlay_renders_the_expected_kinds(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    node, docs = rendered
    kinds = {d["kind"] for d in docs}
    assert {
        "Namespace",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "Job",
        "ConfigMap",
        "PersistentVolumeClaim",
    } <= kinds
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == f"trustlane-{node}"
            assert doc["metadata"]["name"].startswith(f"{node}-trustlane")
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == node


def test_overlay_runs_replicas_with_probes_on_the_health_endpoints(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    deployment = _one(docs, "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    paths = _openapi_paths()
    containers = deployment["spec"]["template"]["spec"]["containers"]
    (container,) = containers
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] in paths
        assert get["scheme"] == "HTTPS"
        assert get["port"] in {p["name"] for p in container["ports"]}


def test_overlay_images_are_per_node(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    node, docs = rendered
    images = set()
    for kind in ("Deployment", "Job"):
        spec = _one(docs, kind)["spec"]["template"]["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            images.add(container["image"])
    assert images == {f"registry.{node}.customs.example/trustlane/node:0.1.0"}


def test_pdb_and_service_select_the_node_pods_only(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, docs = rendered
    deployment = _one(docs, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    job_labels = _one(docs, "Job")["spec"]["template"]["metadata"]["labels"]
    pdb = _one(docs, "PodDisruptionBudget")
    selector = pdb["spec"]["selector"]["matchLabels"]
    assert _matches(selector, pod_labels)
    assert not _matches(selector, job_labels)
    assert selector == deployment["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    service = _one(docs, "Service")
    assert _matches(service["spec"]["selector"], pod_labels)
    assert not _matches(service["spec"]["selector"], job_labels)
    target = service["spec"]["ports"][0]["targetPort"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert target in {p["name"] for p in container["ports"]}


def test_no_plaintext_secrets(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    assert not [d for d in docs if d["kind"] == "Secret"]
    secret_words = re.compile(r"PASSWORD|PASSPHRASE|TOKEN|SECRET|_URL$", re.IGNORECASE)
    for kind in ("Deployment", "Job"):
        spec = _one(docs, kind)["spec"]["template"]["spec"]
        for container in spec.get("initContainers", []) + spec["containers"]:
            for var in container.get("env", []):
                if var["name"].endswith("_FILE") or var["name"] == "TRUSTLANE_BASE_URL":
                    continue
                if secret_words.search(var["name"]):
                    assert "valueFrom" in var, f"{var['name']} must come from a Secret"
        for config in (d for d in docs if d["kind"] == "ConfigMap"):
            for key in config["data"]:
                assert not re.search(r"PASSWORD|PASSPHRASE|DATABASE_URL", key), key


def test_pods_get_every_variable_and_secret_the_entrypoint_needs(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    node, docs = rendered
    deployment = _one(docs, "Deployment")
    job = _one(docs, "Job")
    for workload, mode in ((deployment, "serve"), (job, "init")):
        spec = workload["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        assert container["args"] == [mode]
        env = _container_env(container, docs)
        missing = [v for v in entrypoint.REQUIRED_ENV if v not in env]
        assert not missing, f"{workload['kind']}: {missing}"
        known = set(entrypoint.REQUIRED_ENV) | set(entrypoint.OPTIONAL_ENV)
        assert not [v for v in env if v not in known], "a variable the entrypoint ignores"
        assert env["TRUSTLANE_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
            "name": "trustlane-database",
            "key": "url",
        }
        assert env["TRUSTLANE_BASE_URL"]["value"] == f"https://{node}.customs.example"
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        passphrase = Path(env["TRUSTLANE_KEYSTORE_PASSPHRASE_FILE"]["value"])
        secret = volumes[mounts[str(passphrase.parent)]]["secret"]
        assert secret["secretName"] == "trustlane-keystore"
        assert {i["path"] for i in secret["items"]} == {passphrase.name}
        data = volumes[mounts[env["TRUSTLANE_DATA_DIR"]["value"]]]
        assert data["persistentVolumeClaim"]["claimName"] == f"{node}-trustlane-data"
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True and security["runAsUser"] != 0
        # A recursive fsGroup change on every start would open keys/*.key to the group.
        assert security.get("fsGroupChangePolicy") == "OnRootMismatch"
    # Replicas never run `node init`: they wait for the Job's node.toml.
    (wait,) = deployment["spec"]["template"]["spec"]["initContainers"]
    assert wait["args"] == ["wait-init"]
    assert job["spec"]["parallelism"] == 1 and job["spec"]["completions"] == 1
    claim = _one(docs, "PersistentVolumeClaim")
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    env = _container_env(deployment["spec"]["template"]["spec"]["containers"][0], docs)
    assert env["TRUSTLANE_MIGRATE_ON_START"]["value"] == "false"


def test_federation_configmap_is_valid_for_the_node(
    rendered: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    node, docs = rendered
    deployment = _one(docs, "Deployment")
    spec = deployment["spec"]["template"]["spec"]
    env = _container_env(spec["containers"][0], docs)
    federation_path = Path(env["TRUSTLANE_FEDERATION_FILE"]["value"])
    mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
    volume = next(v for v in spec["volumes"] if v["name"] == mounts[str(federation_path.parent)])
    config = next(
        d
        for d in docs
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == volume["configMap"]["name"]
    )
    text = config["data"][federation_path.name]
    (tmp_path / "federation.toml").write_text(text, encoding="utf-8")
    settings = load_federation(tmp_path / "federation.toml", {})
    settings.check_node_did(did_web_for(env["TRUSTLANE_BASE_URL"]["value"]))
    for peer in settings.peers:
        if set(peer.key_fingerprints) & PLACEHOLDER_KEYS:
            assert not peer.enabled, f"{node}: peer {peer.name} has a placeholder key"


# -- the entrypoint -----------------------------------------------------------------------


def test_entrypoint_reads_secret_files_like_the_node(tmp_path: Path) -> None:
    for content, expected in (
        (b"s3cret\n", "s3cret"),
        (b"s3cret\r\n", "s3cret"),
        (b"s3cret", "s3cret"),
        (b"s3cret\n\n", "s3cret\n"),
    ):
        (tmp_path / "f").write_bytes(content)
        assert entrypoint.read_secret_file(tmp_path / "f") == expected
    for bad in (b"", b"\n", b"x" * 5000):
        (tmp_path / "f").write_bytes(bad)
        with pytest.raises(entrypoint.EntrypointError):
            entrypoint.read_secret_file(tmp_path / "f")
    with pytest.raises(entrypoint.EntrypointError, match="cannot read"):
        entrypoint.read_secret_file(tmp_path / "missing")


def test_entrypoint_normalises_database_urls() -> None:
    normalise = entrypoint.normalise_database_url
    assert normalise("postgresql://app:p%40ss@db:5432/app") == (
        "postgresql+psycopg://app@db:5432/app",
        "p@ss",
    )
    assert normalise("postgres://app@db/app") == ("postgresql+psycopg://app@db/app", None)
    assert normalise("postgresql+psycopg://app@db/app") == (
        "postgresql+psycopg://app@db/app",
        None,
    )
    assert normalise("sqlite:////var/lib/trustlane/node.db") == (
        "sqlite:////var/lib/trustlane/node.db",
        None,
    )


def test_entrypoint_strips_a_database_url_read_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "pass").write_text("x\n")
    env = {
        "TRUSTLANE_DATA_DIR": str(tmp_path / "data"),
        "TRUSTLANE_KEYSTORE_PASSPHRASE_FILE": str(tmp_path / "pass"),
        "TRUSTLANE_DATABASE_URL": "postgresql://app:secret@db/app?sslmode=require\n",
    }
    entrypoint.prepare(env)
    assert env["TRUSTLANE_DATABASE_URL"] == "postgresql+psycopg://app@db/app?sslmode=require"
    assert env["PGPASSWORD"] == "secret"


def test_entrypoint_refuses_to_start_without_its_variables(tmp_path: Path) -> None:
    env = {"TRUSTLANE_DATA_DIR": str(tmp_path / "data")}
    with pytest.raises(entrypoint.EntrypointError, match="TRUSTLANE_KEYSTORE_PASSPHRASE_FILE"):
        entrypoint.run(["init"], env)
    (tmp_path / "pass").write_text("x\n")
    env["TRUSTLANE_KEYSTORE_PASSPHRASE_FILE"] = str(tmp_path / "pass")
    with pytest.raises(entrypoint.EntrypointError, match="TRUSTLANE_NODE_NAME"):
        entrypoint.run(["init"], env)


def test_entrypoint_initialises_once_and_refuses_a_database_that_holds_a_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("TRUSTLANE_KEYSTORE_PASSPHRASE", raising=False)
    passphrase = tmp_path / "run" / "keystore-passphrase"
    passphrase.parent.mkdir()
    passphrase.write_text("correct horse battery staple\r\n")
    passphrase.chmod(0o440)  # as a Kubernetes secret volume with fsGroup mounts it
    federation = tmp_path / "etc" / "federation.toml"
    federation.parent.mkdir()
    federation.write_text('[federation]\nname = "test"\nself_did = "did:web:eu.customs.example"\n')
    data = tmp_path / "data"
    database = f"sqlite:///{tmp_path / 'node.db'}"

    def env() -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", ""),
            "TRUSTLANE_DATA_DIR": str(data),
            "TRUSTLANE_NODE_NAME": "EU customs (test)",
            "TRUSTLANE_BASE_URL": "https://eu.customs.example",
            "TRUSTLANE_DATABASE_URL": database,
            "TRUSTLANE_KEYSTORE_PASSPHRASE_FILE": str(passphrase),
            "TRUSTLANE_FEDERATION_FILE": str(federation),
        }

    first = env()
    assert entrypoint.run(["init"], first) == 0
    assert first["TRUSTLANE_KEYSTORE_PASSPHRASE"] == "correct horse battery staple"  # noqa: S105
    out = capsys.readouterr().out
    assert "did:web:eu.customs.example" in out
    token_file = data / "secrets" / "initial-admin-token"
    token = token_file.read_text().strip()
    assert token and token not in out, "the admin token never goes to the log"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert (data / "federation.toml").resolve() == federation
    config = tomllib.loads((data / "node.toml").read_text())
    assert config["keystore"] == {"dir": "keys", "passphrase_env": "TRUSTLANE_KEYSTORE_PASSPHRASE"}
    assert config["database"]["url"] == database

    # A second run (a restarted Job) only migrates; the node keeps its key and token.
    assert entrypoint.run(["init"], env()) == 0
    assert "the head of this version's migrations" in capsys.readouterr().out  # node migrate
    assert token_file.read_text().strip() == token
    assert len(list((data / "keys").glob("*.key"))) == 1

    # Every node command run through the entrypoint opens the key store.
    command = env()
    entrypoint.prepare(command)
    with entrypoint._pushed_env(command):
        code, output = entrypoint._cli(["node", "show", "--json"])
    assert code == 0 and json.loads(output)["did"] == "did:web:eu.customs.example"

    # The data directory is lost but the database survives: init must not take the node over.
    shutil.rmtree(data)
    with pytest.raises(entrypoint.EntrypointError, match="already holds a node"):
        entrypoint.run(["init"], env())
    assert not (data / "node.toml").exists()


def test_entrypoint_serve_command_line() -> None:
    argv = entrypoint.serve_argv(
        {"TRUSTLANE_LISTEN_PORT": "8443", "TRUSTLANE_WORKERS": "4"}, Path("/var/lib/trustlane")
    )
    assert argv[:5] == [sys.executable, "-m", "node.cli", "node", "serve"]
    assert argv[5:] == [
        "--data-dir",
        "/var/lib/trustlane",
        "--host",
        "0.0.0.0",  # noqa: S104 - what a container listens on
        "--workers",
        "4",
        "--port",
        "8443",
    ]


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_entrypoint_certs_are_a_ca_and_one_certificate_per_host(tmp_path: Path) -> None:
    import ssl

    env = {
        "TRUSTLANE_CERT_DIR": str(tmp_path / "certs"),
        "TRUSTLANE_CERT_HOSTS": "eu.customs.example us.customs.example",
    }
    assert entrypoint.run(["certs"], env) == 0
    certs = tmp_path / "certs"
    assert sorted(p.name for p in certs.iterdir()) == [
        "ca.crt",
        "eu.crt",
        "eu.key",
        "us.crt",
        "us.key",
    ]
    assert (certs / "eu.key").stat().st_mode & 0o077 == 0
    for name in ("eu", "us"):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(certs / f"{name}.crt", certs / f"{name}.key")
        result = subprocess.run(
            ["openssl", "verify", "-CAfile", str(certs / "ca.crt"), str(certs / f"{name}.crt")],
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    before = (certs / "ca.crt").read_bytes()
    assert entrypoint.run(["certs"], env) == 0
    assert (certs / "ca.crt").read_bytes() == before


# -- monitoring -----------------------------------------------------------------------------


def test_grafana_dashboard_uses_the_metrics_the_node_exports() -> None:
    exported: set[str] = set()
    for module in ("metrics.py", "request_metrics.py"):
        source = (ROOT / "node" / "api" / module).read_text(encoding="utf-8")
        names = set(re.findall(r'"(trustlane_[a-z_]+)"', source))
        assert names, f"node/api/{module} names no metric"
        exported |= names
    dashboard = json.loads(
        (ROOT / "deploy" / "grafana" / "trustlane-dashboard.json").read_text(encoding="utf-8")
    )
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {m for e in expressions for m in re.findall(r"\btrustlane_[a-z_]+", e)}

    def family(series: str) -> str:
        # A counter's series ends in _total, a histogram's in _bucket, _sum and _count.
        base = re.sub(r"_(total|bucket|sum|count)$", "", series)
        return base if base in exported else series

    # Every metric on the dashboard is a real one (the node may export more than it shows).
    assert used and {family(m) for m in used} <= exported, used
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    docs = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    undocumented = [
        m for m in sorted(used) if f"`{m}`" not in docs and f"`{family(m)}`" not in docs
    ]
    assert undocumented == []
