"""deploy/compose.yaml read as a container engine would, without one: every command a
service runs exists in the project, every WECARE_* variable it sets is a setting, no
secret is written in it, and the proxy in front points at the API replicas."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import make_url

from app.cli import build_parser
from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[?-][^}]*)?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose()["services"]
    return found


def environment(service: str) -> dict[str, str]:
    env: dict[str, Any] = services()[service].get("environment", {})
    return {name: str(value) for name, value in env.items()}


def interpolated(value: str) -> str:
    """The value with each ${VAR...} replaced by a stand-in, as after interpolation."""
    return INTERPOLATION.sub("stand-in", value)


def wecare_commands(command: list[str] | str) -> list[list[str]]:
    """The `wecare ...` invocations in a service's command (direct, or in `sh -c "a && b"`)."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["sh", "-c"]:
        steps = [shlex.split(step) for step in re.split(r"&&|;", words[2])]
    else:
        steps = [words]
    found = []
    for step in steps:
        while step and (step[0] in ("exec", "env") or step[0].startswith("-")):
            step = step[2:] if step[0] == "-u" else step[1:]
        if step and step[0] == "wecare":
            found.append(step[1:])
    return found


def assert_a_wecare_command(arguments: list[str]) -> None:
    try:
        parsed = build_parser().parse_args(arguments)
    except SystemExit as error:  # argparse's refusal of an unknown command or option
        raise AssertionError(f"`wecare {' '.join(arguments)}` is not a wecare command") from error
    assert callable(parsed.handler)


def setting_names() -> set[str]:
    return {f"WECARE_{name.upper()}" for name in Settings.model_fields}


def test_the_services_are_postgresql_a_job_the_api_a_worker_and_a_proxy() -> None:
    assert set(services()) == {"db", "migrate", "api", "worker", "proxy"}
    assert services()["db"]["image"].startswith("postgres:15")
    assert services()["proxy"]["image"].startswith("nginx:")
    for service in services().values():
        if "image" in service and "build" not in service:
            assert not service["image"].endswith(":latest")
            assert ":" in service["image"], "images are pinned"


@pytest.mark.parametrize("service", ["migrate", "api", "worker"])
def test_each_command_is_a_wecare_command(service: str) -> None:
    commands = wecare_commands(services()[service]["command"])
    assert commands
    for arguments in commands:
        assert_a_wecare_command(arguments)


def test_the_job_migrates_grants_and_seeds_and_the_api_serves() -> None:
    assert [c[:2] for c in wecare_commands(services()["migrate"]["command"])] == [
        ["db", "upgrade"],
        ["db", "grant-runtime"],
        ["seed"],
    ]
    assert wecare_commands(services()["api"]["command"]) == [["serve"]]
    assert wecare_commands(services()["worker"]["command"]) == [["worker"]]


def test_the_worker_runs_as_the_runtime_role_after_the_job_and_may_reach_out() -> None:
    worker = services()["worker"]
    assert worker["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    runtime = make_url(interpolated(environment("worker")["WECARE_DATABASE_URL"]))
    assert runtime.username == "wecare_app"
    assert "WECARE_MIGRATION_DATABASE_URL" not in environment("worker")
    networks = compose()["networks"]
    # It delivers to partners' endpoints: one network of its own is not internal.
    assert any(not (networks[name] or {}).get("internal") for name in worker["networks"])
    assert "ports" not in worker


def test_the_image_is_the_projects_dockerfile_and_its_entrypoint_is_wecare() -> None:
    for name in ("migrate", "api"):
        build = services()[name]["build"]
        dockerfile = (DEPLOY / build["context"] / build["dockerfile"]).resolve()
        assert dockerfile == ROOT / "Dockerfile"
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "ENTRYPOINT" not in dockerfile  # so a service's command replaces CMD whole
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, flags=re.MULTILINE)
    commands = wecare_commands(yaml.safe_load(cmd))
    assert [c[:2] for c in commands] == [
        ["db", "upgrade"],
        ["db", "grant-runtime"],
        ["seed"],
        ["serve"],
    ]
    for arguments in commands:
        assert_a_wecare_command(arguments)
    # The wecare executable in the image is the project's console script.
    assert 'wecare = "app.cli:main"' in (ROOT / "pyproject.toml").read_text()
    assert re.search(r"pip install .*-e \.", dockerfile)
    assert re.search(r"^USER wecare$", dockerfile, flags=re.MULTILINE)


@pytest.mark.parametrize("service", ["migrate", "api", "worker"])
def test_every_wecare_variable_is_a_setting(service: str) -> None:
    names = {name for name in environment(service) if name.startswith("WECARE_")}
    assert names
    assert names - setting_names() == set()
    # ...and each value is one the settings accept, as the container would start with it.
    values = {
        name.removeprefix("WECARE_").lower(): interpolated(value)
        for name, value in environment(service).items()
        if name.startswith("WECARE_")
    }
    values["secret_key"] = "Qm3xT8rV2kLp9ZwN4cY7hJ1sF6dG0bEa-Xy5Uw"  # the env file's
    # The public address comes from the env file too (production refuses to start without it).
    values["public_base_url"] = "http://localhost:8080"
    Settings.model_validate(values)


def test_no_secret_is_written_in_the_file() -> None:
    for name, service in services().items():
        for variable, value in environment(name).items():
            if SECRET_NAME.search(variable):
                assert INTERPOLATION.fullmatch(value), f"{name}: {variable} is a literal"
            if "://" in value:
                url = make_url(interpolated(value))
                assert url.password in (None, "stand-in"), f"{name}: {variable} has a password"
        assert "secrets" not in service or service["secrets"]


def test_the_example_env_file_defines_every_interpolated_variable_and_says_dev_only() -> None:
    wanted = set(INTERPOLATION.findall(COMPOSE.read_text()))
    example = (DEPLOY / "secrets.env.example").read_text()
    defined = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert wanted == defined
    assert "DEVELOPMENT ONLY" in example
    assert "deploy/secrets.env" in (ROOT / ".gitignore").read_text()


def test_the_owner_migrates_and_the_runtime_role_serves() -> None:
    migrate, api = environment("migrate"), environment("api")
    owner = make_url(interpolated(migrate["WECARE_MIGRATION_DATABASE_URL"]))
    runtime = make_url(interpolated(api["WECARE_DATABASE_URL"]))
    assert owner.username == "wecare_owner"
    assert runtime.username == "wecare_app"
    assert make_url(interpolated(migrate["WECARE_DATABASE_URL"])).username == "wecare_app"
    assert "WECARE_MIGRATION_DATABASE_URL" not in api
    for url in (owner, runtime):
        assert url.host == "db"
        assert url.host in services()
        assert url.database == "wecare"
    # The roles the URLs name are the ones the database's first start creates.
    init = (DEPLOY / "postgres-init" / "10-roles.sh").read_text()
    for role in ("wecare_owner", "wecare_app"):
        assert f"CREATE ROLE {role} LOGIN" in init
    assert "CREATE DATABASE wecare OWNER wecare_owner" in init
    for variable in re.findall(r"\$(DB_\w+)", init):
        assert variable in environment("db")


def test_replicas_wait_for_the_job_and_the_job_for_the_database() -> None:
    api, migrate = services()["api"], services()["migrate"]
    assert api["deploy"]["replicas"] >= 2
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate["restart"] == "no"
    assert "ports" not in api, "the replicas are reached through the proxy only"


def test_the_proxy_config_points_at_the_api_and_is_the_trusted_proxy() -> None:
    proxy = services()["proxy"]
    (mount,) = proxy["volumes"]
    source, target = mount.split(":")[:2]
    config = (DEPLOY / source).resolve()
    assert config.is_file()
    assert target.startswith("/etc/nginx/")
    text = config.read_text()
    port = environment("api")["WECARE_PORT"]
    (upstream, server) = re.findall(r"upstream (\w+) \{\s*server ([\w.-]+:\d+);", text)[0]
    assert server == f"api:{port}"
    assert f"proxy_pass http://{upstream};" in text
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    address = proxy["networks"]["edge"]["ipv4_address"]
    assert environment("api")["WECARE_TRUSTED_PROXIES"] == address
    assert "edge" in services()["api"]["networks"]
    # Metrics stay off the public side: on their own port, which the proxy never routes.
    assert environment("api")["WECARE_METRICS"] == "port"
    assert f":{environment('api')['WECARE_METRICS_PORT']}" not in text
