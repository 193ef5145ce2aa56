"""Bulk import of an existing customer list (CSV): validate each row, dedupe through identity resolution,
report rejected rows with the reason, and keep going. Rows go in batches, each row in its own savepoint."""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import customers
from services.profile.schemas import CustomerResolve
from shared import outbox
from shared.db import transaction
from shared.errors import Problem

log = logging.getLogger(__name__)

COLUMNS = ("name", "phone", "email", "gender", "birth_date", "kind", "occupation", "province", "city", "address",
           "preferred_channel", "preferred_language", "interests", "destinations", "tags", "source", "external_id",
           "acquisition_source", "acquisition_detail")
LIST_SEPARATOR = ";"


@dataclass
class Rejected:
    line: int
    field: str
    reason: str


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    matched: int = 0
    rejected: list[Rejected] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "created": self.created, "matched": self.matched,
                "rejected": [r.__dict__ for r in self.rejected]}


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(LIST_SEPARATOR) if v.strip()]


def row_to_request(row: dict[str, str]) -> CustomerResolve:
    """A CSV row → a resolve request (ValidationError names the column)."""
    get = lambda k: (row.get(k) or "").strip() or None  # noqa: E731
    body: dict[str, Any] = {
        "name": get("name"), "gender": get("gender"), "birth_date": get("birth_date"), "occupation": get("occupation"),
        "phones": _split(row.get("phone")), "emails": _split(row.get("email")),
        "preferred_channel": get("preferred_channel"), "preferred_language": get("preferred_language"),
        "tags": _split(row.get("tags")),
        "acquisition_source": get("acquisition_source"), "acquisition_detail": get("acquisition_detail"),
        "preferences": {"interests": _split(row.get("interests")), "destinations": _split(row.get("destinations"))},
    }
    if get("kind"):
        body["kind"] = get("kind")
    if any(get(k) for k in ("province", "city", "address")):
        body["address"] = {"province": get("province"), "city": get("city"), "line": get("address")}
    if get("external_id"):
        body["external_ids"] = [{"source": get("source") or "import", "id": get("external_id")}]
    return CustomerResolve.model_validate({k: v for k, v in body.items() if v is not None})


def _first_error(exc: ValidationError) -> Rejected:
    err = exc.errors()[0]
    loc = [str(p) for p in err.get("loc", ())]
    column = {"phones": "phone", "emails": "email", "external_ids": "external_id"}.get(loc[0], loc[0]) if loc else "row"
    if column == "preferences" and len(loc) > 1:
        column = loc[1]
    if column == "address" and len(loc) > 1:
        column = {"line": "address"}.get(loc[1], loc[1])
    return Rejected(0, column, err.get("msg", "invalid"))


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        unknown = set(reader.fieldnames or []) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown columns: {', '.join(sorted(unknown))}; known: {', '.join(COLUMNS)}")
        for row in reader:
            yield reader.line_num, row


async def import_customers(sessions: async_sessionmaker[AsyncSession], path: Path, *, batch_size: int = 500,
                           progress: Callable[[int], None] | None = None) -> ImportReport:
    report = ImportReport()
    batch: list[tuple[int, dict[str, str]]] = []

    async def flush() -> None:
        async with transaction(sessions) as session:
            for line, row in batch:
                try:
                    request = row_to_request(row)
                except ValidationError as exc:
                    rejected = _first_error(exc)
                    rejected.line = line
                    report.rejected.append(rejected)
                    continue
                if not (request.name or request.phones or request.emails or request.external_ids):
                    report.rejected.append(Rejected(line, "name", "a row needs a name, phone, email or external id"))
                    continue
                try:
                    async with outbox.savepoint(session):
                        if request.phones or request.emails or request.external_ids:
                            _, matched_by, _ = await customers.resolve(session, request, origin="import")
                        else:
                            await customers.create_customer(session, request, origin="import")
                            matched_by = None
                except Problem as exc:
                    errors = exc.extra.get("errors") or [{"field": "row"}]
                    report.rejected.append(Rejected(line, str(errors[0].get("field")), exc.detail))
                    continue
                if matched_by:
                    report.matched += 1
                else:
                    report.created += 1
        if progress:
            progress(len(batch))
        batch.clear()

    for line, row in read_rows(path):
        report.rows += 1
        batch.append((line, row))
        if len(batch) >= batch_size:
            await flush()
    if batch:
        await flush()
    log.info("customer import done", extra={"rows": report.rows, "created_files": report.created, "matched": report.matched,
                                           "rejected": len(report.rejected)})
    return report
