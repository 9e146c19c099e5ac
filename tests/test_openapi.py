"""The committed OpenAPI document is what the app generates; operationIds are stable."""

from __future__ import annotations

import json
import re
from pathlib import Path

from app.cli import openapi_document

COMMITTED = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_committed_document_matches_the_app() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == openapi_document(), (
        "openapi/openapi.json is stale: run `wecare openapi export` and commit the result"
    )


def test_operations_have_ids_tags_summaries_and_descriptions() -> None:
    document = json.loads(openapi_document())
    seen: set[str] = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            op_id = operation["operationId"]
            assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", op_id), where
            assert op_id.startswith(f"{operation['tags'][0]}-"), where
            assert op_id not in seen, f"duplicate operationId {op_id}"
            seen.add(op_id)
            assert operation.get("summary"), where
            assert operation.get("description"), where


def test_error_responses_are_declared_as_problem_json() -> None:
    document = json.loads(openapi_document())
    for item in document["paths"].values():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert "application/problem+json" in response["content"], status
