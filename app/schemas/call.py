"""Calls for proposals with their phase windows and participation limits."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from app.core.domain import CallStatus, ClosedReason, LegalNature, PhaseKind, SelectionMethod
from app.models.call import Call, CallParticipationLimit, CallPhase
from app.schemas.common import Input, Output, from_attributes
from app.schemas.page import FundFilter, MeasureFilter, PageQuery, ProgrammeFilter
from app.schemas.programme import CODE
from app.schemas.reference_data import CallPhaseSpec, ParticipationLimitSpec, Text
from app.schemas.scoring import ScoringGridRead, ScoringGridSpec
from app.schemas.types import Money

# The two call fields that create and update share, described once.
WaitingListLength = Annotated[
    int | None,
    Field(
        ge=0,
        le=100000,
        description="First-come calls only: how many applications may wait for money to be "
        "released; null: no limit (also where the source does not give one).",
    ),
]
PartialLastGrant = Annotated[
    bool | None,
    Field(
        description="Whether a run down the ranking may grant the last fundable application "
        "part of its request (what is left of the tightest cap) when it does not fit whole; "
        "null: not given, not allowed until set.",
    ),
]


class CallCreate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "measure_id": "0b9e6b8e-1c7e-4f0e-9a2a-6f3f7d1f2c11",
                    "code": "WECARE-FSE2-2027",
                    "title": {"it": "Bando FSE2 2027", "en": "FSE2 call 2027"},
                    "budget": "1000000.00",
                    "phases": [
                        {
                            "kind": "submission",
                            "opens_at": "2027-01-10T09:00:00+01:00",
                            "closes_at": "2027-03-31T12:00:00+02:00",
                        }
                    ],
                }
            ]
        },
    )
    measure_id: uuid.UUID
    line_number: int | None = Field(default=None, ge=1, le=99)
    code: str = Field(min_length=1, max_length=40, pattern=CODE)
    title: Text
    budget: Money
    selection_method: SelectionMethod = SelectionMethod.RANKING
    published_on: date | None = None
    dates_note: str | None = Field(default=None, max_length=1000)
    phases: list[CallPhaseSpec] = Field(min_length=1, max_length=10)
    participation_limits: list[ParticipationLimitSpec] = Field(default_factory=list, max_length=20)
    scoring_grid: ScoringGridSpec | None = Field(
        default=None, description="The grid of a ranking call; none otherwise."
    )
    waiting_list_length: WaitingListLength = None
    partial_last_grant: PartialLastGrant = None

    @model_validator(mode="after")
    def _waiting_list_for_first_come(self) -> CallCreate:
        if (
            self.waiting_list_length is not None
            and self.selection_method is not SelectionMethod.FIRST_COME
        ):
            raise ValueError(
                f"waiting_list_length is for first-come calls, not {self.selection_method}"
            )
        return self


class CallUpdate(Input):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {"budget": "2500000.00", "dates_note": "Proroga della scadenza al 30 giugno."}
            ]
        },
    )
    title: Text | None = None
    budget: Money | None = None
    dates_note: str | None = Field(default=None, max_length=1000)
    phases: list[CallPhaseSpec] | None = Field(default=None, min_length=1, max_length=10)
    scoring_grid: ScoringGridSpec | None = Field(
        default=None,
        description="Replaces the grid of a ranking call: 409 "
        "scoring_grid_locked once the call's first review is scored.",
    )
    waiting_list_length: WaitingListLength = None
    partial_last_grant: PartialLastGrant = None
    reason: str | None = Field(
        default=None,
        max_length=500,
        description="Why the call changes, recorded in the audit trail. Required (not "
        "blank) to change the budget of a closed call: 422 reason_required otherwise.",
    )


class CallPhaseRead(Output):
    ordinal: int
    kind: PhaseKind
    opens_at: datetime
    closes_at: datetime


class ParticipationLimitRead(Output):
    legal_nature: LegalNature
    max_projects: int


class CallRead(Output):
    id: uuid.UUID
    measure_id: uuid.UUID
    line_id: uuid.UUID | None
    code: str
    title_it: str
    title_en: str
    status: CallStatus
    selection_method: SelectionMethod
    published_on: date | None
    dates_note: str | None
    budget: Money = Field(description="The call's share of the measure's budget.")
    allocated: Money = Field(description="What active allocations hold.")
    reserved: Money = Field(
        description="First-come calls: what submitted applications hold until granted, "
        "withdrawn or rejected (0 on other calls)."
    )
    available: Money = Field(description="budget - allocated - reserved.")
    funded_projects: int
    waiting_count: int = Field(description="First-come calls: applications on the waiting list.")
    waiting_list_length: int | None = Field(
        description="First-come calls: how many may wait; null: no limit."
    )
    partial_last_grant: bool | None = Field(
        description="Whether a run down the ranking may grant the last fundable application "
        "part of its request; null: not given by the source, not allowed until set."
    )
    closed_for_submissions: bool = Field(
        description="A first-come call whose waiting list is full (and, with no room for a "
        "list, whose budget is taken) refuses new submissions until money is released."
    )
    closed_at: datetime | None = Field(
        description="First-come calls: when the call closed itself for new submissions; "
        "null while it takes them (and on other calls)."
    )
    closed_reason: ClosedReason | None = Field(
        description="Why it is closed: waiting_list_full (nothing fits and the waiting list "
        "is at its length) or nothing_left (no waiting list allowed and the budget taken); "
        "null while it takes submissions."
    )
    open_phase: PhaseKind | None = Field(
        description="The kind of submission window open now, if the call is published."
    )
    phases: list[CallPhaseRead]
    participation_limits: list[ParticipationLimitRead]
    scoring_grid: ScoringGridRead | None = Field(
        description="The criteria reviewers score on (ranking calls); null when none is set."
    )
    created_at: datetime
    updated_at: datetime


def open_phase(call: Call, phases: list[CallPhase], now: datetime) -> CallPhase | None:
    if call.status != CallStatus.PUBLISHED:
        return None
    return next((p for p in phases if p.opens_at <= now < p.closes_at), None)


def call_read(
    call: Call,
    phases: list[CallPhase],
    limits: list[CallParticipationLimit],
    now: datetime,
    grid: ScoringGridRead | None = None,
) -> CallRead:
    """A call with its windows and limits, loaded apart; which window is open ``now``."""
    current = open_phase(call, phases, now)
    return from_attributes(
        CallRead,
        call,
        open_phase=current.kind if current else None,
        phases=phases,
        participation_limits=sorted(limits, key=lambda x: x.legal_nature),
        scoring_grid=grid,
    )


class _CallFilters(BaseModel):
    programme_id: ProgrammeFilter = None
    measure_id: MeasureFilter = None
    status: CallStatus | None = Field(None, description="Only calls in this status.")
    fund: FundFilter = None
    q: str | None = Field(None, max_length=100, description="Text in the title.")


class CallQuery(PageQuery, _CallFilters):
    """The call list's query string."""
