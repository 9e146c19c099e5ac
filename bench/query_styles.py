"""One list style: the query string as one model, FastAPI's own or app.api.query.QueryModel?

    .venv/bin/python -m bench.query_styles            # 15 rounds of 4,000 requests per style

In-process, no network and no database: the same route (AllocationQuery, the widest list
query, answering ``{}``) wired three ways in one app, called through the ASGI interface
directly with a realistic query string. CPU time per request is ``time.process_time`` around
a batch (the whole process is the server here). Every round runs the styles back to back in
a shuffled order; a ratio is the median of the per-round ratios, as in bench.run, because
this machine's speed swings between rounds. Figures are kept in QUERY_STYLES.md.

- ``per_param``: FastAPI resolves each parameter on its own (the style most lists used).
- ``fastapi_model``: ``Annotated[AllocationQuery, Query()]`` (FastAPI >= 0.115).
- ``query_model``: ``Depends(QueryModel(AllocationQuery))``, the model validated in one call.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections.abc import MutableMapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query

from app.api.query import QueryModel
from app.core.domain import AllocationStatus, Fund
from app.schemas.application import AllocationQuery
from app.schemas.types import Money

allocation_query = QueryModel(AllocationQuery)

QUERIES = {
    "empty": b"",
    "typical": b"limit=20&status=active&call_id=7d0c8e55-0f5a-4b3e-9f0b-3a1f2e4d5c6b",
    "wide": (
        b"limit=100&programme_id=7d0c8e55-0f5a-4b3e-9f0b-3a1f2e4d5c6b&fund=FSE&status=active"
        b"&min_amount=1000.00&max_amount=90000.50&include_total=true"
        b"&cursor=WyIyMDI2LTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgIjdkMGM4ZTU1Il0"
    ),
}


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/per_param")
    async def per_param(
        limit: Annotated[int, Query(ge=1, le=100)] = 50,
        cursor: Annotated[str | None, Query(max_length=500)] = None,
        programme_id: uuid.UUID | None = None,
        measure_id: uuid.UUID | None = None,
        call_id: uuid.UUID | None = None,
        application_id: uuid.UUID | None = None,
        district_id: uuid.UUID | None = None,
        organisation_id: uuid.UUID | None = None,
        fund: Fund | None = None,
        status: AllocationStatus | None = None,
        min_amount: Money | None = None,
        max_amount: Money | None = None,
        include_total: bool = False,
    ) -> dict[str, Any]:
        return {}

    @app.get("/fastapi_model")
    async def fastapi_model(query: Annotated[AllocationQuery, Query()]) -> dict[str, Any]:
        return {}

    @app.get("/query_model", openapi_extra=allocation_query.openapi())
    async def query_model(
        query: Annotated[AllocationQuery, Depends(allocation_query)],
    ) -> dict[str, Any]:
        return {}

    return app


async def call(app: FastAPI, path: str, query: bytes) -> None:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    if status != [200]:
        raise RuntimeError(f"{path}?{query!r}: {status}")


async def measure(app: FastAPI, path: str, query: bytes, n: int) -> float:
    """CPU microseconds per request over ``n`` requests."""
    start = time.process_time()
    for _ in range(n):
        await call(app, path, query)
    return (time.process_time() - start) / n * 1e6


async def main(rounds: int, n: int) -> None:
    app = build_app()
    styles = ["per_param", "fastapi_model", "query_model"]
    for style in styles:  # warm up
        for query in QUERIES.values():
            await measure(app, f"/{style}", query, 200)
    results: dict[tuple[str, str], list[float]] = {}
    for _ in range(rounds):
        for name, query in QUERIES.items():
            order = styles[:]
            random.shuffle(order)
            for style in order:
                results.setdefault((name, style), []).append(
                    await measure(app, f"/{style}", query, n)
                )
    lines = [
        f"{rounds} rounds x {n} requests; CPU us/request (median); ratio: median per round",
        "| query | per_param | fastapi_model | query_model | fastapi_model / query_model |",
        "|---|---|---|---|---|",
    ]
    for name in QUERIES:
        medians = {s: statistics.median(results[(name, s)]) for s in styles}
        paired = [
            a / b
            for a, b in zip(
                results[(name, "fastapi_model")], results[(name, "query_model")], strict=True
            )
        ]
        lines.append(
            f"| {name} | {medians['per_param']:.1f} | {medians['fastapi_model']:.1f} | "
            f"{medians['query_model']:.1f} | {statistics.median(paired):.2f} |"
        )
    print("\n".join(lines))  # noqa: T201


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("-n", type=int, default=4000)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.n))
