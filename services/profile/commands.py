"""`tourcrm import customers FILE.csv`: load an existing customer list into the profile database.

The CLI mounts this group as `tourcrm import` (the service's SPEC lists it in `commands`).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.profile.importer import COLUMNS, import_customers
from shared.db import make_engine, make_sessionmaker, migrate
from shared.settings import Settings

app = typer.Typer(name="import", help="Import data into tourcrm.", no_args_is_help=True)
MIGRATIONS = Path(__file__).parent / "migrations"


@app.callback()
def _group() -> None:
    """Import data into tourcrm (a command group, so that more importers can join)."""


def _count_rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig") as handle:
        return max(0, sum(1 for _ in handle) - 1)


@app.command("customers")
def customers(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help=f"CSV with a header of: {', '.join(COLUMNS)} (lists separated by ';')")],
    batch_size: Annotated[int, typer.Option(min=1, max=5000, help="rows per transaction")] = 500,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Load customers from a CSV: dedupe by external id / phone / email, report rejected rows, never stop on them."""
    settings = Settings(service="profile")
    console = Console(stderr=True)

    async def main() -> dict:
        engine = make_engine(settings.db_url)
        try:
            await migrate(engine, MIGRATIONS)
            with Progress(TextColumn("importing customers"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                          console=console, disable=as_json) as bar:
                task = bar.add_task("import", total=_count_rows(file))
                report = await import_customers(make_sessionmaker(engine), file, batch_size=batch_size,
                                                progress=lambda n: bar.advance(task, n))
            return report.as_dict()
        finally:
            await engine.dispose()

    try:
        report = asyncio.run(main())
    except ValueError as exc:
        console.print(f"[red]cannot import:[/] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False))
    else:
        typer.echo(f"rows {report['rows']}: created {report['created']}, matched existing {report['matched']}, "
                   f"rejected {len(report['rejected'])}")
        for r in report["rejected"]:
            typer.echo(f"  line {r['line']}: {r['field']}: {r['reason']}")


values = typer.Typer(name="values", help="Customer value and churn (the nightly run).", no_args_is_help=True)


@values.callback()
def _values_group() -> None:
    """Customer value and churn: the nightly run on demand."""


@values.command("recompute")
def recompute(
    full: Annotated[bool, typer.Option("--full", help="every customer, not only the changed and the due ones")] = False,
) -> None:
    """Run the nightly value / churn run now: incremental, or with --full every customer (e.g. after a restore)."""
    from services.profile.value_nightly import run  # the CLI loads this module for every command
    from shared.db import transaction, utcnow

    settings = Settings(service="profile")

    async def main() -> str:
        engine = make_engine(settings.db_url)
        try:
            await migrate(engine, MIGRATIONS)
            async with transaction(make_sessionmaker(engine, settings=settings)) as session:
                done = await run(session, now=utcnow(), tz=settings.tz, full=full)
            return f"{done.mode}: recomputed {done.customers} customers, re-ranked {done.reranked}"
        finally:
            await engine.dispose()

    typer.echo(asyncio.run(main()))
