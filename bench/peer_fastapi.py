"""Baseline P: FastAPI + SQLAlchemy ORM "as typically written" — the peer.

ORM entities loaded into the session, a Pydantic response model built from attributes,
OFFSET paging by page number and a ``COUNT(*)`` on every list. It uses the service's own
ORM models over the same database. Deviations from the textbook version: the session is
async (asyncpg; no sync driver is installed) and there are no per-row lazy loads (the
service's relationships are ``lazy="raise"``). Both make P cheaper, not dearer::

    BENCH_SQLALCHEMY_URL=postgresql+asyncpg://postgres@127.0.0.1/bench_wecare_full \
        .venv/bin/python -m uvicorn bench.peer_fastapi:app --port 8002
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.models.allocation import Allocation
from app.models.programme import Programme

engine = create_async_engine(
    os.environ.get("BENCH_SQLALCHEMY_URL", "postgresql+asyncpg://postgres@127.0.0.1/postgres"),
    pool_size=10,
)
Session = async_sessionmaker(engine)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with Session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


class AllocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    application_id: uuid.UUID
    programme_id: uuid.UUID
    measure_id: uuid.UUID
    call_id: uuid.UUID
    district_id: uuid.UUID | None
    amount: Decimal  # the ORM maps the cents column to a Decimal (app.db.types.Money)
    status: str
    granted_at: datetime
    granted_by: str
    revoked_at: datetime | None
    revoked_by: str | None
    revocation_reason: str | None


class AllocationPage(BaseModel):
    items: list[AllocationOut]
    total: int
    page: int
    size: int


class ProgrammeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    code: str
    name_it: str
    name_en: str
    description_it: str
    description_en: str
    currency: str
    responsible_office: str
    legal_basis: str
    approved_on: date | None
    total_budget: Decimal
    measures_budget: Decimal
    allocated: Decimal
    funded_projects: int
    created_at: datetime
    updated_at: datetime


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/api/v1/allocations", response_model=AllocationPage)
async def list_allocations(
    session: SessionDep,
    call_id: uuid.UUID,
    page: Annotated[int, Query(ge=1)] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 50,
) -> AllocationPage:
    query = select(Allocation).where(Allocation.status == "active", Allocation.call_id == call_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery()))
    rows = await session.scalars(
        query.order_by(Allocation.granted_at, Allocation.id).offset((page - 1) * size).limit(size)
    )
    items = [AllocationOut.model_validate(row) for row in rows.all()]
    return AllocationPage(items=items, total=int(total or 0), page=page, size=size)


@app.get("/api/v1/programmes/{programme_id}", response_model=ProgrammeOut)
async def get_programme(programme_id: uuid.UUID, session: SessionDep) -> ProgrammeOut:
    programme = await session.get(Programme, programme_id)
    if programme is None:
        raise HTTPException(status_code=404)
    return ProgrammeOut.model_validate(programme)
