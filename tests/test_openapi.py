"""The committed OpenAPI document is what the app generates; operationIds are stable."""

from __future__ import annotations

import json
import re
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from app.cli import openapi_document
from app.core.money import MAX_AMOUNT, format_amount
from app.schemas.page import CURSOR_PATTERN
from app.services.paging import encode_cursor

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


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_json_request_body_has_a_valid_example() -> None:
    """The OAuth endpoints' urlencoded forms are RFC 6749's and documented there."""
    document = json.loads(openapi_document())
    components = document["components"]["schemas"]
    bodies = 0
    for where, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content:
            continue
        media = content["application/json"]
        schema = media["schema"]
        # An optional body (logout) is anyOf its model and null.
        ref = schema.get("$ref") or next(s["$ref"] for s in schema["anyOf"] if "$ref" in s)
        name = ref.rsplit("/", 1)[-1]
        examples = components[name].get("examples") or (
            [media["example"]] if "example" in media else []
        )
        assert examples, f"{where}: no example for {name}"
        schema = {**components[name], "components": document["components"]}
        for example in examples:
            errors = list(Draft202012Validator(schema).iter_errors(example))
            assert not errors, f"{where}: the example of {name} is invalid: {errors[0].message}"
        bodies += 1
    assert bodies >= 10


def test_every_operation_that_answers_428_declares_if_match() -> None:
    document = json.loads(openapi_document())
    checked = 0
    for where, operation in _operations(document):
        if "428" not in operation["responses"]:
            continue
        headers = [p for p in operation.get("parameters", []) if p["in"] == "header"]
        if_match = [p for p in headers if p["name"] == "If-Match"]
        assert len(if_match) == 1, f"{where} answers 428 but documents no If-Match"
        assert if_match[0]["required"] is True, where
        assert if_match[0]["description"], where
        success = [r for s, r in operation["responses"].items() if s.startswith("2")]
        for response in success:
            if "content" in response:
                assert "ETag" in response.get("headers", {}), f"{where}: no ETag on success"
        checked += 1
    assert checked >= 10


def test_reads_and_creates_of_resources_with_etags_document_them() -> None:
    """The read by id of a representation that If-Match guards has an ETag; a create that
    takes an Idempotency-Key answers 201 with ETag and Location."""
    document = json.loads(openapi_document())
    guarded = {
        one["$ref"]
        for _, operation in _operations(document)
        if "428" in operation["responses"]
        for s, r in operation["responses"].items()
        if s.startswith("2") and "content" in r
        # A submission answers its application, or with dry_run=true a DryRunReport (anyOf).
        for one in r["content"]["application/json"]["schema"].get(
            "anyOf", [r["content"]["application/json"]["schema"]]
        )
    }
    reads = creates = 0
    for where, operation in _operations(document):
        responses = operation["responses"]
        ok = responses.get("200", {}).get("content", {}).get("application/json", {})
        if where.startswith("GET ") and where.endswith("}") and ok["schema"].get("$ref") in guarded:
            assert "ETag" in responses["200"].get("headers", {}), where
            reads += 1
        parameters = [p["name"] for p in operation.get("parameters", [])]
        if "Idempotency-Key" in parameters:
            assert {"ETag", "Location"} <= set(responses["201"].get("headers", {})), where
            creates += 1
    assert reads >= 8
    assert creates >= 8


def test_every_operation_with_a_body_documents_413() -> None:
    document = json.loads(openapi_document())
    for where, operation in _operations(document):
        if "requestBody" in operation:
            response = operation["responses"].get("413")
            assert response is not None, f"{where} takes a body but documents no 413"
            assert "application/problem+json" in response["content"], where


def test_every_operation_states_its_security() -> None:
    """``security: []`` says "public"; a missing key would silently mean "as the default"."""
    document = json.loads(openapi_document())
    for where, operation in _operations(document):
        assert "security" in operation, where
    public = json.loads(openapi_document())["paths"]["/healthz"]["get"]
    assert public["security"] == []


def test_every_operation_that_takes_a_token_offers_the_http_bearer_scheme() -> None:
    """Swagger UI's Authorize takes a pasted token (from /api/v1/auth/login) through the
    HTTP bearer scheme; its OAuth2 dialog only runs the client-credentials flow."""
    document = json.loads(openapi_document())
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"]["type"] == "http"
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["oauth2"]["flows"]["clientCredentials"]["tokenUrl"] == "/api/v1/oauth/token"
    taking = 0
    for where, operation in _operations(document):
        requirements = operation["security"]
        oauth2 = [r["oauth2"] for r in requirements if "oauth2" in r]
        bearer = [r["bearer"] for r in requirements if "bearer" in r]
        assert oauth2 == bearer, f"{where}: {requirements}"
        taking += bool(oauth2)
    assert taking >= 60


def test_the_document_names_its_server_and_licence() -> None:
    """Relative: tools send requests to the host that served the document."""
    document = json.loads(openapi_document())
    [server] = document["servers"]
    assert server["url"] == "/"
    assert server["description"]
    assert document["info"]["license"]["identifier"] == "EUPL-1.2"


def _parameters(document: dict[str, Any], name: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (where, parameter)
        for where, operation in _operations(document)
        for parameter in operation.get("parameters", [])
        if parameter["name"] == name
    ]


def test_every_cursor_documents_the_form_the_lists_issue() -> None:
    """A cursor is what app.services.paging writes: the pattern admits every one of them."""
    document = json.loads(openapi_document())
    cursors = _parameters(document, "cursor")
    assert len(cursors) >= 13
    issued = [encode_cursor("WECARE", uuid.uuid4()), encode_cursor(2**63 - 1)]
    for where, parameter in cursors:
        [string] = [s for s in parameter["schema"]["anyOf"] if s["type"] == "string"]
        assert string["pattern"] == CURSOR_PATTERN, where
        assert all(re.fullmatch(string["pattern"], cursor) for cursor in issued), where
        assert "next_cursor" in parameter["description"], where


def test_money_is_documented_up_to_the_maximum_the_server_accepts() -> None:
    document = json.loads(openapi_document())
    text = json.dumps(document)
    assert r"\\d{0,9}" not in text  # the old pattern: ten digits, up to 9,999,999,999.99
    money = document["components"]["schemas"]["AllocationCreate"]["properties"]["amount"]
    assert re.fullmatch(money["pattern"], format_amount(MAX_AMOUNT))
    assert not re.fullmatch(money["pattern"], format_amount(MAX_AMOUNT + Decimal("0.01")))


def test_the_oauth_forms_say_that_a_repeated_parameter_is_refused() -> None:
    document = json.loads(openapi_document())
    forms = 0
    for where, operation in _operations(document):
        content = operation.get("requestBody", {}).get("content", {})
        form = content.get("application/x-www-form-urlencoded")
        if form is None:
            continue
        assert "repeated parameter is refused" in form["schema"]["description"], where
        assert "RFC 6749 section 3.1" in operation["requestBody"]["description"], where
        # An unknown parameter is ignored, but it is one string too: never a repeated one.
        assert form["schema"]["additionalProperties"] == {"type": "string"}, where
        # The client authenticates itself (Basic, or client_secret_post in the form): the
        # spec names the Basic scheme rather than saying the operation is open to anyone.
        assert operation["security"] == [{"clientBasic": []}, {}], where
        forms += 1
    assert forms == 3
    basic = document["components"]["securitySchemes"]["clientBasic"]
    assert (basic["type"], basic["scheme"]) == ("http", "basic")
    assert "client_secret_post" in basic["description"]
