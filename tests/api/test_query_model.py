"""app.api.query: one model for the query string, documented and refused as FastAPI would."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends, FastAPI, Query

from app.api.problems import install_problem_handlers
from app.api.query import QueryModel
from app.schemas.application import AllocationQuery
from tests import ENGLISH

allocation_query = QueryModel(AllocationQuery)


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/fastapi")
    async def by_fastapi(query: Annotated[AllocationQuery, Query()]) -> dict[str, object]:
        return query.model_dump(mode="json")

    @app.get("/model", openapi_extra=allocation_query.openapi())
    async def by_model(
        query: Annotated[AllocationQuery, Depends(allocation_query)],
    ) -> dict[str, object]:
        return query.model_dump(mode="json")

    return app


def test_the_parameters_are_documented_as_fastapi_documents_them() -> None:
    paths = _app().openapi()["paths"]
    by_fastapi = {p["name"]: p for p in paths["/fastapi"]["get"]["parameters"]}
    by_model = {p["name"]: p for p in paths["/model"]["get"]["parameters"]}
    assert by_model == by_fastapi
    assert "limit" in by_model
    assert "include_total" in by_model


async def test_values_and_refusals_are_the_same() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(
        headers=ENGLISH, transport=transport, base_url="http://t"
    ) as client:
        for query in (
            "",
            "limit=7&include_total=true&status=revoked&min_amount=1.5&unknown=x",
            "call_id=7d0c8e55-0f5a-4b3e-9f0b-3a1f2e4d5c6b&call_id=not-a-uuid",
            "limit=0&min_amount=1.234&status=bogus&cursor=" + "x" * 501,
            "call_id=&include_total=perhaps",
        ):
            expected = await client.get(f"/fastapi?{query}")
            got = await client.get(f"/model?{query}")
            assert got.status_code == expected.status_code, query
            assert got.headers["content-type"] == expected.headers["content-type"]
            if expected.status_code == 422:
                assert got.json()["errors"] == expected.json()["errors"], query
            else:
                assert got.json() == expected.json(), query
