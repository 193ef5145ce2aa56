"""CPU per event of one service's consumer, in this process, without Kafka: its EventConsumer.process_batch on
batches of 500 records — booking-completed over n/4 customers and, for the services that take them, the loyalty
events those bookings cause (a member-enrolled per new customer, a points-earned per booking, a tier-changed per
third booking) — on a fresh PostgreSQL database (or SQLite). The first batch warms up and is not counted.

    .venv/bin/python bench/consumer_cpu_bench.py profile 5000 pg [prof]   # prof: cProfile into /tmp/<service>-<backend>.prof

Full batches, so this is the per-event cost; the served pipeline (bench/pipeline_bench.py) adds the per-batch cost
of the smaller batches a live stream brings.
"""
import asyncio, cProfile, os, random, sys, time, uuid
from pathlib import Path
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / "bench"))
from datetime import timedelta
import asyncpg
from served import PG, database_url
from shared.app import Runtime
from shared.bus import MemoryBus, Record
from shared.db import utcnow
from shared.db import migrate
from shared.settings import Settings
from shared.events import BookingCompleted, MemberEnrolled, PointsEarned, TierChanged, Product, new_event
from tourcrm import settings_for, spec
import logging; logging.disable(logging.WARNING)

P = [Product(id=f"P-{n}", name=f"线路{n}", kind="tour", destination="桂林", tags=["nature"]) for n in range(4)]

def records(n, customers, run, with_loyalty):
    rng = random.Random(1); out = []; seen = set(); bal = {}
    for i in range(n):
        c = f"hc-{run}-{i % customers}"
        d = BookingCompleted(booking_id=f"HB-{run}-{i}", customer_id=c, amount=f"{rng.randint(200,9000)}.00", product=rng.choice(P),
                             party_size=2, completed_at=utcnow() - timedelta(minutes=rng.randint(1, 2000)))
        out.append(Record(d.topic, c, new_event(d, source="h", subject=c).to_bytes()))
        if with_loyalty:
            if c not in seen:
                seen.add(c); e = MemberEnrolled(customer_id=c, enrolled_at=utcnow())
                out.append(Record(e.topic, c, new_event(e, source="tourcrm/loyalty", subject=c).to_bytes()))
            bal[c] = bal.get(c, 0) + 100
            e = PointsEarned(customer_id=c, points=100, balance=bal[c], entry_id=uuid.uuid4().hex, cause=d.booking_id)
            out.append(Record(e.topic, c, new_event(e, source="tourcrm/loyalty", subject=c).to_bytes()))
            if i % 3 == 0:
                e = TierChanged(customer_id=c, old_tier="regular", new_tier="silver", reason="x", changed_at=utcnow())
                out.append(Record(e.topic, c, new_event(e, source="tourcrm/loyalty", subject=c).to_bytes()))
    return out

async def main(service, n, backend, prof):
    run = uuid.uuid4().hex[:6]
    if backend == "pg":
        name = f"harness_{run}"; admin = await asyncpg.connect(PG); await admin.execute(f'CREATE DATABASE "{name}"')
        base = Settings(environment="test", database_url=database_url(name, "postgresql+asyncpg"))
    else:
        import tempfile; d = tempfile.mkdtemp(); base = Settings(environment="test", var_dir=d)
    rt = Runtime(spec(service), settings_for(service, base), bus=MemoryBus())
    try:
        await migrate(rt.engine, rt.spec.migrations)
        recs = records(n, max(1, n // 4), run, service in ("profile", "feedback", "loyalty"))
        recs = [r for r in recs if r.topic in rt.consumer.topics]
        batches = [recs[i:i+500] for i in range(0, len(recs), 500)]
        await rt.consumer.process_batch(batches[0])  # warm
        pr = cProfile.Profile() if prof else None
        t0, c0 = time.perf_counter(), time.process_time()
        if pr: pr.enable()
        for b in batches[1:]:
            await rt.consumer.process_batch(b)
        if pr: pr.disable()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        ev = sum(map(len, batches[1:])); bk = sum(1 for b in batches[1:] for r in b if r.topic == "tourcrm.bookings")
        print(f"{service} {backend}: {ev} events ({bk} bookings) wall {wall:.2f}s cpu {cpu:.2f}s -> {cpu/ev*1e6:.0f} us/event, {cpu/bk*1e3:.3f} ms/booking, {ev/wall:.0f} ev/s")
        if pr:
            pr.dump_stats(f"/tmp/{service}-{backend}.prof")
    finally:
        await rt.engine.dispose()
        if backend == "pg":
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'); await admin.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], len(sys.argv) > 4 and sys.argv[4] == "prof"))
