"""docker-compose.yml, checked without a Docker engine: valid against the Compose Specification's JSON
schema (tests/deploy/compose-spec.json, see compose-spec.SOURCE), every part of the stack there, each
service given the settings it needs to reach PostgreSQL, Kafka and the other services, started only when
what it needs is healthy, and built from the one Dockerfile as a non-root user."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from shared.auth import KeyStore, hash_key, new_key
from shared.settings import Settings
from tests.conftest import REPO
from tourcrm import SERVICES, all_scopes, settings_for, spec

SCHEMA = json.loads((Path(__file__).parent / "compose-spec.json").read_text())
TEXT = (REPO / "docker-compose.yml").read_text()
KEY, SERVICE_KEY = new_key(), new_key()
SECRETS = {
    "POSTGRES_PASSWORD": "s3cret-Pg-pass",
    "TOURCRM_API_KEYS": json.dumps([{"client": "booking-web", "key_sha256": hash_key(KEY), "scopes": ["profile:read"]},
                                    {"client": "tourcrm", "key_sha256": hash_key(SERVICE_KEY), "scopes": ["feedback:read"]}]),
    "TOURCRM_SERVICE_KEY": SERVICE_KEY,
    "GRAFANA_ADMIN_PASSWORD": "s3cret-Gf-pass",
}
_VARIABLE = re.compile(r"\$(?:\$|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable substitution: $$, ${X}, $X, ${X:-default}, ${X-default}, ${X:?error}, ${X?error}."""

    def one(m: re.Match) -> str:
        if m.group() == "$$":
            return "$"
        name, op, arg = m.group(1) or m.group(4), m.group(2), m.group(3)
        value = env.get(name)
        missing = value is None or (value == "" and op and op.startswith(":"))
        if op and op.endswith("?") and missing:
            raise KeyError(f"{name}: {arg}")
        if op and op.endswith("-") and missing:
            return arg
        return value or ""

    return _VARIABLE.sub(one, text)


def compose(env: dict[str, str] | None = None) -> dict:
    """The file as Compose reads it: YAML first (anchors merged), then variables in each string value."""
    env = SECRETS if env is None else env

    def walk(node: object) -> object:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        if isinstance(node, list):
            return [walk(value) for value in node]
        return interpolate(node, env) if isinstance(node, str) else node

    return walk(yaml.safe_load(TEXT))


def dockerfile_env() -> dict[str, str]:
    """The ENV the image sets (KEY=VALUE pairs of its ENV lines, ${SERVICE} left to the caller)."""
    env: dict[str, str] = {}
    for line in (REPO / "Dockerfile").read_text().splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in line[4:].split())
    return env


def test_the_file_is_valid_against_the_compose_specification() -> None:
    validator = jsonschema.Draft7Validator(SCHEMA)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []
    # the schema does catch mistakes: a misspelt condition, a healthcheck with an unknown key
    broken = compose()
    broken["services"]["profile"]["depends_on"]["kafka"]["condition"] = "service_ready"
    broken["services"]["loyalty"]["healthcheck"]["intervall"] = "5s"
    assert len(list(validator.iter_errors(broken))) == 2


def test_secrets_come_from_the_environment_never_from_the_file() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", TEXT))
    assert required == set(SECRETS)
    for name in SECRETS:
        with pytest.raises(KeyError, match=name):
            compose({k: v for k, v in SECRETS.items() if k != name})
    for name, service in yaml.safe_load(TEXT)["services"].items():
        for var, value in service.get("environment", {}).items():
            if re.search(r"PASSWORD|SECRET|_KEYS?$", var):
                assert re.fullmatch(r"\$\{\w+:\?[^}]*\}", str(value)), f"{name}: {var} is written into the file"
            if var == "DATABASE_URL":
                assert value.startswith("postgresql://tourcrm:${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}@"), name


def test_the_whole_stack_is_there() -> None:
    services = compose()["services"]
    assert set(services) == {*SERVICES, "postgres", "kafka", "migrate", "prometheus", "grafana"}
    kafka = services["kafka"]
    # the official Apache image, KRaft (no ZooKeeper), of the version the tests run (deploy/kafka/pom.xml)
    tested = re.search(r"<kafka.version>(.+)</kafka.version>", (REPO / "deploy" / "kafka" / "pom.xml").read_text())
    assert kafka["image"] == f"apache/kafka:{tested.group(1)}"
    assert set(kafka["environment"]["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "KAFKA_ZOOKEEPER_CONNECT" not in kafka["environment"]
    init = (REPO / "deploy" / "postgres" / "init.sql").read_text()
    assert set(re.findall(r"CREATE DATABASE (\w+);", init)) == set(SERVICES)
    assert "./deploy/postgres/init.sql:/docker-entrypoint-initdb.d/init.sql:ro" in services["postgres"]["volumes"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    grafana = services["grafana"]["volumes"]
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in grafana
    assert "./deploy/grafana/dashboards:/etc/grafana/dashboards:ro" in grafana


def _settings_in_container(name: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings `tourcrm serve <name>` builds inside its container: the image's ENV, then compose's."""
    service = compose()["services"][name]
    env = {k: v.replace("${SERVICE}", service["build"]["args"]["SERVICE"]) for k, v in dockerfile_env().items()}
    env |= {k: str(v) for k, v in service["environment"].items()}
    for var in [v for v in os.environ if v.startswith("TOURCRM_") or v in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS")]:
        monkeypatch.delenv(var)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    monkeypatch.chdir(REPO / "tests" / "deploy")  # no .env file here
    fields = {f.upper() for f in Settings.model_fields} | {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS"}
    strays = {v for v in env if v.startswith("TOURCRM_") and v.removeprefix("TOURCRM_") not in fields}
    assert not strays, f"{name}: variables no setting reads (misspelt?): {strays}"
    return settings_for(name, Settings(service=name))


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_gets_the_settings_it_needs(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = compose()
    services = stack["services"]
    settings = _settings_in_container(name, monkeypatch)
    assert settings.environment == "production" and settings.host == "0.0.0.0"
    # its own database on the compose PostgreSQL, with the password compose was given
    db = urlsplit(settings.db_url)
    assert (db.scheme, db.hostname, db.port, db.path) == ("postgresql+asyncpg", "postgres", 5432, f"/{name}")
    assert db.password == SECRETS["POSTGRES_PASSWORD"] == services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    # the broker's advertised listener
    kafka = services["kafka"]["environment"]
    assert f"PLAINTEXT://{settings.kafka_bootstrap_servers}" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    # listens where compose publishes it and where its health check and Prometheus look
    assert settings.http_port == spec(name).port
    assert services[name]["ports"] == [f"{settings.http_port}:{settings.http_port}"]
    assert "/health/ready" in " ".join(services[name]["healthcheck"]["test"])
    # reaches the others by their compose names
    for other in SERVICES:
        assert settings.url_of(other) == f"http://{other}:{spec(other).port}"
    # the keys compose passes are the ones it answers to
    client = KeyStore.from_settings(settings).find(KEY)
    assert client is not None and client.name == "booking-web"
    assert set(client.scopes) <= set(all_scopes())


def test_services_start_only_when_what_they_need_is_healthy() -> None:
    services = compose()["services"]
    for name in SERVICES:
        assert services[name]["depends_on"] == {"migrate": {"condition": "service_completed_successfully"},
                                               "kafka": {"condition": "service_healthy"}}
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"
    for name, service in services.items():
        for needed, how in service.get("depends_on", {}).items():
            if how["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], f"{name} waits for {needed} to be healthy; it has no healthcheck"
        if name != "migrate":
            assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
            assert service.get("restart") == "unless-stopped", name


def test_one_dockerfile_builds_every_service_as_a_non_root_user() -> None:
    services = compose()["services"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "ARG SERVICE" in dockerfile and "ENV TOURCRM_SERVICE=${SERVICE}" in dockerfile
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    images = set()
    for name in SERVICES:
        service = services[name]
        assert service["build"] == {"context": ".", "dockerfile": "Dockerfile", "args": {"SERVICE": name}}
        assert "command" not in service and "user" not in service  # the build argument picks the service
        assert service["read_only"] is True and service["tmpfs"] == ["/tmp"]
        images.add(service["image"].split(":")[0])
    assert len(images) == len(SERVICES), "services built with different arguments must not share an image tag"
    assert services["migrate"]["build"]["context"] == "."
    # the image's only writable place is /tmp: its scratch directory is there
    assert dockerfile_env()["TOURCRM_VAR_DIR"].startswith("/tmp/")
