"""Reads by id on the hot path: one statement built once, the raw row serialised without
models, and the principal of a bearer token in one statement.

The shortcuts must give exactly what the general path gives: the same bytes (and so the
same ETag) as the Pydantic model of the ORM entity, and the same visibility.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.api.etag import etag_of, json_with_etag
from app.core.auth import Role
from app.core.config import Settings
from app.core.domain import (
    ApplicationStage,
    ApplicationStatus,
    LegalNature,
    PiemonteProvince,
    ProfitStatus,
    SizeClass,
)
from app.core.money import MAX_CENTS
from app.models import Application, Organisation, Programme, Review
from app.repositories import applicants as applicant_repo
from app.repositories import applications as application_repo
from app.repositories import programmes as programme_repo
from app.schemas.application import ApplicationRead, application_item
from app.schemas.common import ReadJson, read_json
from app.schemas.organisation import organisation_item, organisation_read
from app.schemas.programme import ProgrammeRead, programme_item
from app.services.clients import register_client
from app.services.tokens import issue_token
from tests.actors import Actor, client_actor, make_organisation, tax_code, user_actor
from tests.statements import counting, queries
from tests.world import approved, budget, euros

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
texts = st.text(max_size=40)
amounts = st.integers(min_value=0, max_value=MAX_CENTS)


def _same(fast: bytes, model: BaseModel) -> None:
    """The same bytes as the model, and so the same ETag and headers as read_with_etag."""
    assert fast == model.model_dump_json().encode()
    response = json_with_etag(ReadJson(fast))
    assert response.headers["etag"] == etag_of(model)
    assert response.media_type == "application/json"


def _names(columns: tuple[Any, ...]) -> list[str]:
    return [column.key for column in columns]


class TestSerialisation:
    @given(
        st.tuples(
            st.uuids(),
            texts,
            texts,
            texts,
            texts,
            texts,
            st.just("EUR"),
            texts,
            texts,
            st.none() | st.dates(),
            amounts,
            amounts,
            amounts,
            st.integers(min_value=0, max_value=2**31 - 1),
            instants,
            instants,
        ).filter(lambda row: row[12] <= row[10])  # allocated within the total (a CHECK)
    )
    def test_a_programme_is_byte_for_byte_its_model(self, row: tuple[Any, ...]) -> None:
        values = dict(zip(_names(programme_repo.PROGRAMME_READ_COLUMNS), row, strict=True))
        for money in ("total_budget", "measures_budget", "allocated"):
            values[money] = euros(values.pop(f"{money}_cents"))
        model = ProgrammeRead.model_validate(Programme(**values))
        _same(read_json(programme_item(row)), model)

    @given(
        st.tuples(
            st.uuids(),
            texts,
            st.sampled_from([tax_code(1), "RSSMRA85T10A562S", "80087670016"]) | texts,
            st.none() | st.from_regex(r"[0-9]{11}", fullmatch=True),
            st.sampled_from(LegalNature) | st.sampled_from([v.value for v in LegalNature]),
            st.sampled_from(ProfitStatus),
            st.none() | st.sampled_from(SizeClass),
            st.none() | st.sampled_from([v.value for v in PiemonteProvince]),
            st.booleans(),
            instants,
            instants,
        )
    )
    def test_an_organisation_is_byte_for_byte_its_model(self, row: tuple[Any, ...]) -> None:
        values = dict(zip(_names(applicant_repo.ORGANISATION_READ_COLUMNS), row, strict=True))
        entity = Organisation(**values)
        for name in ("legal_nature", "profit_status", "size_class", "province"):
            value = getattr(entity, name)
            if isinstance(value, str):  # the driver's raw text, as the ORM would give it
                column = Organisation.__table__.c[name]
                setattr(entity, name, column.type.enum_class(value))  # type: ignore[attr-defined]
        _same(read_json(organisation_item(row)), organisation_read(entity))

    @given(
        st.tuples(
            st.uuids(),
            st.uuids(),
            st.uuids(),
            st.none() | st.uuids(),
            st.none() | st.uuids(),
            st.none() | st.uuids(),
            texts,
            texts,
            amounts,
            amounts,
            st.none() | st.uuids(),
            st.none() | st.uuids(),
            st.sampled_from(ApplicationStage)
            | st.sampled_from([v.value for v in ApplicationStage]),
            st.none() | st.uuids(),
            st.sampled_from(ApplicationStatus)
            | st.sampled_from([v.value for v in ApplicationStatus]),
            st.none() | instants,
            st.none() | instants,
            amounts,
            st.none() | st.integers(min_value=1, max_value=2**31 - 1),
            instants,
            instants,
        )
    )
    def test_an_application_is_byte_for_byte_its_model(self, row: tuple[Any, ...]) -> None:
        values = dict(zip(_names(application_repo.APPLICATION_READ_COLUMNS), row, strict=True))
        for money in ("total_cost", "requested", "reserved"):
            values[money] = euros(values.pop(f"{money}_cents"))
        values["stage"] = ApplicationStage(values["stage"])
        values["status"] = ApplicationStatus(values["status"])
        model = ApplicationRead.model_validate(Application(**values))
        _same(read_json(application_item(row)), model)


@pytest.fixture
def cached_keys(app: FastAPI) -> Iterator[None]:
    """Signing keys cached as in production (the tests' settings reload them on every
    request, one more statement that a running server does not make)."""
    cache = app.state.key_cache
    ttl, cache.ttl = cache.ttl, 3600.0
    yield
    cache.ttl = ttl


async def _read(
    client: httpx.AsyncClient,
    connection: AsyncConnection,
    path: str,
    actor: Actor | None = None,
) -> tuple[httpx.Response, list[str]]:
    await client.get(path, headers=actor.headers if actor else {})  # warm the key cache
    with counting(connection) as statements:
        response = await client.get(path, headers=actor.headers if actor else {})
    # A refusal rolls the test's savepoint back: the transaction's bookkeeping, not a read.
    return response, [s for s in queries(statements) if not s.startswith("ROLLBACK")]


def _as_model(response: httpx.Response, model: BaseModel) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.content == model.model_dump_json().encode()
    assert response.headers["etag"] == etag_of(model)


@pytest.mark.usefixtures("cached_keys")
class TestReadsById:
    async def test_a_programme_is_one_statement_and_the_models_bytes(
        self, client: httpx.AsyncClient, session: AsyncSession, connection: AsyncConnection
    ) -> None:
        world = await budget(session, total=1_000_000)
        await session.refresh(world.programme)
        path = f"/api/v1/programmes/{world.programme.id}"
        response, statements = await _read(client, connection, path)
        _as_model(response, ProgrammeRead.model_validate(world.programme))
        assert len(statements) == 1, statements
        missing, statements = await _read(client, connection, f"/api/v1/programmes/{uuid.uuid4()}")
        assert missing.status_code == 404
        assert missing.json()["rule"] == "not_found"
        assert len(statements) == 1

    async def test_an_organisation_with_an_officer_token_is_two_statements(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        settings: Settings,
    ) -> None:
        """The principal (token, session, account, memberships) in one, the row in one."""
        officer = await user_actor(session, settings, Role.OFFICER)
        organisation = await make_organisation(session, name="Coop «Aurora»", tax_code=tax_code(7))
        await session.refresh(organisation)
        response, statements = await _read(
            client, connection, f"/api/v1/organisations/{organisation.id}", officer
        )
        _as_model(response, organisation_read(organisation))
        assert len(statements) == 2, statements

    async def test_an_applicant_reads_its_own_organisation_and_not_anothers(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        settings: Settings,
    ) -> None:
        own = await make_organisation(session, name="Own", tax_code=tax_code(8))
        other = await make_organisation(session, name="Other", tax_code=tax_code(9))
        applicant = await user_actor(session, settings, Role.APPLICANT, organisation_ids=[own.id])
        await session.refresh(own)
        response, statements = await _read(
            client, connection, f"/api/v1/organisations/{own.id}", applicant
        )
        _as_model(response, organisation_read(own))
        assert len(statements) == 2
        hidden, statements = await _read(
            client, connection, f"/api/v1/organisations/{other.id}", applicant
        )
        assert hidden.status_code == 404
        # Decided from the principal's memberships: no row is read for another's.
        assert len(statements) == 1

    async def test_a_partner_client_token_is_one_statement_too(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        settings: Settings,
    ) -> None:
        foundation = await make_organisation(
            session, name="Fondazione", tax_code=tax_code(10), nature=LegalNature.FOUNDATION
        )
        partner = await client_actor(
            session, settings, scopes=["organisations:read"], organisation_id=foundation.id
        )
        await session.refresh(foundation)
        response, statements = await _read(
            client, connection, f"/api/v1/organisations/{foundation.id}", partner
        )
        _as_model(response, organisation_read(foundation))
        assert len(statements) == 2, statements

    async def test_an_application_by_view_and_its_statements(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        settings: Settings,
    ) -> None:
        """Region, assigned reviewer and applicant see it; another reviewer and another
        applicant get 404, as for a missing one. Two statements each."""
        world = await budget(session, total=1_000_000)
        made = await approved(session, world, requested=1_000, n=1)
        assert made.applicant_organisation_id is not None
        officer = await user_actor(session, settings, Role.OFFICER)
        owner = await user_actor(
            session, settings, Role.APPLICANT, organisation_ids=[made.applicant_organisation_id]
        )
        stranger_org = await make_organisation(session, name="Stranger", tax_code=tax_code(11))
        stranger = await user_actor(
            session, settings, Role.APPLICANT, organisation_ids=[stranger_org.id]
        )
        assigned = await user_actor(session, settings, Role.REVIEWER)
        unassigned = await user_actor(session, settings, Role.REVIEWER)
        session.add(Review(id=uuid.uuid4(), application_id=made.id, reviewer_id=assigned.id))
        await session.flush()
        await session.refresh(made)
        model = ApplicationRead.model_validate(made)
        path = f"/api/v1/applications/{made.id}"
        for actor in (officer, owner, assigned):
            response, statements = await _read(client, connection, path, actor)
            _as_model(response, model)
            assert len(statements) == 2, (actor.name, statements)
        for actor in (stranger, unassigned):
            response, statements = await _read(client, connection, path, actor)
            assert response.status_code == 404, actor.name
            assert len(statements) == 2, (actor.name, statements)


@pytest.mark.usefixtures("cached_keys")
class TestPrincipalInOneStatement:
    """Every check the principal made in four reads still refuses, now in one."""

    async def test_a_revoked_token_a_disabled_account_and_a_lost_membership(
        self,
        client: httpx.AsyncClient,
        session: AsyncSession,
        connection: AsyncConnection,
        settings: Settings,
    ) -> None:
        own = await make_organisation(session, name="Own", tax_code=tax_code(12))
        applicant = await user_actor(session, settings, Role.APPLICANT, organisation_ids=[own.id])
        path = f"/api/v1/organisations/{own.id}"
        ok, statements = await _read(client, connection, path, applicant)
        assert ok.status_code == 200
        assert len(statements) == 2
        # The membership read with the account: without it the organisation is another's.
        from app.repositories import auth as auth_repo

        assert applicant.id is not None
        await auth_repo.replace_memberships(session, applicant.id, [])
        assert (await client.get(path, headers=applicant.headers)).status_code == 404
        # A disabled account: 401 invalid_token.
        account = await auth_repo.get_user(session, applicant.id)
        assert account is not None
        account.active = False
        await session.flush()
        refused = await client.get(path, headers=applicant.headers)
        assert refused.status_code == 401
        assert "invalid_token" in refused.headers["www-authenticate"]

    async def test_a_revoked_client_token_and_an_inactive_client(
        self, client: httpx.AsyncClient, session: AsyncSession, settings: Settings
    ) -> None:
        from app.repositories import auth as auth_repo

        foundation = await make_organisation(
            session, name="Fondazione", tax_code=tax_code(13), nature=LegalNature.FOUNDATION
        )
        registered = await register_client(
            session,
            settings=settings,
            name="F",
            scopes=["organisations:read"],
            organisation_id=foundation.id,
        )
        path = f"/api/v1/organisations/{foundation.id}"

        async def token() -> str:
            issued = await issue_token(
                session,
                settings,
                subject=registered.client.client_id,
                client_id=registered.client.client_id,
                scopes=frozenset({"organisations:read"}),
            )
            return issued.access_token

        first = await token()
        assert (await client.get(path, headers=_bearer(first))).status_code == 200
        claims_jti = (await _claims(first))["jti"]
        await auth_repo.revoke_jti(session, claims_jti, datetime(2100, 1, 1, tzinfo=UTC))
        assert (await client.get(path, headers=_bearer(first))).status_code == 401
        second = await token()
        assert (await client.get(path, headers=_bearer(second))).status_code == 200
        registered.client.active = False
        await session.flush()
        assert (await client.get(path, headers=_bearer(second))).status_code == 401


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _claims(token: str) -> dict[str, Any]:
    import base64
    import json

    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))
