"""Recommendations with reasons: personalised (interests, destinations, what they booked, what travellers like them
booked) only with a granted profiling consent; otherwise the popular products."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from services.profile import popularity
from services.profile import repository as repo
from services.profile.models import Booking, Customer, Product
from services.profile.public import ProductPublic, product_public
from shared.errors import Conflict

class Recommendation(BaseModel):
    product: ProductPublic
    score: float
    reasons: list[str]


class Recommendations(BaseModel):
    customer_id: str
    personalised: bool
    note: str | None = None
    items: list[Recommendation]


INTEREST_TAGS = {
    "nature": {"nature", "scenic", "hiking", "mountain", "lake", "自然", "山水"},
    "history": {"history", "heritage", "culture", "ancient", "历史", "古迹"},
    "culture": {"culture", "history", "heritage", "art", "museum", "文化"},
    "beach": {"beach", "island", "sea", "海滨"},
    "food": {"food", "cuisine", "美食"},
    "family": {"family", "kids", "亲子"},
}


HISTORY = 200  # the customer's latest completed bookings that shape their recommendations
CANDIDATES = 300  # the most popular products considered for everyone, besides their destinations and co-bookings


async def recommendations(session: AsyncSession, customer_id: str, *, now: datetime, limit: int = 5) -> Recommendations:
    """Up to `limit` products, best first, each with the reasons it was chosen. The work is bounded whatever the
    size of the catalog and the history: the latest HISTORY bookings, the CANDIDATES most popular products (as
    of the last popularity refresh), the customer's destinations and what their peers booked."""
    customer = await repo.get_customer(session, customer_id)
    if customer.status != "active":
        raise Conflict(f"customer {customer_id} is {customer.status}")
    bookings = await popularity.recent_completed(session, customer_id, HISTORY)
    exclude = {b.product_id for b in bookings if b.completed_at >= now - timedelta(days=365)}
    if bookings:
        exclude.add(bookings[0].product_id)  # what was just booked
    personalised = bool((await repo.granted_channels_of(session, [customer_id], "profiling"))[customer_id])
    if personalised:
        items = await _personal(session, customer, bookings, exclude)
    else:
        popular = await popularity.popular_products(session, limit + len(exclude))
        items = [Recommendation(product=product_public(p), score=float(p.buyers),
                                reasons=[f"popular with travellers ({p.buyers} booked it)"])
                 for p in popular if p.id not in exclude]
    items.sort(key=lambda i: (-i.score, i.product.id))
    return Recommendations(customer_id=customer_id, personalised=personalised,
                           note=None if personalised else "no profiling consent: popular products only",
                           items=items[:limit])


async def _candidates(session: AsyncSession, destinations: set[str], co: dict[str, int],
                      mine: set[str]) -> dict[str, Product]:
    found = {p.id: p for p in await popularity.popular_products(session, CANDIDATES)}
    found.update((p.id, p) for p in await popularity.products_at(session, destinations, CANDIDATES))
    found.update(await repo.products_by_id(session, set(co) | mine))
    return found


async def _personal(session: AsyncSession, customer: Customer, bookings: list[Booking],
                    exclude: set[str]) -> list[Recommendation]:
    prefs = customer.preferences or {}
    interests = [i.casefold() for i in prefs.get("interests", [])]
    destinations = {d.casefold() for d in prefs.get("destinations", [])}
    mine = {b.product_id for b in bookings}
    co = await popularity.buyers_per_product(session, among=popularity.peers_of(customer.id, mine), excluding=mine) if mine else {}
    catalog = await _candidates(session, destinations, co, mine)
    booked_tags: dict[str, str] = {}
    for b in bookings:
        if (p := catalog.get(b.product_id)) is not None:
            for tag in p.tags:
                booked_tags.setdefault(tag.casefold(), p.name)
    items = []
    for pid, product in catalog.items():
        if pid in exclude:
            continue
        score, reasons = _score(product, interests, destinations, booked_tags, co.get(pid, 0))
        if score > 0:
            items.append(Recommendation(product=product_public(product), score=score, reasons=reasons))
    return items


def _score(product: Product, interests: list[str], destinations: set[str], booked_tags: dict[str, str],
           co_bookers: int) -> tuple[float, list[str]]:
    tags = {t.casefold() for t in product.tags}
    score, reasons = 0.0, []
    for interest in interests:
        if tags & INTEREST_TAGS.get(interest, {interest}):
            score += 3
            reasons.append(f"matches your interest in {interest}")
    if product.destination and product.destination.casefold() in destinations:
        score += 2
        reasons.append(f"{product.destination} is on your list of destinations")
    liked = sorted({booked_tags[t] for t in tags if t in booked_tags})
    if liked:
        score += min(2, len(liked))
        reasons.append(f"like {', '.join(liked[:2])}, which you booked")
    if co_bookers:
        score += 1.5 * min(co_bookers, 3)
        reasons.append(f"travellers like you also booked it ({co_bookers})")
    return score, reasons
