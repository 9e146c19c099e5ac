"""`wecare demo` and the README's walk-through: from an empty database (`wecare db upgrade`,
`wecare seed`, `wecare demo`) to a published grant, with the README's own commands, on
each backend; WECARE's figures unchanged; a second run changes nothing; refused in
production without the flag; the README's state diagram is the code's state machine."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.cli import main
from app.core.auth import Role
from app.core.config import Settings, get_settings
from app.core.domain import AllocationStatus, ApplicationStatus
from app.db.session import Database, create_engine
from app.main import create_app
from app.services.applications import TRANSITIONS
from app.services.demo import DEMO_ACCOUNTS, DEMO_PASSWORD
from tests import ENGLISH
from tests.conftest import BACKENDS, POSTGRES_URL, on_server, server_or_skip
from tests.walkthrough import README, Shell, readme_block

T = TypeVar("T")
STRONG_SECRET = "Zq8vN3xK1pL7mR4tW9yB2cF6hJ0dS5gA-demo-test-secret"


@pytest.fixture(params=BACKENDS)
def empty_database(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """An empty database (not even migrated) named by WECARE_DATABASE_URL, as the commands
    read it; dropped afterwards."""
    name = f"wecare_test_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/demo.sqlite3"
    else:
        server_or_skip(f'CREATE DATABASE "{name}"')
        url = make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    monkeypatch.setenv("WECARE_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        yield url
    finally:
        get_settings.cache_clear()
        if request.param == "postgresql":
            asyncio.run(on_server(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def against_app(url: str, work: Callable[[httpx.AsyncClient], Awaitable[T]]) -> T:
    """Run ``work`` with a client of the app serving the database at ``url``."""

    async def run() -> T:
        settings = Settings(database_url=url, auth_failure_delay_seconds=0)
        database = Database(create_engine(settings))
        app = create_app(settings, database)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        try:
            async with httpx.AsyncClient(
                headers=ENGLISH, transport=transport, base_url="http://127.0.0.1:8000"
            ) as client:
                return await work(client)
        finally:
            await database.dispose()

    return asyncio.run(run())


async def _programme_id(client: httpx.AsyncClient, code: str) -> str:
    listed = (await client.get("/api/v1/programmes", params={"limit": 100})).json()["items"]
    return next(str(p["id"]) for p in listed if p["code"] == code)


async def wecare_figures(client: httpx.AsyncClient) -> dict[str, Any]:
    """Everything public about the WECARE programme: itself, its report, measures, calls."""
    programme = await _programme_id(client, "WECARE")
    scoped: dict[str, str | int] = {"programme_id": programme, "limit": 100}
    return {
        "programme": (await client.get(f"/api/v1/programmes/{programme}")).json(),
        "report": (await client.get(f"/api/v1/programmes/{programme}/report")).json(),
        "measures": (await client.get("/api/v1/measures", params=scoped)).json(),
        "calls": (await client.get("/api/v1/calls", params=scoped)).json(),
        "grants": (await client.get("/api/v1/transparency/grants", params=scoped)).json(),
    }


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    answer = await client.post(
        "/api/v1/auth/login", json={"email": email, "password": DEMO_PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


async def demo_contents(client: httpx.AsyncClient) -> dict[str, Any]:
    """The demo as its administrator sees it through the API."""
    admin = await _login(client, "administrator@demo.example.org")
    demo = await _programme_id(client, "DEMO")
    scoped: dict[str, str | int] = {"programme_id": demo, "limit": 100}
    calls = (await client.get("/api/v1/calls", params=scoped)).json()["items"]
    apps = (await client.get("/api/v1/applications", params=scoped, headers=admin)).json()
    grants = (await client.get("/api/v1/allocations", params=scoped, headers=admin)).json()
    return {
        "programme_id": demo,
        "calls": {(c["code"], c["status"]) for c in calls},
        "application_states": sorted(a["status"] for a in apps["items"]),
        "allocation_states": sorted(g["status"] for g in grants["items"]),
    }


async def demo_actors(client: httpx.AsyncClient) -> dict[str, set[str]]:
    """Who the audit trail says made each kind of change (users by e-mail)."""
    admin = await _login(client, "administrator@demo.example.org")
    listed = (await client.get("/api/v1/users", params={"limit": 100}, headers=admin)).json()
    emails = {str(user["id"]): str(user["email"]) for user in listed["items"]}
    actors: dict[str, set[str]] = {}
    for action in [*WHO_DOES, "pledge.create"]:
        events = await client.get(
            "/api/v1/audit-events", params={"action": action, "limit": 100}, headers=admin
        )
        actors[action] = {
            emails.get(e["actor_id"], f"{e['actor_type']}:{e['actor_id']}")
            for e in events.json()["items"]
        }
    return actors


# Each change of the demo is recorded under whoever makes it, as a request of theirs would.
WHO_DOES = {
    "user.create": {"system:None"},  # the command itself
    "organisation.create": {
        "administrator@demo.example.org",  # the foundation
        "applicant@demo.example.org",
        "enterprise@demo.example.org",
        "district@demo.example.org",
    },
    "partnership.invite": {"district@demo.example.org"},
    "partnership.accept": {"applicant@demo.example.org"},
    "application.submit": {
        "applicant@demo.example.org",
        "enterprise@demo.example.org",
        "district@demo.example.org",
    },
    "application.start-review": {"officer@demo.example.org"},
    "review.score": {"reviewer@demo.example.org"},
    "application.approve": {"officer@demo.example.org"},
    "allocation.grant": {"officer@demo.example.org"},
    "allocation.revoke": {"officer@demo.example.org"},
}


def _printed(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> str:
    capsys.readouterr()
    assert main(argv) == code
    captured = capsys.readouterr()
    return captured.out + captured.err


def _audit_head(capsys: pytest.CaptureFixture[str]) -> int:
    """The head of the audit chain, as `wecare audit verify` reports it (intact)."""
    verified = re.search(
        r"audit chain intact: \d+ events, head seq (\d+)", _printed(capsys, ["audit", "verify"])
    )
    assert verified
    return int(verified.group(1))


def test_from_an_empty_database_to_a_published_grant_with_the_readme_walk_through(
    empty_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = empty_database
    _printed(capsys, ["db", "upgrade"])
    _printed(capsys, ["seed"])
    before = against_app(url, wecare_figures)

    loaded = _printed(capsys, ["demo"])
    assert "demo programme DEMO loaded" in loaded
    for account in DEMO_ACCOUNTS:
        assert re.search(rf"{account.role}\s+{re.escape(account.email)}", loaded)
    assert f"password for each: {DEMO_PASSWORD}" in loaded
    client_id = re.search(r"client_id=(\S+)", loaded)
    secret = re.search(r"client_secret=(\S+)", loaded)
    assert client_id
    assert secret

    demo = against_app(url, demo_contents)
    # An open call per measure; an application in every state; a grant active, one revoked.
    assert demo["calls"] == {
        (f"DEMO-{kind}-OPEN", "published") for kind in ("FSE1", "FSE2", "FSE3", "FESR", "FSE4")
    }
    assert set(demo["application_states"]) == set(ApplicationStatus)
    assert set(demo["allocation_states"]) == set(AllocationStatus)

    actors = against_app(url, demo_actors)
    assert actors.pop("pledge.create") == {f"client:{client_id.group(1)}"}  # the foundation
    assert actors == WHO_DOES

    # Built through the services: every counter and the audit chain hold.
    assert "every counter equals the sum of its rows" in _printed(capsys, ["check"])
    head = _audit_head(capsys)

    # Idempotent: the second run says so and writes nothing (not one audit event).
    again = _printed(capsys, ["demo"])
    assert "demo programme DEMO already loaded; nothing changed" in again
    assert f"client_id={client_id.group(1)}" in again
    assert "client_secret" not in again
    assert _audit_head(capsys) == head
    assert against_app(url, demo_contents) == demo

    async def walk(client: httpx.AsyncClient) -> Shell:
        # The foundation's client works with the printed credentials.
        token = await client.post(
            "/api/v1/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id.group(1), secret.group(1)),
        )
        assert token.status_code == 200, token.text
        shell = Shell(client)
        await shell.run(readme_block())
        return shell

    shell = against_app(url, walk)
    refused = [e for e in shell.exchanges if e.status >= 400]
    assert not refused, refused
    steps = [(e.method, re.sub(r"[0-9a-f-]{36}", "{id}", e.path)) for e in shell.exchanges]
    for action in ("submit", "start-review", "approve"):
        assert ("POST", f"/api/v1/applications/{{id}}/{action}") in steps
    assert ("POST", "/api/v1/applications/{id}/reviews/{id}/declare-no-conflict") in steps
    assert ("POST", "/api/v1/applications/{id}/reviews/{id}/score") in steps
    assert ("POST", "/api/v1/allocations") in steps
    grant, application = shell.variables["GRANT"], shell.variables["APP"]
    assert steps[-1] == ("GET", "/api/v1/transparency/grants/{id}")
    published = httpx.Response(200, text=shell.output[-1]).json()
    assert published["id"] == grant
    assert published["amount"] == "45000.00"
    assert published["legal_basis"]["programme_code"] == "DEMO"
    assert published["project_title"] == "My first project"

    async def state(client: httpx.AsyncClient) -> str:
        officer = await _login(client, "officer@demo.example.org")
        read = await client.get(f"/api/v1/applications/{application}", headers=officer)
        return str(read.json()["status"])

    assert against_app(url, state) == ApplicationStatus.APPROVED
    # WECARE's own figures, calls, budgets and grants are exactly as the seed left them.
    # Districts belong to the region, not to a programme: the demo's appears in WECARE
    # FSE1's per-district figures, with nothing in it, and is the only difference.
    after = against_app(url, wecare_figures)
    added = []
    for measure in after["report"]["measures"]:
        districts = measure["districts"] or []
        added += [d for d in districts if d["code"].startswith("DEMO-")]
        if measure["districts"] is not None:
            measure["districts"] = [d for d in districts if d not in added]
    assert [
        (d["code"], d["live_applications"], d["funded_projects"], d["allocated"]) for d in added
    ] == [("DEMO-D1", 0, 0, "0.00")]
    assert after == before
    assert "every counter equals the sum of its rows" in _printed(capsys, ["check"])
    assert _audit_head(capsys) > head


@pytest.mark.parametrize("empty_database", ["sqlite"], indirect=True)
def test_refused_in_production_unless_allowed(
    empty_database: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _printed(capsys, ["db", "upgrade"])
    monkeypatch.setenv("WECARE_ENVIRONMENT", "production")
    monkeypatch.setenv("WECARE_SECRET_KEY", STRONG_SECRET)
    monkeypatch.setenv("WECARE_PUBLIC_BASE_URL", "https://wecare.example.org")
    get_settings.cache_clear()

    refused = _printed(capsys, ["demo"], code=1)
    assert "production" in refused
    assert "--allow-production" in refused

    async def programmes(client: httpx.AsyncClient) -> list[str]:
        listed = (await client.get("/api/v1/programmes")).json()["items"]
        return [p["code"] for p in listed]

    assert against_app(empty_database, programmes) == []
    assert "demo programme DEMO loaded" in _printed(capsys, ["demo", "--allow-production"])
    assert against_app(empty_database, programmes) == ["DEMO"]


MERMAID_EDGE = re.compile(r"^\s*(\[\*\]|\w+)\s*-->\s*(\w+)\s*:\s*([\w-]+)\s*$")


def _readme_diagram() -> list[tuple[str, str, str]]:
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```mermaid\n(stateDiagram-v2\n.*?)```", text, re.DOTALL)
    assert block, "the README has no stateDiagram-v2 block"
    edges = []
    for line in block.group(1).splitlines():
        found = MERMAID_EDGE.match(line)
        if found:
            edges.append((found.group(1), found.group(2), found.group(3)))
    return edges


def test_the_readme_state_diagram_is_the_code_state_machine() -> None:
    edges = _readme_diagram()
    assert len(edges) == len(set(edges)), "an arrow is drawn twice"
    code = {
        (str(source), str(transition.target), action)
        for action, transition in TRANSITIONS.items()
        for source in transition.sources
    }
    assert {edge for edge in edges if edge[0] != "[*]"} == code
    assert [edge for edge in edges if edge[0] == "[*]"] == [
        ("[*]", ApplicationStatus.DRAFT, "create")
    ]
    drawn = {state for edge in edges for state in edge[:2]} - {"[*]"}
    assert drawn == set(ApplicationStatus)


def test_the_readme_lists_the_demo_logins() -> None:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Try it: the demo", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^  \| `([^`]+@[^`]+)` \| (\w+) \|", section, re.MULTILINE)
    assert [(email, Role(role)) for email, role in rows] == [
        (account.email, account.role) for account in DEMO_ACCOUNTS
    ]
    assert f"the password `{DEMO_PASSWORD}`" in section


async def test_the_walk_through_runner_refuses_what_it_cannot_check() -> None:
    """The runner follows the shell's quoting, and refuses any command or curl flag it does
    not run (the README cannot drift into steps the test skips)."""
    async with httpx.AsyncClient(headers=ENGLISH, base_url="http://127.0.0.1:8000") as client:
        shell = Shell(client)
        await shell.run(
            "A='x  y'\n"
            'B="$A \\"q\\" \\$A"\\\n'
            "'!'\n"
            "C=$(python3 -c 'print(\"one\")' "
            '| python3 -c "import sys; print(sys.stdin.read() * 2)")'
        )
        assert shell.variables == {"A": "x  y", "B": 'x  y "q" $A!', "C": "one\none"}  # as bash
        with pytest.raises(AssertionError, match="curl and python3 -c only"):
            await shell.run("rm -rf var")
        with pytest.raises(AssertionError, match="not something the walk-through may use"):
            await shell.run('curl -k "https://127.0.0.1:8000/healthz"')
        with pytest.raises(AssertionError, match=r"\$UNSET is not set"):
            await shell.run('curl -s "$UNSET/healthz"')
