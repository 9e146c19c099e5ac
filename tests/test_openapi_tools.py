"""The OpenAPI document as the frontends' own tools take it: Redocly's linter with its
``recommended`` ruleset reports nothing, and openapi-typescript's types compile under
``tsc --strict``.

The tools are the versions pinned in package.json / package-lock.json, installed by
``make test`` (``npm ci``). Without Node.js the tests skip, unless
WECARE_TEST_REQUIRE_NODE is set (CI sets it, as it sets WECARE_TEST_REQUIRE_POSTGRES): there
a missing tool fails the run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from app.cli import openapi_document

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "node_modules" / ".bin"
REQUIRE_NODE = os.environ.get("WECARE_TEST_REQUIRE_NODE", "") not in ("", "0", "false")
# No telemetry and no update check: the run is offline and says the same every time.
QUIET = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1"}

# A frontend's first lines against the generated types: a call's money is a string, the
# list's query and page types come from the operation. The last line must NOT compile
# (a number as a budget): @ts-expect-error fails the compile if it does.
USAGE = """\
import type { components, operations } from "./api";

type Call = components["schemas"]["CallRead"];
type CallPage = operations["calls-list"]["responses"][200]["content"]["application/json"];
type CallQuery = NonNullable<operations["calls-list"]["parameters"]["query"]>;
type Problem = components["schemas"]["Problem"];

export const query: CallQuery = { status: "published", limit: 20 };

export function budgets(page: CallPage): string[] {
  return page.items.map((call: Call) => call.budget);
}

export function nextCursor(page: CallPage): string | null {
  return page.next_cursor;
}

export function explain(problem: Problem): string {
  return `${problem.status} ${problem.title}`;
}

// @ts-expect-error money is a decimal string in JSON, never a number
export const notABudget: Call["budget"] = 6400000;
"""
TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "noEmit": True,
        "target": "ES2022",
        "module": "ES2022",
        "moduleResolution": "bundler",
        "skipLibCheck": False,
        "types": [],
    },
    "files": ["api.d.ts", "usage.ts"],
}


def _tool(name: str) -> Path:
    """A pinned tool from node_modules; skip (or fail, where required) when it is absent."""
    path = BIN / name
    if shutil.which("node") is None:
        message = "Node.js (20.19 or newer) is not on PATH: the spec's tools cannot run"
    elif not path.exists():
        message = f"{path} is not installed: `make test` runs `npm ci` (or run it yourself)"
    else:
        return path
    if REQUIRE_NODE:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, **QUIET},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The document the app generates (tests/test_openapi.py: the committed one is equal)."""
    path = tmp_path_factory.mktemp("openapi") / "openapi.json"
    path.write_text(openapi_document(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def generated(document: Path) -> Path:
    """openapi-typescript's types for the document, in a directory of their own."""
    generate = _tool("openapi-typescript")
    out = document.parent / "types"
    out.mkdir()
    result = _run(generate, document, "--output", out / "api.d.ts", cwd=ROOT)
    assert result.returncode == 0, result.stderr
    (out / "tsconfig.json").write_text(json.dumps(TSCONFIG), encoding="utf-8")
    return out


def _compile(directory: Path, usage: str) -> subprocess.CompletedProcess[str]:
    (directory / "usage.ts").write_text(usage, encoding="utf-8")
    return _run(_tool("tsc"), "--project", directory / "tsconfig.json", cwd=directory)


def test_redocly_recommended_ruleset_reports_no_problem(document: Path) -> None:
    redocly = _tool("redocly")
    result = _run(
        redocly,
        "lint",
        document,
        "--config",
        ROOT / "redocly.yaml",
        "--format=json",
        cwd=ROOT,
    )
    report = json.loads(result.stdout)
    problems = [
        f"{p['severity']} {p['ruleId']}: {p['message']} at {p['location'][0]['pointer']}"
        for p in report["problems"]
    ]
    assert problems == [], "\n".join(problems)
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}
    assert result.returncode == 0, result.stderr


def test_the_ruleset_is_recommended_with_nothing_switched_off() -> None:
    config = (ROOT / "redocly.yaml").read_text(encoding="utf-8")
    assert "recommended" in config
    assert ": off" not in config.replace("telemetry: off", "")


def test_openapi_typescript_types_compile_under_strict_tsc(generated: Path) -> None:
    types = (generated / "api.d.ts").read_text(encoding="utf-8")
    assert '"calls-list"' in types
    assert "@ts-expect-error" in USAGE  # the refusal that proves the types say something
    compiled = _compile(generated, USAGE)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
