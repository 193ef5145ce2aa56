"""deploy/prometheus: promtool accepts the config and the rules, the rule unit tests pass (each alert fires
on the series that should fire it and stays quiet on healthy ones), every alert has such a test, the rules
name only metrics the services export, and every service is scraped where compose runs it.

promtool comes from Debian's prometheus package (scripts/tools.sh, run by `make services`); these tests
fail, never skip, without it."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.deploy.catalog import PROMETHEUS, rule_groups, unknown_names
from tourcrm import SERVICES, spec

RULE_TESTS = sorted((PROMETHEUS / "tests").glob("*.yml"))


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: run scripts/tools.sh (make services installs it)"
    return found


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=PROMETHEUS)


def test_promtool_accepts_the_config_and_the_rules(promtool: str) -> None:
    config = _run(promtool, "check", "config", "prometheus.yml")
    assert config.returncode == 0, config.stdout + config.stderr
    assert "2 rule files found" in config.stdout
    rules = _run(promtool, "check", "rules", "rules.yml", "alerts.yml")
    assert rules.returncode == 0, rules.stdout + rules.stderr
    # group names unique over both files: the unit tests' group_eval_order (recording rules before the
    # alerts that read them) names groups, and a name in both files made their order random
    names = [group["name"] for f in ("rules.yml", "alerts.yml") for group in rule_groups(f)]
    assert len(names) == len(set(names))
    for path in RULE_TESTS:
        assert yaml.safe_load(path.read_text())["group_eval_order"] == names, path.name


def test_the_rule_unit_tests_pass(promtool: str) -> None:
    assert RULE_TESTS
    run = _run(promtool, "test", "rules", *map(str, RULE_TESTS))
    assert run.returncode == 0, run.stdout + run.stderr


def test_promtool_fails_a_rule_test_whose_alert_does_not_fire(promtool: str, tmp_path) -> None:  # noqa: ANN001
    """The unit tests can fail: the service-down case with the target kept up expects an alert that never comes."""
    suite = yaml.safe_load((PROMETHEUS / "tests" / "ops.yml").read_text())
    case = next(t for t in suite["tests"] if any(a["alertname"] == "TourcrmServiceDown" for a in t["alert_rule_test"]))
    for series in case["input_series"]:
        series["values"] = "1x12"
    suite["tests"] = [case]
    suite["rule_files"] = [str(PROMETHEUS / "rules.yml"), str(PROMETHEUS / "alerts.yml")]
    (tmp_path / "healthy.yml").write_text(yaml.safe_dump(suite))
    run = _run(promtool, "test", "rules", str(tmp_path / "healthy.yml"))
    assert run.returncode != 0 and "TourcrmServiceDown" in run.stdout + run.stderr


def test_every_alert_is_shown_to_fire_and_to_stay_quiet() -> None:
    alerts = {rule["alert"] for group in rule_groups("alerts.yml") for rule in group["rules"]}
    assert {"TourcrmServiceDown", "TourcrmHighErrorRate", "TourcrmSlowRequests", "TourcrmConsumerLag",
            "TourcrmOutboxStuck", "TourcrmDeadLetters", "TourcrmComplaintsSlaBreached", "TourcrmNpsDrop",
            "TourcrmPointsLiabilityJump"} <= alerts
    fires, quiet = set(), set()
    for path in RULE_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else quiet).add(check["alertname"])
    assert alerts - fires == set(), "alerts no unit test shows firing"
    assert alerts - quiet == set(), "alerts no unit test shows quiet on healthy series"


def test_rules_name_only_metrics_the_services_export() -> None:
    problems = {}
    for name in ("rules.yml", "alerts.yml"):
        for group in rule_groups(name):
            for rule in group["rules"]:
                found = unknown_names(rule["expr"])
                if found:
                    problems[rule.get("record") or rule["alert"]] = found
    assert problems == {}
    # and the check does see a misspelt name or a label a metric does not carry
    assert unknown_names("rate(tourcrm_http_request_total[5m])") != []
    assert unknown_names('tourcrm_complaints_open{clock="resolution"}') == ["tourcrm_complaints_open: has no label clock"]


def test_every_service_is_scraped_where_compose_runs_it() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "tourcrm"]
    targets = {t["labels"]["service"]: t["targets"] for t in job["static_configs"]}
    assert targets == {name: [f"{name}:{spec(name).port}"] for name in SERVICES}
    assert config["rule_files"] == ["rules.yml", "alerts.yml"]
