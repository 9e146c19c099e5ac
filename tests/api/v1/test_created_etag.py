"""A create answers with the new resource's ETag, as a GET of it would, replays included."""

from __future__ import annotations

import httpx
import pytest

from tests.actors import Actor, tax_code


def _body(n: int) -> dict[str, str]:
    return {
        "legal_name": f"Organisation {n:03d}",
        "tax_code": tax_code(n),
        "legal_nature": "third_sector_organisation",
        "profit_status": "non_profit",
    }


async def test_a_create_carries_the_etag_of_the_read(
    client: httpx.AsyncClient, admin: Actor
) -> None:
    """The client may change what it created without reading it first."""
    created = await client.post("/api/v1/organisations", json=_body(11), headers=admin.headers)
    assert created.status_code == 201
    etag = created.headers["etag"]
    read = await client.get(created.headers["location"], headers=admin.headers)
    assert read.headers["etag"] == etag
    changed = await client.patch(
        created.headers["location"],
        json={"legal_name": "Coop Nuova"},
        headers={**admin.headers, "If-Match": etag},
    )
    assert changed.status_code == 200


async def test_a_replay_carries_the_same_etag(client: httpx.AsyncClient, admin: Actor) -> None:
    headers = {**admin.headers, "Idempotency-Key": "create-org-etag-0001"}
    first = await client.post("/api/v1/organisations", json=_body(12), headers=headers)
    replay = await client.post("/api/v1/organisations", json=_body(12), headers=headers)
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["etag"] == first.headers["etag"]
    read = await client.get(first.headers["location"], headers=admin.headers)
    assert replay.headers["etag"] == read.headers["etag"]


@pytest.mark.parametrize("if_match", ['W/"abc"', "garbage", '"a", "b"', ",", "é"])
async def test_any_other_if_match_is_412(  # "*" matches: see test_api_contract
    client: httpx.AsyncClient, admin: Actor, if_match: str
) -> None:
    """OpenAPI declares If-Match required, so fuzzers send arbitrary ones: never a 5xx."""
    created = await client.post("/api/v1/organisations", json=_body(13), headers=admin.headers)
    headers = {k.encode(): v.encode() for k, v in admin.headers.items()}
    headers[b"If-Match"] = if_match.encode("latin-1")
    changed = await client.patch(
        created.headers["location"], json={"legal_name": "Coop Nuova"}, headers=headers
    )
    assert changed.status_code == 412
    assert changed.headers["content-type"] == "application/problem+json"
