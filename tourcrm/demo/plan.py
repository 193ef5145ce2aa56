"""What the demo will enter, decided up front from the seed alone (no server answer changes it), so that
`--seed` gives the same customers, trips, complaints and redemptions every time."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

import phonenumbers

from tourcrm.demo.catalog import CITIES_CN, CITIES_EN, COMPLAINTS, DIETARY, ESCALATING, INTERESTS, PRODUCTS

EXTERNAL_SOURCE = "tourcrm-demo"  # every demo customer carries external id (tourcrm-demo, c00000 …)
STOPS = ["received", "classified", "investigating", "solution_proposed", "customer_agreed", "executing",
         "resolved", "follow_up", "closed"]


@dataclass
class Person:
    n: int
    language: str  # "zh" or "en"
    body: dict  # the POST /v1/customers/resolve body

    @property
    def external_id(self) -> str:
        return external_id(self.n)


@dataclass
class Trip:
    person: int
    body: dict  # POST /v1/bookings/completed, without customer_id
    cancel: dict | None = None  # POST /v1/bookings/cancelled, without ids


@dataclass
class ComplaintPlan:
    trip: int
    text: tuple[str, str, str, str]
    stop: str  # the state the demo walks it to
    reopen: bool = False
    escalate: bool = False  # left unanswered: the SLA job escalates it


@dataclass
class Plan:
    seed: int
    people: list[Person]
    trips: list[Trip]
    complaints: list[ComplaintPlan] = field(default_factory=list)
    redeemers: list[tuple[int, bool]] = field(default_factory=list)  # (person, capture: else release)


def external_id(n: int) -> str:
    return f"c{n:05d}"


def make_plan(seed: int, customers: int, today: date) -> Plan:
    from faker import Faker

    rng = random.Random(seed)
    fakes = {"zh": Faker("zh_CN"), "en": Faker("en_US")}
    for fake in fakes.values():
        fake.seed_instance(seed)
    people = [_person(n, rng, fakes) for n in range(customers)]
    trips = [trip for p in people for trip in _trips(p, rng, today)]
    plan = Plan(seed, people, trips)
    kept = [i for i, t in enumerate(trips) if t.cancel is None]
    if kept:
        count = max(len(STOPS) + 1, customers // 40)
        for i in range(count):
            stop = STOPS[i % len(STOPS)] if i != len(STOPS) else "investigating"
            plan.complaints.append(ComplaintPlan(rng.choice(kept), COMPLAINTS[i % len(COMPLAINTS)], stop,
                                                 reopen=i == len(STOPS)))
        plan.complaints.append(ComplaintPlan(rng.choice(kept), ESCALATING, "received", escalate=True))
    travellers = sorted({trips[i].person for i in kept})
    chosen = rng.sample(travellers, max(1, len(travellers) // 12)) if travellers else []
    plan.redeemers = [(p, rng.random() < 0.75) for p in sorted(chosen)]
    return plan


def _phone(rng: random.Random, fake, language: str) -> str:  # noqa: ANN001
    """A mobile number that phonenumbers (and so the profile service) takes as valid."""
    for _ in range(50):
        if language == "zh":
            text, region = f"+86 1{rng.choice('3589')}{rng.randint(0, 9)}{rng.randint(0, 99_999_999):08d}", "CN"
        else:
            text, region = fake.numerify("+1 ###-###-####"), "US"
        number = phonenumbers.parse(text, region)
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return "+8613800138000" if language == "zh" else "+14155550123"


def _person(n: int, rng: random.Random, fakes: dict) -> Person:
    language = "en" if rng.random() < 0.25 else "zh"
    fake = fakes[language]
    if language == "zh":
        province, city = rng.choice(CITIES_CN)
        address = {"country": "CN", "province": province, "city": city, "line": fake.street_address()}
    else:
        country, region, city = rng.choice(CITIES_EN)
        address = {"country": country, "province": region, "city": city, "line": fake.street_address()}
    gender = rng.choice(["female", "male"])
    name = fake.name_female() if gender == "female" else fake.name_male()
    consents = [{"channel": "sms", "purpose": "service", "status": "granted", "source": "demo"}]
    for channel, purpose, share in (("wechat" if language == "zh" else "email", "marketing", 0.6),
                                    ("app-push", "surveys", 0.8), ("email", "profiling", 0.5)):
        if rng.random() < share:
            consents.append({"channel": channel, "purpose": purpose, "status": "granted", "source": "demo"})
    preferences = {"interests": rng.sample(INTERESTS, rng.randint(1, 3)),
                   "budget_band": rng.choice(["economy", "standard", "standard", "premium", "luxury"]),
                   "destinations": [rng.choice(PRODUCTS)[0]["destination"]]}
    if rng.random() < 0.1:
        preferences["dietary"] = [rng.choice(DIETARY)]
    body = {
        "name": name, "gender": gender,
        "birth_date": f"{rng.randint(1950, 2004)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "phones": [_phone(rng, fake, language)], "emails": [f"demo.{n:05d}@example.com"],
        "address": address, "preferred_channel": rng.choice(["sms", "wechat"] if language == "zh" else ["email", "sms"]),
        "preferred_language": "zh-CN" if language == "zh" else "en", "preferences": preferences,
        "external_ids": [{"source": EXTERNAL_SOURCE, "id": external_id(n)}], "consents": consents,
    }
    return Person(n, language, body)


def _trips(person: Person, rng: random.Random, today: date) -> list[Trip]:
    trips = []
    for k in range(rng.choices([0, 1, 2, 3, 4, 6], weights=[8, 38, 26, 14, 9, 5])[0]):
        product, (low, high) = rng.choice(PRODUCTS)
        nights = {"tour": 4, "hotel": rng.randint(1, 4), "package": rng.randint(4, 6)}[product["kind"]]
        end = today - timedelta(days=rng.randint(2, 330))
        start = end - timedelta(days=nights)
        booked = datetime.combine(start - timedelta(days=rng.randint(7, 30)), time(rng.randint(1, 13)), timezone.utc)
        party = rng.choice([1, 2, 2, 2, 3, 4])
        body = {"booking_id": f"demo-{person.n:05d}-{k}", "channel": rng.choice(["web", "app", "app", "call-centre"]),
                "product": product, "amount": f"{rng.randint(low, high) * party}.00", "currency": "CNY",
                "party_size": party, "travel_start": start.isoformat(), "travel_end": end.isoformat(),
                "completed_at": booked.isoformat()}
        cancel = None
        if rng.random() < 0.07:
            cancel = {"reason": rng.choice(["行程冲突", "身体不适", "change of plans"]),
                      "refunded_amount": body["amount"], "currency": "CNY",
                      "cancelled_at": (booked + timedelta(days=rng.randint(1, 5))).isoformat()}
        trips.append(Trip(person.n, body, cancel))
    return trips
