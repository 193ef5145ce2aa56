"""The composition of tourcrm: the one place that knows all four services (shared/ never names one).

Each service describes itself in `services/<name>/app.py: SPEC` (port, scopes, routers, subscriptions,
jobs, migrations); this package lists them, and runs them (`tourcrm.cli`, `tourcrm.embedded`).
"""

from __future__ import annotations

import importlib

from shared.app import ServiceSpec
from shared.auth import GENERIC_SCOPES
from shared.settings import Settings

SERVICES = ("profile", "complaints", "loyalty", "feedback")


def spec(name: str) -> ServiceSpec:
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    return importlib.import_module(f"services.{name}.app").SPEC


def specs() -> list[ServiceSpec]:
    return [spec(name) for name in SERVICES]


def all_scopes() -> tuple[str, ...]:
    """Every scope a key may hold: each service's own, and the ones every service shares."""
    own = [scope for s in specs() for scope in s.scopes]
    return tuple(dict.fromkeys([*own, *GENERIC_SCOPES]))


def settings_for(name: str, base: Settings | None = None) -> Settings:
    """The settings of service `name`: its own port (unless TOURCRM_PORT says otherwise), where the
    others answer (unless TOURCRM_SERVICE_URLS says otherwise), and which answer export and erasure
    requests (unless TOURCRM_PRIVACY_SERVICES says otherwise: by default all of them)."""
    base = base or Settings(service=name)
    urls = {s.name: f"http://127.0.0.1:{s.port + base.port_offset}" for s in specs()} | base.service_urls
    port = base.port if base.service == name and base.port else spec(name).port + base.port_offset
    privacy = base.privacy_services or list(SERVICES)
    return base.model_copy(update={"service": name, "port": port, "service_urls": urls, "privacy_services": privacy})
