"""Object-level access over HTTP: an applicant never reaches another applicant's application
or partnership, and cannot even tell that it exists (404, as for an id that was never used)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Role
from app.core.config import Settings
from tests.actors import Actor, make_organisation, tax_code, user_actor
from tests.api.v1.flows import Api, invite, new_draft, new_partnership
from tests.world import budget

APPLICATIONS = "/api/v1/applications"
PARTNERSHIPS = "/api/v1/partnerships"


@dataclass
class Scene:
    api: Api
    alice: Actor  # applicant of organisation A, lead of a partnership
    bob: Actor  # applicant of organisation B, unrelated to A
    carol: Actor  # applicant of a partner organisation in A's partnership
    organisation_a: uuid.UUID
    call_id: uuid.UUID
    application: dict[str, Any]  # A's draft
    partnership: dict[str, Any]  # led by A


@pytest.fixture
async def scene(client: httpx.AsyncClient, session: AsyncSession, settings: Settings) -> Scene:
    world = await budget(session, total=1_000_000)
    a = await make_organisation(session, name="Cooperativa A", tax_code=tax_code(11))
    b = await make_organisation(session, name="Cooperativa B", tax_code=tax_code(12))
    c = await make_organisation(session, name="Associazione C", tax_code=tax_code(13))
    alice = await user_actor(session, settings, Role.APPLICANT, organisation_ids=[a.id])
    bob = await user_actor(session, settings, Role.APPLICANT, organisation_ids=[b.id])
    carol = await user_actor(session, settings, Role.APPLICANT, organisation_ids=[c.id])
    api = Api(client)
    application = await new_draft(
        api,
        alice,
        world.call.id,
        title="Progetto di A",
        total_cost="1000.00",
        requested="800.00",
        applicant_organisation_id=a.id,
    )
    partnership = await new_partnership(api, alice, a.id, name="ATS di A")
    await invite(api, partnership["id"], alice, c.tax_code, accepted_by=carol)
    return Scene(api, alice, bob, carol, a.id, world.call.id, application, partnership)


async def assert_not_found(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    actor: Actor,
    *,
    json: Any = None,
    etag: str | None = None,
) -> None:
    headers = dict(actor.headers)
    if etag is not None:
        headers["If-Match"] = etag  # the owner's current ETag: only the owner check can refuse
    response = await client.request(method, path, json=json, headers=headers)
    assert response.status_code == 404, f"{method} {path}: {response.status_code} {response.text}"
    assert response.headers["content-type"] == "application/problem+json"


async def test_another_applicants_application_is_not_found(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    path = f"{APPLICATIONS}/{scene.application['id']}"
    await scene.api.read(path, scene.alice)  # the owner reads it (and its ETag)
    etag = scene.api.etags[path]
    await assert_not_found(client, "GET", path, scene.bob)
    await assert_not_found(client, "PATCH", path, scene.bob, json={"title": "Mio"}, etag=etag)
    await assert_not_found(client, "POST", f"{path}/submit", scene.bob, etag=etag)
    # Untouched: the owner's ETag still matches.
    assert (await scene.api.patch(path, scene.alice, {"title": "Ancora di A"}))["title"] == (
        "Ancora di A"
    )


async def test_another_applicants_partnership_is_not_found(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    path = f"{PARTNERSHIPS}/{scene.partnership['id']}"
    await scene.api.read(path, scene.alice)
    etag = scene.api.etags[path]
    await assert_not_found(client, "GET", path, scene.bob)
    await assert_not_found(client, "PATCH", path, scene.bob, json={"name": "Mia"}, etag=etag)
    assert (await scene.api.read(path, scene.alice))["name"] == "ATS di A"


def _draft(scene: Scene, **applicant: str) -> dict[str, Any]:
    return {
        "call_id": str(scene.call_id),
        "title": "Progetto",
        "description": "-",
        "total_cost": "1000.00",
        "requested": "800.00",
        **applicant,
    }


async def test_applying_as_another_applicants_organisation_is_not_found(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    """The same answer as for an organisation that does not exist: no 403 confirming it."""
    as_a = _draft(scene, applicant_organisation_id=str(scene.organisation_a))
    await assert_not_found(client, "POST", APPLICATIONS, scene.bob, json=as_a)
    nobody = _draft(scene, applicant_organisation_id=str(uuid.uuid4()))
    await assert_not_found(client, "POST", APPLICATIONS, scene.bob, json=nobody)


async def test_applying_as_another_applicants_partnership_is_not_found(
    client: httpx.AsyncClient, scene: Scene
) -> None:
    as_partnership = _draft(scene, partnership_id=scene.partnership["id"])
    await assert_not_found(client, "POST", APPLICATIONS, scene.bob, json=as_partnership)
    # A partner sees the partnership: it may know it exists, but only the lead files.
    partner = await client.post(APPLICATIONS, json=as_partnership, headers=scene.carol.headers)
    assert partner.status_code == 403, partner.text
