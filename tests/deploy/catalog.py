"""What the monitoring may name: the metrics the services export (read from the code that registers them),
the series the recording rules make, and the metric names and label names a PromQL expression uses.

The code is read rather than a running service scraped because most business gauges appear only after a
periodic job's first round (a minute or more); test_prometheus_scrape.py checks the other way round
that every series a real scrape returns is in this catalog.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.conftest import REPO

PROMETHEUS = REPO / "deploy" / "prometheus"
DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
# Labels every scraped series gets from its target (prometheus.yml); a metric's own label of the same
# name is kept as exported_<name>.
TARGET_LABELS = frozenset({"job", "instance", "service"})
PROMETHEUS_MADE = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})  # series Prometheus itself writes
SUFFIXES = {
    "Counter": ("_total", "_created"),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count", "_created"),
    "Summary": ("", "_sum", "_count", "_created"),
}
@dataclass(frozen=True)
class Metric:
    name: str  # as registered
    kind: str  # Counter, Gauge, Histogram, Summary
    labels: tuple[str, ...]
    where: str

    @property
    def series(self) -> set[str]:
        base = self.name.removesuffix("_total") if self.kind == "Counter" else self.name
        return {base + suffix for suffix in SUFFIXES[self.kind]}

    def labels_in_prometheus(self, series: str) -> set[str]:
        own = {f"exported_{label}" if label in TARGET_LABELS else label for label in self.labels}
        return own | TARGET_LABELS | ({"le"} if series.endswith("_bucket") else set())


def _labels(call: ast.Call) -> tuple[str, ...]:
    node = call.args[2] if len(call.args) > 2 else next((k.value for k in call.keywords if k.arg == "labelnames"), None)
    if node is None:
        return ()
    assert isinstance(node, (ast.List, ast.Tuple)), f"labelnames not a literal list at line {call.lineno}"
    return tuple(element.value for element in node.elts if isinstance(element, ast.Constant))


@functools.cache
def registered_metrics() -> dict[str, Metric]:
    """Every Counter / Gauge / Histogram / Summary that shared/, services/ or tourcrm/ registers, by name."""
    found: dict[str, Metric] = {}
    for folder in ("shared", "services", "tourcrm"):
        for path in sorted((REPO / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                kind = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if kind not in SUFFIXES or not node.args:
                    continue
                name = node.args[0]
                if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                    # collections.Counter(iterable) is no metric; a registry= without a literal name is one
                    assert not any(k.arg == "registry" for k in node.keywords), \
                        f"{path}:{node.lineno}: a metric name the catalog cannot read; write it as a literal"
                    continue
                found[name.value] = Metric(name.value, kind, _labels(node), f"{path.relative_to(REPO)}:{node.lineno}")
    return found


def known_metrics() -> dict[str, Metric]:
    """The metrics the services register."""
    return registered_metrics()


def exported_series() -> dict[str, Metric]:
    """Series name on /metrics → the metric that exports it."""
    return {series: metric for metric in known_metrics().values() for series in metric.series}


def rule_groups(name: str) -> list[dict]:
    return yaml.safe_load((PROMETHEUS / name).read_text())["groups"]


@functools.cache
def recorded_series() -> frozenset[str]:
    return frozenset(rule["record"] for group in rule_groups("rules.yml") for rule in group["rules"])


# --- PromQL -------------------------------------------------------------------------------------------

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "atan2",  # operators, then aggregations
             "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk",
             "quantile"}
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
_TOKEN = re.compile(
    r"""(?P<space>\s+)|(?P<string>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)|(?P<range>\[[^\]]*\])"""
    r"""|(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])*(?:\d+(?:ms|[smhdwy]))*)"""
    r"""|(?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)|(?P<brace>\{)|(?P<other>.)""",
    re.S,
)
_MATCHER = re.compile(r"""\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)\s*,?""")
GRAFANA_VARIABLE = re.compile(r"\$\{?(\w+)(?::\w+)?\}?")


def grafana_to_promql(expr: str) -> str:
    """A Grafana query with its variables replaced by values of the right kind ($__rate_interval → 5m)."""
    return GRAFANA_VARIABLE.sub(lambda m: "5m" if m.group(1).startswith("__") else "x", expr)


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, label names matched) of each vector selector in a PromQL expression."""
    found: list[tuple[str, set[str]]] = []
    pos, last_ident, skip_group = 0, None, False
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        assert m, f"cannot read {expr[pos:]!r}"
        kind, text, pos = m.lastgroup, m.group(), m.end()
        if kind == "space":
            continue
        if kind == "brace":
            labels, end = _matchers(expr, pos)
            pos = end
            if last_ident is None:
                raise AssertionError(f"a selector without a metric name in {expr!r}: name the metric")
            found[-1][1].update(labels)
            last_ident = None
            continue
        if kind == "ident":
            rest = expr[pos:].lstrip()
            if text in _GROUPING:
                skip_group = rest.startswith("(")
            elif rest.startswith("(") or text in _KEYWORDS:
                pass  # a function or an operator
            else:
                found.append((text, set()))
                last_ident = text
                continue
        elif kind == "other" and text == "(" and skip_group:
            pos = expr.index(")", pos) + 1  # the label list of by / without / on / ignoring / group_x
            skip_group = False
        last_ident = None
    return found


def _matchers(expr: str, pos: int) -> tuple[set[str], int]:
    labels: set[str] = set()
    while True:
        rest = expr[pos:].lstrip()
        if rest.startswith("}"):
            return labels, len(expr) - len(rest) + 1
        m = _MATCHER.match(expr, pos)
        assert m, f"cannot read the label matchers at {expr[pos:]!r}"
        labels.add(m.group(1))
        pos = m.end()


def unknown_names(expr: str) -> list[str]:
    """What in `expr` names a series nobody exports or records, or a label that series does not carry."""
    series, recorded = exported_series(), recorded_series()
    problems = []
    for name, labels in selectors(expr):
        if name in recorded or name in PROMETHEUS_MADE:
            continue
        metric = series.get(name)
        if metric is None:
            problems.append(f"{name}: no service exports it and no recording rule makes it")
            continue
        stray = labels - metric.labels_in_prometheus(name) - {"__name__"}
        if stray:
            problems.append(f"{name}: has no label {', '.join(sorted(stray))}")
    return problems


def dashboard_files() -> list[Path]:
    return sorted(DASHBOARDS.glob("*.json"))
