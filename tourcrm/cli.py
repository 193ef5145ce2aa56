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
from tourcrm.serving import CoalescingHttp

app = typer.Typer(help="tourcrm: CRM backend for travel agencies, tour operators and hotels.", no_args_is_help=True)
dlq = typer.Typer(help="Dead letters: records a consumer parked after bounded retries.", no_args_is_help=True)
keys = typer.Typer(help="API keys.", no_args_is_help=True)
stack = typer.Typer(help="Each service as its own process on the local PostgreSQL and Kafka (make stack).",
                    no_args_is_help=True)
app.add_typer(dlq, name="dlq")
app.add_typer(keys, name="keys")
app.add_typer(stack, name="stack")
for _spec in specs():
    for _group in _spec.commands:  # e.g. profile's `tourcrm import customers FILE.csv`
        app.add_typer(_group)
console = Console(stderr=True)

ServiceArg = Annotated[str, typer.Argument(help=f"one of: {', '.join(SERVICES)}")]
StackDir = Annotated[Path, typer.Option("--dir", help="the stack's directory: stack.json, pid files, logs")]
StackOpt = Annotated[Path | None, typer.Option("--stack", help="a stack directory (tourcrm stack up): work on "
                                                               "its databases; default: settings from the environment")]
DEFAULT_STACK = Path("var/stack")


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
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        runner.run(run_embedded(settings, demo=demo, demo_customers=demo_customers))


def _event_loop_factory():  # noqa: ANN202
    """uvloop where it is installed (uvicorn[standard] brings it; `tourcrm serve` gets it from uvicorn), as the
    embedded process runs its four servers itself."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


@app.command()
def serve(service: ServiceArg) -> None:
    """Production mode: one service in this process (settings from the environment)."""
    settings = settings_for(_check(service))
    tlogging.configure(settings.log_level)
    if settings.workers == 1:
        uvicorn.run(worker_app(service), host=settings.host, port=settings.http_port, log_config=None,
                    proxy_headers=True, http=CoalescingHttp, access_log=False)
        return
    os.environ["TOURCRM_SERVICE"] = service  # read by worker_app in each worker process
    # /metrics of any worker then sums all of them (prometheus_client's multiprocess mode); fresh each start
    metrics_dir = settings.var_dir / f"metrics-{service}"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    uvicorn.run("tourcrm.cli:worker_app", factory=True, workers=settings.workers, host=settings.host,
                port=settings.http_port, log_config=None, proxy_headers=True, http=CoalescingHttp,
                access_log=False)  # no access log (tlogging.quiet_libraries); uvicorn then skips formatting its lines


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


def _consumer(service: str, stack_dir: Path | None = None):  # noqa: ANN202
    """The service's consumer over its database, without starting the service (no bus, no relay)."""
    from shared.app import Runtime
    from tourcrm.stack import Stack

    settings = Stack.load(stack_dir).settings(_check(service)) if stack_dir else settings_for(_check(service))
    runtime = Runtime(spec(service), settings)
    return runtime.engine, runtime.consumer


@dlq.command("list")
def dlq_list(
    service: ServiceArg,
    status: Annotated[str, typer.Option(help="parked, replayed, discarded or all")] = "parked",
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False,
    stack_dir: StackOpt = None,
) -> None:
    """List dead letters of a service's consumer."""

    async def main() -> None:
        engine, consumer = _consumer(service, stack_dir)
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
    stack_dir: StackOpt = None,
) -> None:
    """Apply parked dead letters again (once: an event already applied is skipped); those that still fail stay
    parked with the new error."""

    async def main() -> None:
        engine, consumer = _consumer(service, stack_dir)
        try:
            outcomes = await consumer.replay(ids, by=f"cli:{os.environ.get('USER', 'ops')}")
        finally:
            await engine.dispose()
        for letter_id, outcome in outcomes.items():
            typer.echo(f"{letter_id}\t{outcome}")
        if any(o != "replayed" for o in outcomes.values()):
            raise typer.Exit(1)

    asyncio.run(main())


@dlq.command("show")
def dlq_show(service: ServiceArg, letter_id: Annotated[int, typer.Argument(help="the dead letter's id")],
             stack_dir: StackOpt = None) -> None:
    """One dead letter as JSON: the reason and the original record (value, key, headers)."""
    from shared.ops import DeadLetterView

    async def main() -> None:
        engine, consumer = _consumer(service, stack_dir)
        try:
            letter = await consumer.dead_letter(letter_id)
        finally:
            await engine.dispose()
        if letter is None:
            console.print(f"[red]no dead letter {letter_id} in {service}[/]")
            raise typer.Exit(1)
        typer.echo(DeadLetterView.of(letter).model_dump_json(indent=2))

    asyncio.run(main())


@dlq.command("discard")
def dlq_discard(
    service: ServiceArg, letter_id: Annotated[int, typer.Argument(help="the dead letter's id")],
    reason: Annotated[str, typer.Option(help="why it will never be applied (kept for the audit)")],
    stack_dir: StackOpt = None,
) -> None:
    """Never apply a parked dead letter: it stays, marked discarded with who and why."""

    async def main() -> None:
        engine, consumer = _consumer(service, stack_dir)
        try:
            letter, done = await consumer.discard(letter_id, by=f"cli:{os.environ.get('USER', 'ops')}", note=reason[:500])
        finally:
            await engine.dispose()
        if not done:
            console.print(f"[red]dead letter {letter_id} of {service} is {letter.status if letter else 'not there'}[/]")
            raise typer.Exit(1)
        typer.echo(f"{letter_id}\tdiscarded")

    asyncio.run(main())


@stack.command("up")
def stack_up(
    directory: StackDir = DEFAULT_STACK,
    replicas: Annotated[list[str] | None, typer.Option("--replicas", help="service=N, e.g. loyalty=2")] = None,
    topic_prefix: Annotated[str, typer.Option(help="prefix of its topics and consumer groups")] = "stack",
    database_prefix: Annotated[str, typer.Option(help="its databases: <prefix><service>")] = "tourcrm_stack_",
    port_offset: Annotated[int, typer.Option(help="added to each service's port")] = 0,
    postgres: Annotated[str, typer.Option(envvar="TOURCRM_STACK_POSTGRES", help="admin URL")] = "",
    kafka: Annotated[str, typer.Option(envvar="KAFKA_BOOTSTRAP_SERVERS")] = "127.0.0.1:9092",
    timeout: Annotated[float, typer.Option(help="seconds to wait for every process to be ready")] = 120,
) -> None:
    """Create and migrate one database per service, start each service as its own process, wait until ready."""
    from tourcrm.stack import DEFAULT_POSTGRES, Stack, up

    counts = {}
    for item in replicas or []:
        name, _, count = item.partition("=")
        if not count.isdigit() or not 1 <= int(count) <= 8:
            raise typer.BadParameter(f"{item!r}: want service=N with N from 1 to 8")
        counts[_check(name)] = int(count)
    the_stack = Stack(directory.resolve(), postgres or DEFAULT_POSTGRES, kafka, topic_prefix, database_prefix,
                      port_offset, counts)
    try:
        up(the_stack, timeout=timeout)
    except RuntimeError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    for name, n in the_stack.processes():
        console.print(f"  {f'{name}-{n}':<13} {the_stack.url(name, n)}   log {the_stack.log_file(name, n)}")
    console.print(f"[green]stack up[/] (topics {topic_prefix}.*, databases {database_prefix}*); "
                  "see `tourcrm status`, stop with `tourcrm stack down`")


@stack.command("start")
def stack_start(service: ServiceArg, replica: Annotated[int, typer.Option(min=1)] = 1,
                directory: StackDir = DEFAULT_STACK) -> None:
    """Start one process of a running stack again (after it stopped or was killed); waits until it is ready."""
    from tourcrm.stack import Stack

    try:
        the_stack = Stack.load(directory)
        pid = the_stack.spawn(_check(service), replica)
        the_stack.wait_ready([(service, replica)])
    except (LookupError, RuntimeError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"{service}-{replica} ready (pid {pid})")


@stack.command("down")
def stack_down(directory: StackDir = DEFAULT_STACK,
               purge: Annotated[bool, typer.Option(help="also drop its databases and delete its topics")] = False) -> None:
    """Stop every process of the stack (SIGTERM, then SIGKILL after 20 s)."""
    from tourcrm.stack import Stack, down

    try:
        the_stack = Stack.load(directory)
    except LookupError as exc:
        console.print(str(exc))
        return
    stopped = down(the_stack, purge_all=purge)
    console.print(f"stopped {len(stopped)} processes" + (", dropped the databases and topics" if purge else ""))


@app.command()
def status(directory: StackDir = DEFAULT_STACK,
           as_json: Annotated[bool, typer.Option("--json", help="one JSON object a line")] = False) -> None:
    """Readiness, consumer lag, outbox backlog and dead letters of each service process (exit 1 if one is not ready)."""
    from tourcrm.stack import Stack
    from tourcrm.status import ProcessStatus, probe, table

    try:
        the_stack = Stack.load(directory)
        processes = [ProcessStatus(name, n, the_stack.url(name, n), the_stack.pid(name, n))
                     for name, n in the_stack.processes()]
    except LookupError:  # no stack: the services where embedded mode (or TOURCRM_PORT_OFFSET) puts them
        processes = [ProcessStatus(name, 1, f"http://127.0.0.1:{settings_for(name).http_port}") for name in SERVICES]
    statuses = [probe(p) for p in processes]
    if as_json:
        for s in statuses:
            typer.echo(json.dumps(s.as_json()))
    else:
        Console().print(table(statuses))
    if not all(s.ready for s in statuses):
        raise typer.Exit(1)


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
