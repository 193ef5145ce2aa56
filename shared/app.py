"""One way to build every service: a spec (routers, subscriptions, jobs) + settings → a FastAPI app.

The lifespan migrates the service's database, starts the outbox relay, the consumer of the
events it subscribes to and its periodic jobs, and stops them all in reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import errors
from shared.auth import KeyStore
from shared.bus import Bus, Consumer, MemoryBus
from shared.edge import PROBLEM_RESPONSES, GuardRequests, document_the_guard
from shared.consumer import BatchHook, EventConsumer, Subscriptions
from shared.kafka import KafkaBus
from shared.read_pool import close_read_pool, read_connection
from shared.db import SessionHooks, exclusive, make_engine, make_sessionmaker, migrate, ping, session_class, utcnow
from shared.logging import correlation_id, error_fields, service_name
from shared.metrics import Metrics, exposition
from shared.outbox import Relay
from shared.settings import Settings

log = logging.getLogger(__name__)
GC_YOUNG_THRESHOLD = 50_000  # allocations between young collections (Python's default: 700)
# FastAPI's own OpenTelemetry asks the global tracer, meter and logger providers on every request whether one is
# configured; the services observe themselves (ObserveRequests: Prometheus, JSON logs with the correlation id)
NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}

Job = Callable[["Runtime"], Awaitable[None]]


def every(
    interval: float | Callable[[datetime, Settings], float],
    step: Callable[[Runtime, datetime], Awaitable[Any]],
    *,
    name: str,
) -> Job:
    """A periodic job: wait `interval` seconds (or what `interval(now, settings)` says), run
    `step(runtime, now)`, repeat. A failed run is logged and counted; the next run still comes."""

    async def job(runtime: Runtime) -> None:
        while True:
            delay = interval(utcnow(), runtime.settings) if callable(interval) else interval
            await asyncio.sleep(delay)
            try:
                async with exclusive(runtime.engine, f"job {runtime.spec.name} {name}") as mine:
                    result = await step(runtime, utcnow()) if mine else None  # else another replica runs it
                if result:
                    log.info("job ran", extra={"job": name, "result": result})
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a job outlives one failed run
                runtime.metrics.job_failures.labels(job=name).inc()
                log.error("job failed", extra={"job": name, **error_fields(exc)})

    job.__name__ = name
    return job


@dataclass
class ServiceSpec:
    """What makes a service this service: where it listens, its scopes, its routers, the events it
    consumes, its periodic jobs, its schema. The composition (the `tourcrm` package) lists the specs."""

    name: str
    title: str
    port: int  # its default HTTP port
    migrations: Path  # its Alembic directory
    description: str = ""
    scopes: Sequence[str] = ()  # the scopes its routes require, besides the generic ones (shared.auth)
    routers: Sequence[APIRouter] = ()
    subscriptions: Subscriptions = field(default_factory=dict)
    after_batch: Sequence[BatchHook] = ()  # once per consumed batch, in its transaction
    session_hooks: SessionHooks = field(default_factory=dict)  # SQLAlchemy session events, on its sessions only
    jobs: Sequence[Job] = ()
    commands: Sequence[Any] = ()  # typer apps the CLI mounts (e.g. `tourcrm import customers`)


def make_bus(settings: Settings) -> Bus:
    if settings.kafka_bootstrap_servers:
        return KafkaBus(
            settings.kafka_bootstrap_servers,
            prefix=settings.topic_prefix,
            client_id=f"tourcrm-{settings.service}",
            timeout=settings.bus_timeout_seconds,
            lag_interval=settings.consumer_lag_interval_seconds,
            fetch_wait_ms=settings.consumer_fetch_wait_ms,
        )
    return MemoryBus()


class Runtime:
    """The running parts of one service: database, bus, relay, consumer, jobs."""

    def __init__(self, spec: ServiceSpec, settings: Settings, bus: Bus | None = None) -> None:
        self.spec = spec
        self.settings = settings
        self.metrics = Metrics(spec.name)
        self.engine: AsyncEngine = make_engine(settings.db_url)
        sessions_of_this_service = session_class(spec.name, spec.session_hooks)
        self.sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(
            self.engine, settings=settings, sync_session_class=sessions_of_this_service
        )
        self.read_sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(
            self.engine, readonly=True, settings=settings, sync_session_class=sessions_of_this_service
        )
        self._owns_bus = bus is None
        self.bus: Bus = bus or make_bus(settings)
        self.relay = Relay(
            engine=self.engine, bus=self.bus, metrics=self.metrics,
            batch_size=settings.relay_batch_size, idle_seconds=settings.relay_idle_seconds,
            gather_seconds=settings.relay_gather_seconds,
        )
        self.consumer = EventConsumer(
            name=spec.name, sessions=self.sessions, subscriptions=spec.subscriptions,
            metrics=self.metrics, max_attempts=settings.consumer_max_attempts, after_batch=spec.after_batch,
        )
        self._bus_consumer: Consumer | None = None
        self._jobs: list[asyncio.Task] = []

    def health(self) -> dict[str, str]:
        """The readiness of the parts that run in the background: 'ok', or what is wrong."""
        if self._bus_consumer is None:
            return {}
        return {f"consumer:{self.spec.name}": self._bus_consumer.health()}

    async def start(self, *, run_migrations: bool = True) -> None:
        if run_migrations:
            await migrate(self.engine, self.spec.migrations)
        if self._owns_bus:
            await self.bus.start()
        if isinstance(self.bus, MemoryBus) and self.settings.memory_bus_replay_seconds > 0:
            requeued = await self.relay.requeue_recent(self.settings.memory_bus_replay_seconds)
            if requeued:
                log.info("in-process bus: publishing recent events again", extra={"events": requeued})
        await self.relay.start()
        if self.spec.subscriptions:
            self._bus_consumer = self.bus.consumer(
                self.spec.name, self.consumer.topics, self.consumer.process_batch,
                metrics=self.metrics, batch_size=self.settings.consumer_batch_size,
            )
            await self._bus_consumer.start()
        self._jobs = [asyncio.create_task(job(self), name=f"{self.spec.name}-job") for job in self.spec.jobs]

    async def stop(self) -> None:
        for task in self._jobs:
            task.cancel()
        await asyncio.gather(*self._jobs, return_exceptions=True)
        if self._bus_consumer:
            await self._bus_consumer.stop()
        await self.relay.stop()
        if self._owns_bus:
            await self.bus.stop()
        await close_read_pool(self.engine)
        await self.engine.dispose()


# --- dependencies ------------------------------------------------------------------------------


async def get_runtime(request: Request) -> Runtime:
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a hop per request
    return request.app.state.runtime


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.runtime.sessions() as session:
        yield session


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.runtime.read_sessions() as session:
        yield session


async def unit_of_work(request: Request) -> AsyncIterator[AsyncSession]:
    """A session in a transaction that commits once, when the route has returned and before its answer
    is sent; any error rolls it all back (an IntegrityError at commit becomes a 409 problem)."""
    async with request.app.state.runtime.sessions() as session, session.begin():
        yield session


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]  # a bare session (the route opens its transactions)
UnitOfWork = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]  # for use cases that change state
ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]  # for queries


# --- the app -----------------------------------------------------------------------------------


def build_app(spec: ServiceSpec, settings: Settings, *, bus: Bus | None = None, run_migrations: bool = True) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime = Runtime(spec, settings, bus)
        app.state.runtime = runtime
        app.state.keys = KeyStore.from_settings(settings)
        await runtime.start(run_migrations=run_migrations)
        # What start-up built (modules, the app, the ORM's mappings: ~250,000 objects) lives as long as the process;
        # left to the garbage collector, each full collection walks all of it, a pause of 100-400 ms on this
        # machine that every request then waiting sees (the reads' p99, bench/reads_bench.py). Frozen, they are
        # never walked again; what requests allocate is collected as before.
        gc.freeze()
        # Young collections every 700 allocations walked a consumed batch's live rows and events over and over; every
        # 50,000 the four consumers take 20-30 % less CPU per booking (BENCHMARKS.md, "pipeline"). What requests and
        # batches drop is still collected, in larger steps.
        gc.set_threshold(GC_YOUNG_THRESHOLD, 20, 100)
        log.info("service started", extra={"service": spec.name, "port": settings.http_port})
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(title=spec.title, description=spec.description, version="1.0.0", lifespan=lifespan,
                  telemetry=NO_TELEMETRY)
    errors.install(app)
    app.add_middleware(GuardRequests, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(ObserveRequests, service=spec.name)  # outermost: sees every answer, its own 500s too

    @app.get("/health/live", tags=["ops"])
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/health/ready", tags=["ops"])
    async def ready(runtime: RuntimeDep) -> Response:
        checks = {"database": "ok", "bus": "ok"}
        try:
            async with asyncio.timeout(5):
                await ping(runtime.engine)
        except Exception as exc:  # noqa: BLE001
            checks["database"] = type(exc).__name__
        if not await runtime.bus.ready():
            checks["bus"] = "unreachable"
        checks.update(runtime.health())
        if all(v == "ok" for v in checks.values()):
            return JSONResponse({"status": "ok", "checks": checks})
        return errors.problem_response(503, "Service Unavailable", "not ready", checks=checks)

    @app.get("/metrics", tags=["ops"], response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}, "description": "Prometheus text format"}})
    async def metrics(runtime: RuntimeDep) -> Response:
        return Response(exposition(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    from shared.ops import router as ops_router  # its routes depend on this module's Runtime

    if (floor := _bench_floor(spec.name)) and settings.environment != "production":
        _mount_bench_floor(app, floor)  # before the routers: matched first, as /health/live is (matching is ~20 %)
    for router in [*spec.routers, ops_router]:
        app.include_router(router, responses=PROBLEM_RESPONSES)
    document_the_guard(app)
    return app


def _bench_floor(service: str) -> str | None:
    """TOURCRM_BENCH_FLOOR: `table.column`, or per service (one process serving several, embedded mode):
    `profile=customer.id,loyalty=loyalty_member.customer_id`."""
    value = os.environ.get("TOURCRM_BENCH_FLOOR", "")
    if "=" not in value:
        return value or None
    return dict(part.split("=", 1) for part in value.split(",")).get(service)


def _mount_bench_floor(app: FastAPI, target: str) -> None:
    """`GET /bench/floor/{id}`: one prebuilt primary-key SELECT on `table.column` through the raw driver, its row as
    JSON, no key. The physical limit of a read in this stack, for bench/reads_bench.py only: mounted when
    TOURCRM_BENCH_FLOOR=table.column is set, never in production (not in the OpenAPI document either)."""
    table, column = target.split(".")
    if not (table.isidentifier() and column.isidentifier()):
        raise ValueError(f"TOURCRM_BENCH_FLOOR: not table.column: {target!r}")

    @app.get("/bench/floor/{ident}", include_in_schema=False)
    async def floor(ident: str, request: Request) -> Response:
        engine = request.app.state.runtime.engine
        if engine.dialect.name == "postgresql":  # a connection of the pool the hot reads use, taken as they take it
            async with read_connection(engine) as held:
                row = await held.driver.fetchrow(f'SELECT * FROM "{table}" WHERE "{column}" = $1', ident)
        else:
            async with engine.connect() as connection:
                driver = (await connection.get_raw_connection()).driver_connection
                cursor = await driver.execute(f'SELECT * FROM "{table}" WHERE "{column}" = ?', (ident,))
                found = await cursor.fetchone()
                row = dict(zip([d[0] for d in cursor.description], found)) if found else None
        if row is None:
            return JSONResponse({"detail": "not found"}, status_code=404)
        return Response(json.dumps(dict(row), default=str), media_type="application/json")


class ObserveRequests:
    """Plain ASGI middleware: correlation id in and out, RED metrics per route, an error log on 5xx.

    (Starlette's BaseHTTPMiddleware would cost a task and a stream per request.)
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app, self.service = app, service
        self._metrics: Metrics | None = None
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _series(self, metrics: Metrics, method: str, route: str, status: int) -> tuple[Any, Any]:
        """The request counter and duration histogram of one (method, route, status), looked up once: `labels()`
        takes a lock and validates its arguments on every call. (An app started again has new metrics.)"""
        if metrics is not self._metrics:
            self._metrics, self._children = metrics, {}
        key = (method, route, status)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = (metrics.http_requests.labels(method, route, str(status)),
                                           metrics.http_duration.labels(method, route))
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = traceparent = b""
        for name, value in scope["headers"]:
            if name == b"x-correlation-id":
                incoming = value
            elif name == b"traceparent":
                traceparent = value
        # a fresh id: 16 random bytes as hex, as uuid4().hex but without building a UUID (≈ 3 % of a bare read)
        cid = (incoming.decode("latin-1")[:100] or _trace_id(traceparent.decode("latin-1"))
               or os.urandom(16).hex())
        token_cid, token_svc = correlation_id.set(cid), service_name.set(self.service)
        started = time.perf_counter()
        status = 500

        started_response = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
                message["headers"] = [*message.get("headers", []), (b"x-correlation-id", cid.encode("latin-1"))]
            await send(message)

        failure: Exception | None = None
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:  # noqa: BLE001 - answered here, logged once below with the correlation id
            failure, status = exc, 500
            if started_response:
                raise
            response = errors.problem_response(500, "Internal Server Error",
                                               "an unexpected error occurred; it has been logged",
                                               instance=scope.get("path"))
            await response(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            if route != "/metrics":
                count, duration = self._series(scope["app"].state.runtime.metrics, scope["method"], route, status)
                count.inc()
                duration.observe(time.perf_counter() - started)
            if status >= 500:
                log.error("request failed", extra={"method": scope["method"], "route": route, "status": status,
                                                   **(error_fields(failure) if failure else {})})
            correlation_id.reset(token_cid)
            service_name.reset(token_svc)


def _trace_id(traceparent: str | None) -> str | None:
    """The trace id of a W3C traceparent header (version-traceid-parentid-flags)."""
    if traceparent:
        parts = traceparent.split("-")
        if len(parts) == 4 and len(parts[1]) == 32:
            return parts[1]
    return None
