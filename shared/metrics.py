"""Prometheus metrics of one service, in a registry of its own (four services may share a process)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess


def exposition(registry: CollectorRegistry) -> bytes:
    """/metrics: this process's registry, or, when the service runs as several processes
    (PROMETHEUS_MULTIPROC_DIR, set by `tourcrm serve` with TOURCRM_WORKERS > 1), all of them combined."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


class Metrics:
    """RED per route, event flow per type, outbox backlog and consumer lag; services add business gauges."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "tourcrm_http_requests_total", "HTTP requests by route and status", ["method", "route", "status"], registry=self.registry
        )
        self.http_duration = Histogram(
            "tourcrm_http_request_duration_seconds",
            "HTTP request duration by route",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.events_published = Counter(
            "tourcrm_events_published_total", "Events published from the outbox, by type", ["type"], registry=self.registry
        )
        self.events_consumed = Counter(
            "tourcrm_events_consumed_total", "Events applied by a consumer, by type", ["consumer", "type"], registry=self.registry
        )
        self.events_duplicate = Counter(
            "tourcrm_events_duplicate_total", "Redelivered events skipped by the inbox", ["consumer", "type"], registry=self.registry
        )
        self.events_failed = Counter(
            "tourcrm_events_failed_total", "Handler attempts that failed, by type", ["consumer", "type"], registry=self.registry
        )
        self.events_dead_lettered = Counter(
            "tourcrm_events_dead_lettered_total", "Dead letters stored (committed), by type", ["consumer", "type"], registry=self.registry
        )
        self.handler_duration = Histogram(
            "tourcrm_event_handler_duration_seconds",
            "Time to apply one event",
            ["consumer", "type"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5),
        )
        self.batch_size = Histogram(
            "tourcrm_consumer_batch_records", "Records per consumed batch", ["consumer"], registry=self.registry,
            buckets=(1, 5, 10, 50, 100, 250, 500, 1000),
        )
        # where a record's time goes before its effect commits: waiting (on the broker, in the client's buffer, behind
        # the batch before) until its batch begins, then the batch (handlers, hooks, commit)
        self.batch_wait = Histogram(
            "tourcrm_consumer_batch_wait_seconds", "Age of a batch's oldest record when the batch begins",
            ["consumer"], registry=self.registry, buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.batch_duration = Histogram(
            "tourcrm_consumer_batch_seconds", "Time to apply a batch (its transaction, or its events one by one)",
            ["consumer"], registry=self.registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        # multiprocess_mode: how the processes of one service (TOURCRM_WORKERS) combine a gauge on /metrics
        self.outbox_backlog = Gauge("tourcrm_outbox_backlog", "Unpublished outbox rows", registry=self.registry,
                                    multiprocess_mode="max")
        self.outbox_oldest_age = Gauge(
            "tourcrm_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row", registry=self.registry,
            multiprocess_mode="max",
        )
        self.outbox_publish_failures = Counter(
            "tourcrm_outbox_publish_failures_total", "Relay sweeps that failed to publish", registry=self.registry
        )
        self.consumer_lag = Gauge(
            "tourcrm_consumer_lag", "Records not yet consumed, per partition", ["group", "topic", "partition"],
            registry=self.registry, multiprocess_mode="mostrecent",
        )
        self.consumer_restarts = Counter(
            "tourcrm_consumer_restarts_total", "Consumer loops that died and were restarted", ["group"],
            registry=self.registry,
        )
        self.job_failures = Counter(
            "tourcrm_job_failures_total", "Periodic job runs that failed", ["job"], registry=self.registry
        )
        self.service_info = Gauge("tourcrm_service_info", "This service", ["service"], registry=self.registry,
                                  multiprocess_mode="max")
        self.service_info.labels(service=service).set(1)
