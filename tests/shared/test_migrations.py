"""Each service's migrations build exactly the schema its models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlmodel import SQLModel

from tourcrm import SERVICES, spec
import shared.idempotency  # noqa: F401 - core tables every service has
import shared.inbox  # noqa: F401
import shared.outbox  # noqa: F401
from shared.db import core_registry, make_engine, migrate
from tests.conftest import Backend


def service_metadata(service: str) -> MetaData:
    """The tables of the core and of `service`'s own models."""
    importlib.import_module(f"services.{service}.app")
    metadata = MetaData()
    for mapper in [*SQLModel._sa_registry.mappers, *core_registry.mappers]:  # noqa: SLF001
        module = mapper.class_.__module__
        if module.startswith("shared.") or module.startswith(f"services.{service}."):
            mapper.local_table.to_metadata(metadata)
    return metadata


@pytest.mark.parametrize("service", SERVICES)
async def test_migrations_match_models(backend: Backend, service: str) -> None:
    engine = make_engine(await backend.database(f"m{service}"))
    try:
        await migrate(engine, spec(service).migrations)
        await migrate(engine, spec(service).migrations)  # a second run is a no-op

        def diff(conn):  # noqa: ANN001, ANN202
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return [d for d in compare_metadata(context, service_metadata(service)) if d[0] != "remove_table" or d[1].name != "alembic_version"]

        async with engine.connect() as conn:
            differences = await conn.run_sync(diff)
    finally:
        await engine.dispose()
    assert differences == []
