"""`tourcrm status`: each service process's readiness (/health/ready), consumer lag, outbox backlog and dead
letters, read from its public ops routes (no key needed) — for a stack started by `tourcrm stack up`, or the
default ports of embedded mode."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.table import Table

SUMMED = {
    "tourcrm_consumer_lag": "consumer_lag",
    "tourcrm_outbox_backlog": "outbox_backlog",
    "tourcrm_outbox_oldest_age_seconds": "outbox_oldest_age_seconds",
    "tourcrm_events_dead_lettered": "dead_lettered",  # the counter's family name (without _total)
}


@dataclass
class ProcessStatus:
    service: str
    replica: int
    url: str
    pid: int | None = None
    ready: bool = False
    problems: dict[str, str] = field(default_factory=dict)  # failing readiness checks, or why it did not answer
    consumer_lag: float | None = None
    outbox_backlog: float | None = None
    outbox_oldest_age_seconds: float | None = None
    dead_lettered: float | None = None  # dead letters stored since the process started

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def read_metrics(text: str) -> dict[str, float]:
    """The sums of the few series the status shows, from a Prometheus text exposition."""
    sums: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name in SUMMED:
            sums[SUMMED[family.name]] = sum(s.value for s in family.samples if not s.name.endswith("_created"))
    return sums


def probe(status: ProcessStatus, timeout: float = 5) -> ProcessStatus:
    """Fill in readiness and metrics of one process."""
    try:
        ready = httpx.get(f"{status.url}/health/ready", timeout=timeout)
        status.ready = ready.status_code == 200
        checks = ready.json().get("checks", {}) if ready.headers.get("content-type", "").endswith("json") else {}
        status.problems = {name: value for name, value in checks.items() if value != "ok"}
        metrics = read_metrics(httpx.get(f"{status.url}/metrics", timeout=timeout).text)
    except (httpx.HTTPError, ValueError) as exc:
        status.ready, status.problems = False, {"http": type(exc).__name__}
        return status
    for name, value in metrics.items():
        setattr(status, name, value)
    return status


def table(statuses: list[ProcessStatus]) -> Table:
    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:,.0f}"

    out = Table("service", "pid", "url", "ready", "consumer lag", "outbox backlog", "oldest unpublished",
                "dead letters", title="tourcrm status")
    for s in statuses:
        ready = "[green]ready[/]" if s.ready else "[red]not ready[/] " + ", ".join(f"{k}: {v}" for k, v in s.problems.items())
        age = "-" if s.outbox_oldest_age_seconds is None else f"{s.outbox_oldest_age_seconds:.1f}s"
        out.add_row(f"{s.service}-{s.replica}", str(s.pid or "-"), s.url, ready, number(s.consumer_lag),
                    number(s.outbox_backlog), age, number(s.dead_lettered))
    return out
