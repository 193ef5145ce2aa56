"""What every service's Alembic migrations share: the env.py body and the core tables.

A service's `migrations/env.py` is `from shared.migrations import run_env; run_env()`, and its
first revision calls `create_core_tables()` (outbox, inbox, dead letters, idempotency keys).
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context, op

from shared.db import make_engine

BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def run_env() -> None:
    """Run migrations on the connection `shared.db.migrate` passes, or on the URL (alembic CLI)."""
    config = context.config

    def run(connection) -> None:  # noqa: ANN001
        context.configure(connection=connection, target_metadata=None, render_as_batch=True, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return

    async def main() -> None:
        engine = make_engine(config.get_main_option("sqlalchemy.url"))
        try:
            async with engine.begin() as conn:
                await conn.run_sync(run)
        finally:
            await engine.dispose()

    asyncio.run(main())


def create_core_tables() -> None:
    """Core schema v1, as of the first revision of each service."""
    op.create_table(
        "outbox",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200)),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"])
    op.create_index(
        "ix_outbox_unpublished", "outbox", ["id"],
        postgresql_where=sa.text("published_at IS NULL"), sqlite_where=sa.text("published_at IS NULL"),
    )
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(100), primary_key=True),
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "dead_letter",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("fingerprint", sa.String(300), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("offset", sa.BigInteger, nullable=False),
        sa.Column("key", sa.String(200)),
        sa.Column("event_id", sa.String(200)),
        sa.Column("event_type", sa.String(100)),
        sa.Column("payload", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replayed_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("consumer", "fingerprint", name="uq_dead_letter_consumer_fingerprint"),
    )
    op.create_index("ix_dead_letter_status", "dead_letter", ["status"])
    op.create_table(
        "idempotency_key",
        sa.Column("client", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer, nullable=False),
        sa.Column("response", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def add_dead_letter_audit() -> None:
    """Core schema v2: who settled a dead letter (replayed or discarded it), when it was discarded, and why."""
    with op.batch_alter_table("dead_letter") as table:
        table.add_column(sa.Column("discarded_at", sa.DateTime(timezone=True)))
        table.add_column(sa.Column("settled_by", sa.String(100)))
        table.add_column(sa.Column("note", sa.String(500)))


def drop_dead_letter_audit() -> None:
    with op.batch_alter_table("dead_letter") as table:
        for column in ("note", "settled_by", "discarded_at"):
            table.drop_column(column)
