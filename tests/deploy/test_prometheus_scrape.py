"""A real Prometheus server (Debian's `prometheus`) scrapes the four services and answers queries over
their series. The services run as the multi-process stack (each its own process on PostgreSQL + Kafka, on
free ports, tests/e2e/stack.py); Prometheus gets deploy/prometheus's config and rules, pointed at those ports, with a 2 s
scrape (1 s evaluation) interval. Both processes are stopped whatever happens."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import free_port
from tests.deploy.catalog import PROMETHEUS, exported_series
from tests.e2e.stack import running_stack
from tourcrm import SERVICES, spec

pytestmark = pytest.mark.servers


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait(what: str, check: Callable[[], bool], proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, f"{what}: the process ended\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, int]]:
    """The four services, each its own process on PostgreSQL + Kafka (the multi-process stack): service → port."""
    for stack in running_stack():
        yield {name: spec(name).port + stack.offset for name in SERVICES}


@pytest.fixture(scope="module")
def prometheus(services: dict[str, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's Prometheus with deploy/prometheus's config, targets and intervals set for the test: its URL."""
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: run scripts/tools.sh (make services installs it)"
    home = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    config["global"] |= {"scrape_interval": "2s", "scrape_timeout": "2s", "evaluation_interval": "1s"}
    [job] = config["scrape_configs"]
    for target in job["static_configs"]:
        target["targets"] = [f"127.0.0.1:{services[target['labels']['service']]}"]
    (home / "prometheus.yml").write_text(yaml.safe_dump(config))
    for rules in config["rule_files"]:
        shutil.copy(PROMETHEUS / rules, home / rules)
    port = free_port()
    log = home / "prometheus.log"
    proc = subprocess.Popen([binary, f"--config.file={home / 'prometheus.yml'}", f"--storage.tsdb.path={home / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], cwd=home,
                            stdout=subprocess.DEVNULL, stderr=log.open("w"))
    url = f"http://127.0.0.1:{port}"
    try:
        _wait("prometheus", lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200, proc, log)
        yield url
    finally:
        _stop(proc)


def query(url: str, promql: str) -> list[dict]:
    body = httpx.get(f"{url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def eventually(check: Callable[[], object], timeout: float = 60) -> object:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"not within {timeout}s"
        time.sleep(1)
    return found


def by_service(results: list[dict]) -> dict[str, str]:
    return {r["metric"]["service"]: r["value"][1] for r in results}


def test_prometheus_scrapes_the_four_services(services: dict[str, int], prometheus: str) -> None:
    def all_up() -> bool:
        return by_service(query(prometheus, 'up{job="tourcrm"}')) == {name: "1" for name in SERVICES}

    try:
        eventually(all_up)
    except AssertionError:
        targets = httpx.get(f"{prometheus}/api/v1/targets", timeout=10).json()["data"]["activeTargets"]
        raise AssertionError({t["scrapeUrl"]: (t["health"], t["lastError"]) for t in targets}) from None
    for name, port in services.items():  # traffic the RED metrics count
        assert httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=5).status_code == 200
    requests = eventually(lambda: len(found := by_service(query(
        prometheus, 'sum by (service) (tourcrm_http_requests_total{route="/health/live"})'))) == 4 and found)
    assert set(requests) == set(SERVICES) and all(float(v) >= 1 for v in requests.values())
    # the recording rules run on the scraped series
    rates = eventually(lambda: len(found := by_service(query(prometheus, "service:tourcrm_http_requests:rate5m"))) == 4
                       and found)
    assert set(rates) == set(SERVICES)
    # every series the services export is one the dashboards' and rules' catalog knows
    names = httpx.get(f"{prometheus}/api/v1/label/__name__/values", timeout=10).json()["data"]
    scraped = {n for n in names if n.startswith("tourcrm_")}
    assert {"tourcrm_http_requests_total", "tourcrm_outbox_backlog", "tourcrm_service_info"} <= scraped
    assert scraped - set(exported_series()) == set()


def test_prometheus_loads_and_evaluates_every_rule(prometheus: str) -> None:
    def evaluated() -> list[dict] | None:
        groups = httpx.get(f"{prometheus}/api/v1/rules", timeout=10).json()["data"]["groups"]
        rules = [rule for group in groups for rule in group["rules"]]
        return rules if rules and all(rule.get("lastEvaluation", "").startswith("20") for rule in rules) else None

    rules = eventually(evaluated)
    expected = [r.get("record") or r.get("alert") for f in ("rules.yml", "alerts.yml")
                for g in yaml.safe_load((PROMETHEUS / f).read_text())["groups"] for r in g["rules"]]
    assert sorted(rule["name"] for rule in rules) == sorted(expected)
    assert [rule["name"] for rule in rules if rule["health"] != "ok"] == []
    # a healthy stack fires no operations alert
    firing = query(prometheus, 'ALERTS{alertstate="firing"}')
    assert firing == []
