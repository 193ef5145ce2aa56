"""Campaigns aimed at a profile segment with a control group, judged by uplift: segment-membership-changed on the
bus builds loyalty's copy, members are put in a group once, control members earn no bonus, and the report's
figures equal the ones worked out here by hand (Welch's t interval with t from a table, df = 2(n − 1) since both
groups have the same size and variance)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

from shared.db import utcnow
from shared.events import CustomerErased, CustomersMerged, SegmentMembershipChanged
from tests.conftest import Backend
from tests.loyalty.support import applied, assert_ledger_consistent, balance, completed, publish

EIGHT = ["f-01", "f-02", "f-03", "f-04", "f-07", "f-08", "f-09", "f-10"]
T_975_DF6 = 2.446912  # Student's t, 97.5th percentile, 6 degrees of freedom (a printed table)


def segment(customer: str, segment_id: str, change: str = "joined", at: datetime | None = None) -> SegmentMembershipChanged:
    return SegmentMembershipChanged(customer_id=customer, segment_id=segment_id, segment=f"{segment_id} (name)",
                                    change=change, changed_at=at or utcnow())


def welch_95(treated: list[float], control: list[float]) -> tuple[float, float]:
    """By hand: equal sizes and variances here, so Welch's df is 2(n − 1) = 6."""
    def var(xs: list[float]) -> float:
        m = sum(xs) / len(xs)
        return sum((x - m) ** 2 for x in xs) / (len(xs) - 1)
    assert len(treated) == len(control) == 4 and math.isclose(var(treated), var(control))
    diff = sum(treated) / 4 - sum(control) / 4
    half = T_975_DF6 * math.sqrt(var(treated) / 4 + var(control) / 4)
    return diff - half, diff + half


async def groups_of(loyalty, campaign: str) -> dict[str, dict[str, str]]:  # noqa: ANN001
    r = await loyalty.client.get(f"/v1/campaigns/{campaign}/members", params={"limit": 3})
    assert r.status_code == 200, r.text
    items, cursor = r.json()["items"], r.json()["next_cursor"]
    while cursor:  # pages of 3
        page = (await loyalty.client.get(f"/v1/campaigns/{campaign}/members", params={"limit": 3, "cursor": cursor})).json()
        items, cursor = items + page["items"], page["next_cursor"]
    found: dict[str, dict[str, str]] = {"treated": {}, "control": {}}
    for item in items:
        found[item["group"]][item["customer_id"]] = item["assigned_at"]
    return found


async def start_campaign(loyalty, campaign: str, segment_id: str) -> None:  # noqa: ANN001
    today = datetime.now(loyalty.runtime.settings.tz).date()
    r = await loyalty.client.post("/v1/campaigns", json={
        "id": campaign, "name": campaign, "kind": "bonus", "bonus_points": 500, "segment_id": segment_id,
        "control_pct": "50", "starts_on": today.isoformat()})
    assert r.status_code == 201, r.text
    assert (r.json()["segment_id"], r.json()["control_pct"]) == (segment_id, "50.00")


async def eight_in_a_campaign(backend: Backend, loyalty, segment_id: str, campaign: str) -> tuple[list[str], list[str]]:  # noqa: ANN001
    """Eight customers join `segment_id`, then `campaign` aims at it: its treated and control members, sorted."""
    await publish(backend, *[segment(c, segment_id) for c in EIGHT])
    await applied(loyalty, 8)
    await start_campaign(loyalty, campaign, segment_id)
    groups = await groups_of(loyalty, campaign)
    return sorted(groups["treated"]), sorted(groups["control"])


async def test_segment_campaign_with_control_group_reports_uplift_and_roi_on_margin(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    before = utcnow() - timedelta(days=10)
    await publish(backend, completed("v-01", "B-v01-old", "1000.00", at=before),  # before the campaign: not counted
                  *[segment(c, "seg-spring") for c in ("v-01", "v-02", "v-03", "v-04", "v-05", "v-06", "v-08")],
                  segment("v-07", "seg-other"))
    await applied(loyalty, 9)
    await start_campaign(loyalty, "spring-vip", "seg-spring")
    first = await groups_of(loyalty, "spring-vip")
    assert sum(map(len, first.values())) == 7  # the segment's members when it started

    # v-09 joins later (eligible then); v-02 leaves and joins again: its group and assignment stay as they were
    later = utcnow() + timedelta(seconds=1)
    await publish(backend, segment("v-09", "seg-spring"), segment("v-02", "seg-spring", "left", later),
                  segment("v-02", "seg-spring", "joined", later + timedelta(seconds=1)),
                  segment("v-05", "seg-spring", "left", utcnow() - timedelta(days=1)))  # older than what is kept: ignored
    await applied(loyalty, 13)
    groups = await groups_of(loyalty, "spring-vip")
    for name, members in first.items():
        assert all(groups[name][c] == at for c, at in members.items())  # nobody moved, nobody re-assigned
    treated, control = sorted(groups["treated"]), sorted(groups["control"])
    assert (len(treated), len(control)) == (4, 4) and "v-09" in treated + control and "v-07" not in treated + control

    # the dataset: (member, amount, product kind) per completed booking in the window
    bookings = [(treated[0], 1000, "tour"), (treated[1], 2000, "hotel"), (treated[2], 1000, "tour"),
                (treated[2], 2000, "hotel"), (treated[3], 1000, "tour"),
                (control[1], 1000, "tour"), (control[2], 2000, "package"), ("v-07", 1000, "tour")]
    await publish(backend, *[completed(c, f"B-{c}-{i}", f"{amount}.00", kind=kind)
                             for i, (c, amount, kind) in enumerate(bookings)])
    await applied(loyalty, 13 + len(bookings))

    # treated members earn the bonus with each booking; control members and v-07 (another segment) do not
    assert await balance(loyalty, treated[0]) == 1000 + 500 + (1000 if treated[0] == "v-01" else 0)
    assert await balance(loyalty, control[1]) == 1000
    assert await balance(loyalty, control[2]) == 2000
    assert await balance(loyalty, "v-07") == 1000
    assert (await loyalty.client.post("/v1/campaigns/spring-vip/end")).status_code == 200
    r = await loyalty.client.get("/v1/campaigns/spring-vip/report")
    assert r.status_code == 200, r.text
    report = r.json()["uplift"]

    # by hand: revenue per member, treated 1000, 2000, 3000, 1000 → 1750; control 0, 1000, 2000, 0 → 750
    assert report["treated"] == {"members": 4, "participants": 4, "participation": "1.0000", "bookings": 5,
                                 "bookings_per_member": "1.2500", "revenue": "7000.00", "revenue_per_member": "1750.00",
                                 "margin_per_member": "212.50"}  # (3000 × 15% + 4000 × 10%) / 4
    assert report["control"] == {"members": 4, "participants": 2, "participation": "0.5000", "bookings": 2,
                                 "bookings_per_member": "0.5000", "revenue": "3000.00", "revenue_per_member": "750.00",
                                 "margin_per_member": "97.50"}  # (1000 × 15% + 2000 × 12%) / 4
    assert report["uplift"] == "1000.00" and report["currency"] == "CNY"
    low, high = welch_95([1000, 2000, 3000, 1000], [0, 1000, 2000, 0])
    assert abs(float(report["uplift_low"]) - low) <= 0.01 and abs(float(report["uplift_high"]) - high) <= 0.01
    assert (report["confidence"], report["interval"]) == (0.95, "welch-t")
    # cost: 5 treated bookings × 500 points at 100 points per yuan; margin uplift (212.50 − 97.50) × 4 treated
    assert (report["points_issued"], report["cost"], report["incremental_margin"]) == (2500, "25.00", "460.00")
    assert Decimal(report["roi"]) == (Decimal("460") - 25) / 25  # 17.4: on margin, not on gross revenue
    await assert_ledger_consistent(loyalty)


async def test_campaign_whose_treated_group_books_no_more_than_control_has_no_uplift_and_negative_roi(
        backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    treated, control = await eight_in_a_campaign(backend, loyalty, "seg-autumn", "autumn-flat")
    assert (len(treated), len(control)) == (4, 4)
    # two of each group book one 1000 tour: the bonus changes nothing
    bookers = [treated[0], treated[3], control[0], control[1]]
    await publish(backend, *[completed(c, f"B-{c}", "1000.00") for c in bookers])
    await applied(loyalty, 12)
    r = await loyalty.client.get("/v1/campaigns/autumn-flat/report")
    report = r.json()["uplift"]
    assert report["treated"]["revenue_per_member"] == report["control"]["revenue_per_member"] == "500.00"
    assert report["uplift"] == "0.00"  # not positive
    low, high = welch_95([1000, 0, 0, 1000], [1000, 1000, 0, 0])
    assert abs(float(report["uplift_low"]) - low) <= 0.01 and abs(float(report["uplift_high"]) - high) <= 0.01
    assert float(report["uplift_low"]) < 0 < float(report["uplift_high"])  # no evidence of an effect
    assert (report["points_issued"], report["cost"], report["incremental_margin"]) == (1000, "10.00", "0.00")
    assert report["roi"] == "-1.0000"  # (0 − 10) / 10: the bonus was pure cost


async def test_segment_campaign_bad_input_is_a_problem_naming_the_field(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    base = {"id": "bad", "name": "bad", "kind": "bonus", "bonus_points": 10}
    cases = [({**base, "control_pct": "20"}, "control_pct"),  # a control group needs a segment
             ({**base, "segment_id": "s", "control_pct": "95"}, "control_pct"),
             ({**base, "segment_id": "x" * 101}, "segment_id")]
    for body, field in cases:
        r = await loyalty.client.post("/v1/campaigns", json=body)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in r.json()["errors"]}, r.json()
    assert (await loyalty.client.get("/v1/campaigns/nope/members")).status_code == 404
    r = await loyalty.client.get("/v1/campaigns/nope/members", params={"group": "both"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "group"
    async with loyalty.client_as("loyalty:read") as c:
        assert (await c.get("/v1/campaigns/nope/members")).status_code == 403

    # a segment event loyalty cannot keep is parked with the reason; the next one applies
    await publish(backend, segment("s-long", "y" * 101), segment("s-ok", "seg-ok"))
    await applied(loyalty, 2)
    [letter] = await loyalty.runtime.consumer.dead_letters()
    assert "segment_id must be 1 to 100 characters" in letter.error
    r = await loyalty.client.post("/v1/campaigns", json={**base, "id": "ok", "segment_id": "seg-ok"})
    assert r.json()["control_pct"] == "10.00"  # the default hold-out
    assert [*(await groups_of(loyalty, "ok"))["treated"], *(await groups_of(loyalty, "ok"))["control"]] == ["s-ok"]


async def test_segment_copy_and_campaign_groups_are_exported_and_erased(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    await eight_in_a_campaign(backend, loyalty, "seg-erase", "autumn-flat")
    export = (await loyalty.client.get("/v1/privacy/customers/f-07")).json()["sections"]
    assert [(s["segment_id"], s["member"]) for s in export["segments"]] == [("seg-erase", True)]
    assert [(g["campaign_id"], g["grp"]) for g in export["campaign_groups"]] == [("autumn-flat", "control")]
    await publish(backend, CustomerErased(customer_id="f-07", request_id="ER-seg"), source="tourcrm/profile")
    await applied(loyalty, 9)
    export = (await loyalty.client.get("/v1/privacy/customers/f-07")).json()["sections"]
    assert export["segments"] == [] and export["campaign_groups"] == []
    # the erased member still counts in its group, under a pseudonym: the report's groups do not shrink
    report = (await loyalty.client.get("/v1/campaigns/autumn-flat/report")).json()["uplift"]
    assert (report["treated"]["members"], report["control"]["members"]) == (4, 4)
    groups = await groups_of(loyalty, "autumn-flat")
    assert "f-07" not in groups["control"] and len(groups["control"]) == 4


async def test_a_merged_customer_counts_once_in_a_campaign_with_the_survivors_group(backend: Backend) -> None:
    loyalty = await backend.service("loyalty")
    treated, control = await eight_in_a_campaign(backend, loyalty, "seg-merge", "merge-check")
    assert len(treated) >= 2 and len(control) >= 2 and len(treated) + len(control) == 8
    groups = await groups_of(loyalty, "merge-check")
    # a treated duplicate folds into a control survivor: the survivor's group stays, the duplicate is gone
    await publish(backend, CustomersMerged(customer_id=control[0], merged_ids=[treated[0]]), source="tourcrm/profile")
    await applied(loyalty, 9)
    after = await groups_of(loyalty, "merge-check")
    assert sorted(after["treated"]) == treated[1:] and sorted(after["control"]) == control
    assert after["control"][control[0]] == groups["control"][control[0]]
    # a survivor outside the campaign takes the first merged id's group, once
    await publish(backend, CustomersMerged(customer_id="f-new", merged_ids=[treated[1], control[1]]),
                  source="tourcrm/profile")
    await applied(loyalty, 10)
    final = await groups_of(loyalty, "merge-check")
    assert sorted(final["treated"]) == sorted(["f-new", *treated[2:]])
    assert sorted(final["control"]) == sorted(c for c in control if c != control[1])
    report = (await loyalty.client.get("/v1/campaigns/merge-check/report")).json()["uplift"]
    assert (report["treated"]["members"], report["control"]["members"]) == (len(treated) - 1, len(control) - 1)
