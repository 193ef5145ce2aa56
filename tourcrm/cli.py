"""`tourcrm`: one CLI for every process role."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console
from rich.table import Table

from shared import logging as tlogging
from shared.auth import hash_key, new_key
from shared.settings import Settings
from tourcrm import SERVICES, all_scopes, settings_for, spec, specs

app = typer.Typer(help="tourcrm: CRM backend for travel agencies, tour operators and hotels.", no_args_is_help=True)
dlq = typer.Typer(help="Dead letters: records a consumer parked after bounded retries.", no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)
app.add_typer(dlq, name="dlq")
app.add_typer(keys, name="keys")
for _spec in specs():
    for _group in _spec.commands:  # e.g. profile's `tourcrm import customers FILE.csv`
        app.add_typer(_group)
console = Console(stderr=True)

ServiceArg = Annotated[str, typer.Argument(help=f"one of: {', '.join(SERVICES)}")]


def _check(service: str) -> str:
    if service not in SERVICES:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    return service


@app.command()
def run(
    demo: Annotated[bool, typer.Option(help="load demo data on first start")] = True,
    demo_customers: Annotated[int, typer.Option(min=1, max=100_000,
                                                help="customers of that demo data (a small set: quick)")] = 200,
) -> None:
    """Embedded mode: all four services in one process, each on its own port."""
    from tourcrm.embedded import run_embedded

    settings = Settings()
    tlogging.configure(settings.log_level)
    asyncio.run(run_embedded(settings, demo=demo, demo_customers=demo_customers))


@app.command()
def serve(service: ServiceArg) -> None:
    """Production mode: one service in this process (settings from the environment)."""
    settings = settings_for(_check(service))
    tlogging.configure(settings.log_level)
    if settings.workers == 1:
        uvicorn.run(worker_app(service), host=settings.host, port=settings.http_port, log_config=None,
                    proxy_headers=True)
        return
    os.environ["TOURCRM_SERVICE"] = service  # read by worker_app in each worker process
    # /metrics of any worker then sums all of them (prometheus_client's multiprocess mode); fresh each start
    metrics_dir = settings.var_dir / f"metrics-{service}"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    uvicorn.run("tourcrm.cli:worker_app", factory=True, workers=settings.workers, host=settings.host,
                port=settings.http_port, log_config=None, proxy_headers=True)


def worker_app(service: str | None = None):  # noqa: ANN201 - a FastAPI app
    """The app of one server process of `service` (or of $TOURCRM_SERVICE, in a worker that uvicorn started)."""
    settings = settings_for(_check(service or os.environ["TOURCRM_SERVICE"]))
    tlogging.configure(settings.log_level)
    module = __import__(f"services.{settings.service}.app", fromlist=["create_app"])
    return module.create_app(settings)


@app.command()
def migrate(services: Annotated[list[str] | None, typer.Argument(help="services to migrate (default: all)")] = None) -> None:
    """Bring each service's database schema to the latest revision."""
    from shared.db import make_engine, migrate as run_migrations

    async def main() -> None:
        for name in services or SERVICES:
            settings = settings_for(_check(name))
            engine = make_engine(settings.db_url)
            try:
                await run_migrations(engine, spec(name).migrations)
            finally:
                await engine.dispose()
            console.print(f"[green]migrated[/] {name}")

    asyncio.run(main())


def _consumer(service: str):  # noqa: ANN202
    """The service's consumer over its database, without starting the service (no bus, no relay)."""
    from shared.app import Runtime

    runtime = Runtime(spec(_check(service)), settings_for(service))
    return runtime.engine, runtime.consumer


@dlq.command("list")
def dlq_list(
    service: ServiceArg,
    status: Annotated[str, typer.Option(help="parked, replayed or all")] = "parked",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
) -> None:
    """List dead letters of a service's consumer."""

    async def main() -> None:
        engine, consumer = _consumer(service)
        try:
            letters = await consumer.dead_letters(status=None if status == "all" else status, limit=1000)
        finally:
            await engine.dispose()
        if as_json:
            for d in letters:
                typer.echo(json.dumps(d.model_dump(mode="json", exclude={"payload", "headers"})))
            return
        table = Table("id", "status", "type", "topic:partition:offset", "attempts", "last failed", "error")
        for d in letters:
            table.add_row(str(d.id), d.status, d.event_type or "-", f"{d.topic}:{d.partition}:{d.offset}",
                          str(d.attempts), d.last_failed_at.isoformat(timespec="seconds"), d.error[:120])
        Console().print(table)

    asyncio.run(main())


@dlq.command("replay")
def dlq_replay(
    service: ServiceArg,
    ids: Annotated[list[int] | None, typer.Option("--id", help="dead letter id (repeatable; default: all parked)")] = None,
) -> None:
    """Apply parked dead letters again; those that still fail stay parked with the new error."""

    async def main() -> None:
        engine, consumer = _consumer(service)
        try:
            outcomes = await consumer.replay(ids)
        finally:
            await engine.dispose()
        for letter_id, outcome in outcomes.items():
            typer.echo(f"{letter_id}\t{outcome}")
        if any(o != "replayed" for o in outcomes.values()):
            raise typer.Exit(1)

    asyncio.run(main())


@app.command("demo")
def demo_data(
    customers: Annotated[int, typer.Option(min=1, max=100_000, help="how many demo customers")] = 2000,
    seed: Annotated[int, typer.Option(help="the same seed gives the same data")] = 7,
    key: Annotated[str | None, typer.Option(envvar="TOURCRM_DEMO_KEY", show_envvar=True,
                                            help="API key with every scope (default: var/dev-api-key)")] = None,
    url: Annotated[list[str] | None, typer.Option(
        help="service=base URL, repeatable (default: TOURCRM_SERVICE_URLS)")] = None,
    wait: Annotated[float, typer.Option(help="seconds to wait for events to reach a service")] = 120,
) -> None:
    """Fill a running stack with demo data through the public API (refused when it holds demo data already)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tourcrm import demo

    settings = settings_for("profile")
    urls = dict(settings.service_urls)
    for item in url or []:
        service, sep, base = item.partition("=")
        if not sep or service not in SERVICES:
            raise typer.BadParameter(f"--url wants service=URL with a service of {', '.join(SERVICES)}: {item!r}")
        urls[service] = base
    if key is None:
        path = settings.var_dir / "dev-api-key"
        if not path.exists():
            raise typer.BadParameter("no key: pass --key (or TOURCRM_DEMO_KEY), or run `tourcrm run` once for var/dev-api-key")
        key = path.read_text().strip()
    columns = (TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console) as progress:
            report = asyncio.run(demo.run(urls, key, customers=customers, seed=seed, progress=progress,
                                          wait_seconds=wait))
    except (demo.AlreadyLoaded, demo.Unavailable) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    typer.echo(report.summary())


@app.command()
def asyncapi(out: Annotated[Path, typer.Option(help="where to write it")] = Path("docs/asyncapi.json")) -> None:
    """Write the AsyncAPI document of the events, generated from the event models."""
    from shared.asyncapi import render

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render())
    console.print(f"wrote {out}")


@keys.command("new")
def keys_new(
    client: Annotated[str, typer.Option(help="who will use the key, e.g. booking-web")],
    scope: Annotated[list[str], typer.Option(help="repeatable; see `tourcrm keys scopes`")],
    customer_facing: Annotated[bool, typer.Option(help="the client acts for the signed-in customer named in "
                                                       "X-Customer-Id (an app backend)")] = False,
) -> None:
    """Make a key: prints the key once (give it to the client) and the entry for the keys file."""
    unknown = set(scope) - set(all_scopes())
    if unknown:
        raise typer.BadParameter(f"unknown scopes: {', '.join(sorted(unknown))}")
    key = new_key()
    typer.echo(f"key: {key}")
    entry = {"client": client, "key_sha256": hash_key(key), "scopes": sorted(scope)}
    typer.echo(json.dumps(entry | ({"customer_facing": True} if customer_facing else {})))


@keys.command("scopes")
def keys_scopes() -> None:
    """List the scopes a key may hold."""
    for name in all_scopes():
        typer.echo(name)


if __name__ == "__main__":
    app()
