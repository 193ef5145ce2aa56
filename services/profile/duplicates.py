"""Likely duplicate files: active files that share a normalised phone or email, or have similar names and one
birth date."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import repository as repo
from services.profile.models import Customer
from services.profile.normalise import similar_names
from services.profile.public import DuplicateGroup, Items


async def duplicates(session: AsyncSession, limit: int = 200) -> list[DuplicateGroup]:
    """Pairs of active files that share a normalised phone or email, or have similar names and one birth date."""
    pairs: dict[tuple[str, str], set[str]] = defaultdict(set)
    for kind, value in await repo.shared_contacts(session, limit):
        ids = await repo.find_by_contact(session, kind, value)
        for i, a in enumerate(ids):
            for b in ids[i + 1:]:
                pairs[(min(a, b), max(a, b))].add(f"same {kind}")
    by_date: dict[date, list[tuple[str, str]]] = defaultdict(list)
    for cid, name, born in await repo.named_and_born(session):
        by_date[born].append((cid, name))
    for group in by_date.values():
        for i, (a, name_a) in enumerate(group):
            for b, name_b in group[i + 1:]:
                if similar_names(name_a, name_b):
                    pairs[(min(a, b), max(a, b))].add("similar name and same birth date")
    return [DuplicateGroup(customer_ids=list(k), reasons=sorted(v)) for k, v in sorted(pairs.items())][:limit]


async def possible_duplicates(session: AsyncSession, customer: Customer) -> list[str]:
    """Other active files that may be this customer."""
    phones, emails = await repo.contacts(session, customer.id)
    found: list[str] = []
    for kind, values in (("phone", phones), ("email", emails)):
        for value in values:
            found += [c for c in await repo.find_by_contact(session, kind, value) if c != customer.id]
    if customer.birth_date and customer.name:
        found += [cid for cid, name, _ in await repo.named_and_born(session, customer.birth_date)
                  if cid != customer.id and similar_names(name, customer.name)]
    return list(dict.fromkeys(found))


async def duplicate_groups(session: AsyncSession) -> Items[DuplicateGroup]:
    return Items(items=await duplicates(session))
