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
    """Problem JSON everywhere, except the OAuth endpoints' RFC 6749 errors."""
    document = json.loads(openapi_document())
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for operation in item.values():
            for status, response in operation["responses"].items():
                if not status.startswith(("4", "5")):
                    continue
                content = response["content"]
                if path.startswith("/api/v1/oauth/") and status in ("400", "401"):
                    schema = content["application/json"]["schema"]
                    assert schema["$ref"].endswith("/OAuthError"), path
                else:
                    assert "application/problem+json" in content, f"{path} {status}"
