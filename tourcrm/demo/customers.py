"""Demo customers (profile's resolve route, as the booking site calls it) and their year of bookings
(profile's booking ingest, which publishes booking-completed / booking-cancelled on the bus)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tourcrm.demo.plan import Person, Trip

if TYPE_CHECKING:
    from tourcrm.demo import Demo


async def register(demo: Demo) -> None:
    async def one(person: Person) -> None:
        answer = await demo.call("profile", "POST", "/v1/customers/resolve", json=person.body, retry=True)
        demo.ids[person.n] = answer.json()["id"]
        demo.report.customers += 1

    await demo.each("customers", demo.plan.people, one)


async def bookings(demo: Demo) -> None:
    async def one(trip: Trip) -> None:
        customer_id = demo.ids[trip.person]
        await demo.call("profile", "POST", "/v1/bookings/completed", json={**trip.body, "customer_id": customer_id},
                        retry=True)
        demo.report.bookings += 1
        if trip.cancel is not None:
            await demo.call("profile", "POST", "/v1/bookings/cancelled",
                            json={**trip.cancel, "booking_id": trip.body["booking_id"], "customer_id": customer_id},
                            retry=True)
            demo.report.cancelled += 1

    await demo.each("bookings", demo.plan.trips, one)
