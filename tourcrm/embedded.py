"""Embedded mode: the four services in one process, each on its own port, over one in-process bus."""

from __future__ import annotations

import asyncio
import logging
import signal

import uvicorn

from shared.auth import dev_key
from shared.bus import MemoryBus
from shared.settings import Settings
from tourcrm import SERVICES, settings_for
from tourcrm.serving import CoalescingHttp

log = logging.getLogger(__name__)


async def run_embedded(settings: Settings, *, demo: bool = True, demo_customers: int) -> None:
    # One MemoryBus for all four, unless settings point at a Kafka cluster.
    bus = None if settings.kafka_bootstrap_servers else MemoryBus()
    servers: list[uvicorn.Server] = []
    for name in SERVICES:
        service_settings = settings_for(name, settings)
        module = __import__(f"services.{name}.app", fromlist=["create_app"])
        app = module.create_app(service_settings, bus=bus)
        config = uvicorn.Config(app, host=settings.host, port=service_settings.http_port, log_config=None,
                                lifespan="on", http=CoalescingHttp)
        servers.append(uvicorn.Server(config))

    def stop_all(*_: object) -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop_all)

    async def serve(server: uvicorn.Server) -> None:
        # Serve without uvicorn's own signal capture: one handler above stops every server.
        config = server.config
        if not config.loaded:
            config.load()
        server.lifespan = config.lifespan_class(config)
        await server._serve()  # noqa: SLF001

    tasks = [asyncio.create_task(serve(server)) for server in servers]
    while not all(server.started for server in servers):
        if any(task.done() for task in tasks):
            stop_all()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise SystemExit("a service failed to start; see the log above")
        await asyncio.sleep(0.05)

    base = f"http://{settings.host}"
    key = dev_key(settings.var_dir) if settings.environment == "development" else None
    lines = ["", "tourcrm is running (embedded mode: SQLite under "
             f"{settings.var_dir}/, in-process bus):" if bus else "tourcrm is running (Kafka bus):"]
    for name in SERVICES:
        port = settings_for(name, settings).http_port
        lines.append(f"  {name:<11} {base}:{port}   docs {base}:{port}/docs   metrics {base}:{port}/metrics")
    if key:
        lines += [f"  development API key (all scopes, kept in {settings.var_dir}/dev-api-key):", f"    {key}"]
    lines.append("  stop with Ctrl-C")
    print("\n".join(lines), flush=True)  # noqa: T201 - the one thing a person starting it needs to see

    if demo and key:
        from tourcrm.demo import load_on_first_start

        try:
            await load_on_first_start(settings_for("profile", settings).service_urls, key, settings.var_dir,
                                      customers=demo_customers)
        except Exception:  # noqa: BLE001 - the services keep running without demo data
            log.exception("demo data not loaded")

    await asyncio.gather(*tasks, return_exceptions=True)
