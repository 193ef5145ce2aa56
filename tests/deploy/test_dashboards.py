"""Grafana: the ops and business dashboards are provisioned from deploy/grafana, their queries are PromQL
that promtool accepts, name only metrics the services export or the recording rules make (with labels
those carry), and they show what ops and the business asked for."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.deploy.catalog import dashboard_files, grafana_to_promql, selectors, unknown_names

PROVISIONING = REPO / "deploy" / "grafana" / "provisioning"


def panels(dashboard: dict) -> Iterator[dict]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row holds its panels


def queries(dashboard: dict) -> Iterator[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable (label_values(selector, label))."""
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield f"{dashboard['uid']} / {panel['title']} / {target['refId']}", grafana_to_promql(target["expr"])
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            assert m, f"{dashboard['uid']} variable {variable['name']}: {query!r}"
            yield f"{dashboard['uid']} / ${variable['name']}", grafana_to_promql(m.group(1))


def dashboards() -> dict[str, dict]:
    return {path.name: json.loads(path.read_text()) for path in dashboard_files()}


def names_used(dashboard: dict) -> str:
    """Every selector of the dashboard with its matchers, as text (to look for a metric or a kpi in)."""
    return "\n".join(expr for _, expr in queries(dashboard))


def test_there_is_an_ops_and_a_business_dashboard_provisioned_from_deploy() -> None:
    found = dashboards()
    assert set(found) == {"tourcrm-ops.json", "tourcrm-business.json"}
    assert len({d["uid"] for d in found.values()}) == 2
    [provider] = yaml.safe_load((PROVISIONING / "dashboards" / "tourcrm.yml").read_text())["providers"]
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in compose
    [source] = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert source["url"] == "http://prometheus:9090" and source["type"] == "prometheus"
    for name, dashboard in found.items():
        ids = [p["id"] for p in panels(dashboard)]
        assert len(ids) == len(set(ids)), name
        for panel in panels(dashboard):
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24, f"{name} / {panel['title']} is wider than the dashboard"
            for target in panel.get("targets", []):
                assert target["datasource"] == panel["datasource"] == {"type": "prometheus", "uid": source["uid"]}


def test_every_query_names_only_exported_or_recorded_metrics() -> None:
    problems = {where: found for d in dashboards().values() for where, expr in queries(d) if (found := unknown_names(expr))}
    assert problems == {}


def test_every_query_is_promql_that_prometheus_accepts(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run scripts/tools.sh (make services installs it)"
    exprs = [expr for d in dashboards().values() for _, expr in queries(d)]
    rules = {"groups": [{"name": "dashboards", "rules": [{"record": f"dashboard:query:{n}", "expr": e}
                                                          for n, e in enumerate(exprs)]}]}
    (tmp_path / "dashboards.yml").write_text(yaml.safe_dump(rules))
    run = subprocess.run([promtool, "check", "rules", str(tmp_path / "dashboards.yml")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"SUCCESS: {len(exprs)} rules found" in run.stdout


def test_the_ops_dashboard_shows_red_lag_outbox_and_dead_letters() -> None:
    text = names_used(dashboards()["tourcrm-ops.json"])
    for wanted in ("service:tourcrm_http_requests:rate5m", "service:tourcrm_http_error_ratio:rate5m",
                   "service:tourcrm_http_request_duration_seconds:p50_5m",
                   "service:tourcrm_http_request_duration_seconds:p99_5m", "service_group:tourcrm_consumer_lag:sum",
                   "service:tourcrm_outbox_backlog:max", "service:tourcrm_outbox_oldest_age_seconds:max",
                   "tourcrm_events_dead_lettered_total", "up"):
        assert wanted in {name for name, _ in selectors(text.replace("\n", " or "))}, wanted


def test_the_business_dashboard_shows_complaints_satisfaction_points_and_customers() -> None:
    text = names_used(dashboards()["tourcrm-business.json"])
    names = {name for name, _ in selectors(text.replace("\n", " or "))}
    assert {"severity:tourcrm_complaints_open:max", "tourcrm:complaints_sla_compliance:ratio",
            "tourcrm:feedback_nps_rolling:max", "tourcrm:feedback_csi_rolling:max",
            "movement:tourcrm_loyalty_points:increase1h", "kpi:tourcrm_profile_kpi:max"} <= names
    for kpi in ("churn_rate", "repeat_purchase_rate"):
        assert re.search(rf'kpi:tourcrm_profile_kpi:max\{{kpi=~?"[^"]*\b{kpi}\b', text), kpi


@pytest.mark.parametrize("bad", ['rate(tourcrm_http_requests{service="x"}[5m])',
                                 'sum by (route) (tourcrm_outbox_backlog{route="/v1"})'])
def test_the_check_refuses_a_query_over_a_missing_metric_or_label(bad: str) -> None:
    assert unknown_names(grafana_to_promql(bad)) != []
