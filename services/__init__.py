"""The four tourcrm services. Each is `services/<name>/app.py: create_app(settings)` over the same shared core."""

from __future__ import annotations

import importlib

from shared.app import ServiceSpec

SERVICES = ("profile", "complaints", "loyalty", "feedback")


def spec(name: str) -> ServiceSpec:
    if name not in SERVICES:
        raise KeyError(f"unknown service {name!r}; one of {', '.join(SERVICES)}")
    return importlib.import_module(f"services.{name}.app").SPEC
