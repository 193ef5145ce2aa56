"""The programme: tiers, earn rules, expiry and downgrade policy. A sensible default ships.

The programme is versioned data (table loyalty_programme); a change is a new version, with the
admin and the reason, and never rewrites past ledger entries. The rules that apply it (what a booking
earns, which tier a member qualifies for) are pure functions in rules.py.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TIERS = ("regular", "silver", "gold", "platinum")  # the one list of tiers, lowest first
TierName = Literal["regular", "silver", "gold", "platinum"]


class Benefits(BaseModel):
    model_config = ConfigDict(extra="forbid")
    discount_pct: Decimal = Field(default=Decimal("0"), ge=0, le=100)
    priority_booking: bool = False
    exclusive_activities: bool = False
    custom_routes: bool = False
    free_upgrades: int = Field(default=0, ge=0, le=366, description="free upgrades per year (used at checkout)")
    lounge: bool = Field(default=False, description="airport / station lounge access")
    birthday_gift: str | None = Field(default=None, min_length=1, max_length=200, description="the birthday gift")


class TierRule(BaseModel):
    """A tier is reached when ANY threshold is met over the rolling window (None = not used)."""

    model_config = ConfigDict(extra="forbid")
    name: TierName
    label: str = ""
    qualifying_points: int | None = Field(default=None, ge=0)
    spend: Decimal | None = Field(default=None, ge=0)
    trips: int | None = Field(default=None, ge=0)
    multiplier: Decimal = Field(default=Decimal("1"), ge=0, le=10)
    benefits: Benefits = Field(default_factory=Benefits)


class BonusRule(BaseModel):
    """A product bonus: fixed points and/or an extra multiplier on base points, when the product matches."""

    model_config = ConfigDict(extra="forbid")
    match: Literal["kind", "tag", "destination"]
    value: str = Field(min_length=1, max_length=200)
    points: int = Field(default=0, ge=0, le=1_000_000)
    multiplier: Decimal = Field(default=Decimal("1"), ge=1, le=10)


class Programme(BaseModel):
    model_config = ConfigDict(extra="forbid")
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    points_per_unit: Decimal = Field(default=Decimal("1"), gt=0, le=1000, description="base points per currency unit")
    rates: dict[str, Decimal] = Field(
        default_factory=lambda: {"CNY": Decimal("1"), "USD": Decimal("7.1"), "EUR": Decimal("7.8"), "HKD": Decimal("0.91")},
        description="value of one unit of a booking currency in the programme currency",
    )
    tiers: list[TierRule] = Field(min_length=4, max_length=4)
    bonuses: list[BonusRule] = Field(default_factory=list)
    max_points_per_booking: int | None = Field(default=200_000, gt=0)
    window_months: int = Field(default=12, ge=1, le=60)
    expiry_months: int = Field(default=24, ge=1, le=120)
    grace_months: int = Field(default=3, ge=0, le=24, description="no downgrade within this long after reaching a tier")
    hold_minutes: int = Field(default=30, ge=1, le=7 * 24 * 60)
    cash_points_per_unit: int = Field(default=100, ge=1, description="points per currency unit at checkout")
    survey_bonus: int = Field(default=50, ge=0)
    referral_bonus: int = Field(default=500, ge=0)
    winback_bonus: int = Field(default=300, ge=0)
    winback_days: int = Field(default=90, ge=1)
    notice_days: int = Field(default=30, ge=1, le=365)
    margins: dict[Annotated[str, Field(min_length=1, max_length=50)], Annotated[Decimal, Field(ge=0, le=100)]] = Field(
        default_factory=lambda: {"tour": Decimal("15"), "hotel": Decimal("10"), "package": Decimal("12"),
                                 "flight": Decimal("4"), "cruise": Decimal("14"), "ticket": Decimal("8")},
        max_length=100, description="margin % per product kind: a campaign's ROI is on margin, not gross revenue",
    )
    default_margin: Decimal = Field(default=Decimal("10"), ge=0, le=100, description="margin % of other kinds")

    @model_validator(mode="after")
    def _tiers_in_order(self) -> Programme:
        if [t.name for t in self.tiers] != list(TIERS):
            raise ValueError(f"tiers must be, in order: {', '.join(TIERS)}")
        if self.currency not in self.rates:
            self.rates[self.currency] = Decimal("1")
        return self

    def cash_value(self, points: int) -> Decimal:
        """What `points` are worth at checkout, in the programme currency (to the cent)."""
        return (Decimal(points) / self.cash_points_per_unit).quantize(Decimal("0.01"))

    def margin(self, kind: str | None) -> Decimal:
        """The margin % of a product kind (the default for a kind not listed)."""
        return self.margins.get(kind or "", self.default_margin)

    def tier(self, name: str) -> TierRule:
        return self.tiers[TIERS.index(name)]


def default_programme() -> Programme:
    return Programme(
        tiers=[
            TierRule(name="regular", label="普通", multiplier=Decimal("1")),
            TierRule(name="silver", label="银卡", qualifying_points=5_000, spend=Decimal("20000"), trips=3,
                     multiplier=Decimal("1.25"), benefits=Benefits(discount_pct=Decimal("3"), priority_booking=True)),
            TierRule(name="gold", label="金卡", qualifying_points=20_000, spend=Decimal("60000"), trips=6,
                     multiplier=Decimal("1.5"),
                     benefits=Benefits(discount_pct=Decimal("5"), priority_booking=True, exclusive_activities=True,
                                       free_upgrades=1, lounge=True, birthday_gift="birthday cake voucher")),
            TierRule(name="platinum", label="白金", qualifying_points=50_000, spend=Decimal("150000"), trips=12,
                     multiplier=Decimal("2"),
                     benefits=Benefits(discount_pct=Decimal("8"), priority_booking=True, exclusive_activities=True,
                                       custom_routes=True, free_upgrades=3, lounge=True,
                                       birthday_gift="birthday hotel night")),
        ],
        bonuses=[BonusRule(match="kind", value="cruise", points=500), BonusRule(match="tag", value="eco", multiplier=Decimal("1.2"))],
    )
