"""Where the database time of a served run goes: PostgreSQL CPU per booking by database, the statements that took
the most time, the tables read by full scans, and the indexes nothing read.

    async with pg_cost.watch({"profile": "pipe_1a2b3c4d", ...}, exclude=[bench connection pids]) as cost:
        ...  # the run
    print(await cost.report(bookings))

- CPU by database: every process of the PostgreSQL server sampled from /proc twice a second, its CPU since the
  watch began (one started meanwhile: all of it), summed per database (pg_stat_activity: a backend's or autovacuum
  worker's database); the processes of no database (checkpointer, WAL writer, …) as "server"; other databases (other
  runs on the machine) apart, not counted. A process that ends between two samples loses its last half second: the
  services keep their pooled connections, so that is little.
- Statements: pg_stat_statements, when the server has it loaded (`scripts/postgres.sh` preloads it on a cluster it
  starts; a server started before that, or elsewhere, has not, and loading it takes a restart: then this part says
  so and the table statistics below still tell the full scans); the change over the run, by total time.
- Tables: pg_stat_user_tables of each database at the end (fresh scratch databases: everything is the run's):
  full scans and the rows they read, index scans.
- Unread indexes: pg_stat_user_indexes with idx_scan = 0 at the end, of the tables the run wrote (each write kept
  them up to date for nothing; unique ones are only counted: they enforce their constraint).
The bench's own queries count in the table statistics (pipeline_bench polls each inbox's count: a full scan of
`inbox` every 0.2 s), not in the CPU (its connections are excluded).
Statistics reach the shared counters when a backend has been idle a moment (up to 10 s on PostgreSQL 15):
`report` waits for that first.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager

import asyncpg
from served import PG, database_url, processes

STATS_SETTLE_SECONDS = 11.0  # PostgreSQL 15 backends flush their statistics within 10 s of going idle
TOP = 12

STATEMENTS = """
SELECT d.datname, s.queryid, s.calls, s.total_exec_time, s.rows, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 150)
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = ANY($1::text[])
"""
TABLES = """
SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0), n_live_tup FROM pg_stat_user_tables
WHERE seq_scan > 0 ORDER BY seq_tup_read DESC, seq_scan DESC LIMIT 5
"""
UNREAD = """
SELECT s.relname, s.indexrelname, i.indisunique FROM pg_stat_user_indexes s JOIN pg_index i ON i.indexrelid = s.indexrelid
JOIN pg_stat_user_tables t ON t.relid = s.relid
WHERE s.idx_scan = 0 AND t.n_tup_ins + t.n_tup_upd + t.n_tup_del > 0 ORDER BY s.relname, s.indexrelname
"""


class Watch:
    """One run's PostgreSQL cost (see the module's doc)."""

    def __init__(self, databases: Mapping[str, str], exclude: Iterable[int], admin: asyncpg.Connection) -> None:
        self.databases = dict(databases)  # service -> database
        self.exclude = {*exclude, admin.get_server_pid()}
        self.admin = admin
        self.first: dict[int, float] = {}  # server process -> CPU when first seen (0 for one started during the run)
        self.last: dict[int, tuple[str | None, float]] = {}  # server process -> (its database, CPU when last seen)
        # the server's main process: the parent of this connection's backend
        self.postmaster = processes()[admin.get_server_pid()][0]
        self.statements_before: dict[tuple[str, int], tuple[int, float, int, str]] | None = None
        self.statements_why = ""
        self.sampling: asyncio.Task | None = None

    async def sample(self, *, initial: bool = False) -> None:
        database = dict(await self.admin.fetch("SELECT pid, datname FROM pg_stat_activity"))
        for pid, (parent, cpu) in processes().items():
            if parent == self.postmaster and pid not in self.exclude:
                self.first.setdefault(pid, cpu if initial else 0.0)
                self.last[pid] = (database.get(pid) or self.last.get(pid, (None, 0.0))[0], cpu)

    async def statements(self) -> dict[tuple[str, int], tuple[int, float, int, str]] | None:
        """(database, queryid) -> (calls, total ms, rows, text) so far; None when pg_stat_statements is not loaded."""
        try:
            rows = await self.admin.fetch(STATEMENTS, list(self.databases.values()))
        except (asyncpg.UndefinedTableError, asyncpg.ObjectNotInPrerequisiteStateError) as exc:
            self.statements_why = f"pg_stat_statements not available ({type(exc).__name__}: {str(exc)[:120]})"
            return None
        return {(d, q): (calls, ms, n, text) for d, q, calls, ms, n, text in rows}

    async def report(self, bookings: int) -> str:
        """The run's figures (call once, when the run is over): CPU per booking by database, statements, tables."""
        if self.sampling is not None:
            self.sampling.cancel()
            await asyncio.gather(self.sampling, return_exceptions=True)
        await asyncio.sleep(STATS_SETTLE_SECONDS)
        await self.sample()
        service_of = {db: service for service, db in self.databases.items()}
        cpu: dict[str, float] = defaultdict(float)
        for pid, (datname, seconds) in self.last.items():
            cpu["server" if datname is None else service_of.get(datname, "other")] += seconds - self.first[pid]
        others = cpu.pop("other", 0.0)
        ms = {name: seconds * 1000 / bookings for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1])}
        lines = [f"PostgreSQL CPU per booking: {sum(ms.values()):.2f} ms — " + ", ".join(
            f"{name} {value:.2f} ms" for name, value in ms.items())
            + f" (other databases on the server meanwhile: {others:.1f} s, not counted)"]
        lines += await self._statements(service_of)
        for service, database in self.databases.items():
            conn = await asyncpg.connect(database_url(database))
            try:
                tables, unread = await conn.fetch(TABLES), await conn.fetch(UNREAD)
            finally:
                await conn.close()
            lines.append(f"  {service}: full scans " + (", ".join(
                f"{t} {scans:,}× ({read:,} rows read; {idx:,} index scans; {live:,} rows)"
                for t, scans, read, idx, live in tables) or "none"))
            lines.append(f"  {service}: indexes of written tables never read: " + (", ".join(
                name for _, name, unique in unread if not unique) or "none")
                + f"; and {sum(unique for *_, unique in unread)} unique ones (they enforce their constraint)")
        return "\n".join(lines)

    async def _statements(self, service_of: dict[str, str]) -> list[str]:
        after = await self.statements()
        if after is None or self.statements_before is None:
            return [f"  statements: {self.statements_why or 'pg_stat_statements not available'}; "
                    "tables' full scans below instead"]
        changed = []
        for key, (calls, ms, rows, text) in after.items():
            calls0, ms0, rows0, _ = self.statements_before.get(key, (0, 0.0, 0, ""))
            if calls > calls0:
                changed.append((ms - ms0, calls - calls0, rows - rows0, service_of[key[0]], text))
        total = sum(c[0] for c in changed) or 1.0
        lines = [f"  statements by total time ({total:,.0f} ms in all):"]
        for ms, calls, rows, service, text in sorted(changed, reverse=True)[:TOP]:
            lines.append(f"    {ms:9,.0f} ms {ms / total:4.0%}  {calls:7,} calls  {ms / calls:7.3f} ms each  "
                         f"{rows / calls:6.1f} rows  {service}: {text}")
        return lines


@asynccontextmanager
async def watch(databases: Mapping[str, str], *, exclude: Iterable[int] = (), interval: float = 0.5
                ) -> AsyncIterator[Watch]:
    """Watch PostgreSQL while the block runs; `exclude`: backend pids that are not the services' (the bench's own)."""
    admin = await asyncpg.connect(PG)
    w = Watch(databases, exclude, admin)
    await w.sample(initial=True)
    w.statements_before = await w.statements()

    async def sampling() -> None:
        while True:
            await asyncio.sleep(interval)
            await w.sample()

    w.sampling = asyncio.create_task(sampling())
    try:
        yield w
    finally:
        w.sampling.cancel()
        await asyncio.gather(w.sampling, return_exceptions=True)
        await admin.close()
