"""Tables of contact history (客户接触记录, 回访), leads, lapse reasons (客户流失分析) and at-risk episodes (win-back).

Kept apart from models.py so that the customer-file tables and these read in one place each; models.py imports
this module, so `services.profile.models` still registers every table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Float, Index, String, Text
from sqlmodel import Field, SQLModel

from shared.db import utc_column, utcnow


class ContactRecord(SQLModel, table=True):
    """One contact with a customer: a call, visit, email, WeChat or app message, inbound or outbound."""

    __tablename__ = "contact_record"
    __table_args__ = (Index("ix_contact_record_customer", "customer_id", "occurred_at"),)
    id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False))
    channel: str = Field(sa_column=Column(String(20), nullable=False))  # phone|visit|email|wechat|app|sms
    direction: str = Field(sa_column=Column(String(10), nullable=False))  # inbound|outbound
    purpose: str = Field(sa_column=Column(String(20), nullable=False))  # inquiry|booking|complaint|care|return-visit
    summary: str | None = Field(default=None, sa_column=Column(Text))
    outcome: str | None = Field(default=None, sa_column=Column(String(500)))
    next_step: str | None = Field(default=None, sa_column=Column(String(500)))
    next_step_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    staff: str = Field(sa_column=Column(String(100), nullable=False))
    occurred_at: datetime = Field(sa_column=utc_column())
    care_task_id: str | None = Field(default=None, sa_column=Column(String(100), unique=True))  # the task it completed
    recorded_by: str = Field(sa_column=Column(String(100), nullable=False))
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Lead(SQLModel, table=True):
    """An inquiry that has not (yet) become a booking; won by the customer's next booking, or lost by staff."""

    __tablename__ = "lead"
    id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    contact_id: str | None = Field(default=None, sa_column=Column(String(100)))
    interest: str = Field(sa_column=Column(String(300), nullable=False))
    destination: str | None = Field(default=None, sa_column=Column(String(200)))
    product_id: str | None = Field(default=None, sa_column=Column(String(100)))
    source: str = Field(sa_column=Column(String(50), nullable=False, index=True))
    status: str = Field(default="open", sa_column=Column(String(10), nullable=False, index=True))  # open|won|lost
    lost_reason: str | None = Field(default=None, sa_column=Column(String(500)))
    booking_id: str | None = Field(default=None, sa_column=Column(String(100)))
    opened_by: str = Field(sa_column=Column(String(100), nullable=False))
    opened_at: datetime = Field(sa_column=utc_column())
    closed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class LapseReason(SQLModel, table=True):
    """Why a lapsed customer left, in the switching causes of service research; set by staff."""

    __tablename__ = "lapse_reason"
    customer_id: str = Field(sa_column=Column(String(100), primary_key=True))
    cause: str = Field(sa_column=Column(String(40), nullable=False))
    note: str | None = Field(default=None, sa_column=Column(String(1000)))
    source: str = Field(sa_column=Column(String(20), nullable=False))  # staff|return-visit
    set_by: str = Field(sa_column=Column(String(100), nullable=False))
    set_at: datetime = Field(sa_column=utc_column())


class AtRiskEpisode(SQLModel, table=True):
    """One stretch of a customer's at-risk mark: opened when the churn score crosses the threshold, ended by a new
    booking (won back) or by the score falling."""

    __tablename__ = "at_risk_episode"
    id: str = Field(sa_column=Column(String(100), primary_key=True))
    customer_id: str = Field(sa_column=Column(String(100), nullable=False, index=True))
    score: float = Field(sa_column=Column(Float, nullable=False))
    marked_at: datetime = Field(sa_column=utc_column(index=True))
    ended_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    ended_by: str | None = Field(default=None, sa_column=Column(String(20)))  # booking|score
