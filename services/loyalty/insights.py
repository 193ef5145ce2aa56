"""The answers of the measuring routes: a segment campaign's uplift report, its groups, the win-back rate and the
KPIs. Money is a decimal string in the programme currency (bookings converted at the programme's rates)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class GroupReport(Public):
    """One group over the campaign window; `…_per_member` divide by all its members, bookers or not."""

    members: int
    participants: int = Field(description="members with at least one completed booking in the window")
    participation: str | None = Field(description="participants / members")
    bookings: int
    bookings_per_member: str | None
    revenue: str
    revenue_per_member: str | None
    margin_per_member: str | None = Field(description="revenue × the margin % of each booking's product kind")


class UpliftReport(Public):
    """Treated against control. `uplift` is revenue per treated member minus revenue per control member, with a
    95% confidence interval by Welch's t on per-member revenue (null with fewer than two members in a group).
    `roi` is on margin: (incremental margin − cost) / cost, incremental margin = margin uplift per member ×
    treated members; cost = the campaign's bonus points × the point value."""

    segment_id: str
    control_pct: str
    window_start: datetime
    window_end: datetime
    currency: str
    treated: GroupReport
    control: GroupReport
    uplift: str | None
    uplift_low: str | None
    uplift_high: str | None
    confidence: float
    interval: str = "welch-t"
    points_issued: int
    cost: str
    incremental_margin: str | None
    roi: str | None


class CampaignMemberPublic(Public):
    customer_id: str
    group: str = Field(description="treated or control")
    assigned_at: datetime


class WinBackRate(Public):
    start: date
    end: date
    offers: int = Field(description="win-back offers made in the period")
    redeemed: int = Field(description="of those, redeemed by a next booking")
    rate: str | None = Field(description="redeemed / offers")


class CampaignUplift(Public):
    campaign_id: str
    ended_on: date
    currency: str
    treated_members: int
    control_members: int
    uplift: str | None
    uplift_low: str | None
    uplift_high: str | None
    roi: str | None


class Kpis(Public):
    """The programme's KPIs over [start, end] (business days, inclusive); liability as at the end of the period."""

    start: date
    end: date
    currency: str
    points_liability: int = Field(description="points outstanding at the end of the period")
    points_liability_value: str = Field(description="their cash value at checkout")
    points_issued: int
    points_redeemed: int
    points_reversed: int
    points_expired: int
    redemption_rate: str | None = Field(description="points redeemed / points issued in the period")
    campaigns: list[CampaignUplift] = Field(description="campaigns with a control group ended in the period")
    campaign_uplift: str | None = Field(description="mean uplift per member of those campaigns")
