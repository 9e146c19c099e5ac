"""The ``wecare`` command: database, server, OpenAPI export."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from functools import partial
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import metrics
from app.core.auth import CLIENT_GRANTABLE_SCOPES, Role
from app.core.config import Settings, get_settings
from app.core.errors import DomainError
from app.core.logging import configure_logging
from app.core.storage import storage_for
from app.db import migrations, roles
from app.db.session import Database, create_engine
from app.services import (
    audit,
    checkpoints,
    clients,
    consistency,
    demo,
    documents,
    email_worker,
    housekeeping,
    keys,
    users,
    webhook_worker,
)
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file

DEFAULT_OPENAPI_PATH = Path("openapi/openapi.json")


def _owner_settings() -> Settings:
    """The settings with the tables' owner as the database (WECARE_MIGRATION_DATABASE_URL,
    or WECARE_DATABASE_URL when there is no separate runtime role)."""
    settings = get_settings()
    return settings.model_copy(update={"database_url": settings.owner_database_url})


def _db_upgrade(args: argparse.Namespace) -> int:
    async def run() -> None:
        engine = create_engine(_owner_settings(), request_timeouts=False)
        try:
            await migrations.upgrade(engine, args.revision)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print(f"database upgraded to {args.revision}")  # noqa: T201
    return 0


def _db_downgrade(args: argparse.Namespace) -> int:
    async def run() -> None:
        engine = create_engine(_owner_settings(), request_timeouts=False)
        try:
            await migrations.downgrade(engine, args.revision)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print(f"database downgraded to {args.revision}")  # noqa: T201
    return 0


def _db_grant_runtime(args: argparse.Namespace) -> int:
    """Grant the runtime role what the service needs, as the owner (PostgreSQL)."""
    settings = get_settings()
    runtime_url = make_url(settings.database_url)
    if runtime_url.get_backend_name() != "postgresql":
        print("wecare db grant-runtime: SQLite has no roles; nothing to grant")  # noqa: T201
        return 0
    role = args.role or runtime_url.username
    if not role:
        print("wecare db grant-runtime: name the role", file=sys.stderr)  # noqa: T201
        return 1

    async def run() -> list[str]:
        engine = create_engine(_owner_settings())
        try:
            async with engine.begin() as connection:
                return await roles.grant_runtime(connection, role)
        finally:
            await engine.dispose()

    try:
        statements = asyncio.run(run())
    except roles.RuntimeRoleRefused as error:
        print(f"wecare db grant-runtime: {error}", file=sys.stderr)  # noqa: T201
        return 1
    print(  # noqa: T201
        f"role {role} may now run the service ({len(statements)} grants; "
        "the audit trail is append-only to it)"
    )
    return 0


def _seed(args: argparse.Namespace) -> int:
    settings = _owner_settings()

    async def run() -> list[str]:
        data = read_reference_file(Path(args.file))
        database = Database(create_engine(settings))
        try:
            async with database.session(write=True) as session:
                report = await load_reference_data(session, data)
                key = await keys.ensure_signing_key(session, secret=settings.secret)
                first = await users.create_first_administrator(
                    session, email=settings.first_admin_email, settings=settings
                )
        finally:
            await database.dispose()
        state = "loaded" if report.changed else "already up to date"
        lines = [
            f"programme {report.programme_code} {state} "
            f"({report.created} rows created, {report.updated} updated)"
        ]
        if key is not None:
            lines.append(f"signing key {key.kid} created (published at /.well-known/jwks.json)")
        if first is not None:
            # Printed once, as Grafana and Jenkins do: only its argon2 hash is stored, and
            # the account must replace it at its first login.
            lines += [
                "",
                "No account existed: the first administrator is created.",
                f"    e-mail:            {first.user.email}",
                f"    one-time password: {first.password}",
                "It is shown only now. Log in with it (POST /api/v1/auth/login); the session "
                "allows only choosing a new password (POST /api/v1/auth/password).",
                "",
            ]
        return lines

    try:
        print("\n".join(asyncio.run(run())))  # noqa: T201
    except DomainError as error:
        print(f"wecare seed: {error.detail}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


def _in_transaction(work: Callable[[AsyncSession], Awaitable[str]]) -> int:
    """Run ``work`` in one write transaction on the configured database and print its result."""

    async def run() -> str:
        database = Database(create_engine(get_settings()))
        try:
            async with database.session(write=True) as session:
                return await work(session)
        finally:
            await database.dispose()

    try:
        print(asyncio.run(run()))  # noqa: T201
    except DomainError as error:
        print(f"wecare: {error.detail}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


def _keys_rotate(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> str:
        row = await keys.rotate_signing_key(session, secret=get_settings().secret)
        return f"new signing key {row.kid} is active; older keys verify until retired"

    return _in_transaction(work)


def _keys_retire(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> str:
        row = await keys.retire_signing_key(session, kid=args.kid)
        return f"signing key {row.kid} retired at {row.retired_at:%Y-%m-%dT%H:%M:%SZ}"

    return _in_transaction(work)


def _keys_list(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> str:
        rows = await keys.list_signing_keys(session)
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        lines = [
            f"{row.kid}\t{row.created_at:{stamp}}\t"
            + (f"retired {row.retired_at:{stamp}}" if row.retired_at else "active")
            for row in rows
        ]
        return "\n".join(lines) or "no signing keys yet (one is created on first use)"

    return _in_transaction(work)


async def _organisation_id(session: AsyncSession, tax_code: str | None) -> uuid.UUID | None:
    return None if tax_code is None else await users.organisation_named(session, tax_code)


def _clients_create(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> str:
        registered = await clients.register_client(
            session,
            settings=get_settings(),
            name=args.name,
            scopes=args.scopes.replace(",", " ").split(),
            organisation_id=await _organisation_id(session, args.organisation),
        )
        return (
            f"client_id={registered.client.client_id}\n"
            f"client_secret={registered.secret}\n"
            "(the secret is shown only now; store it safely)"
        )

    return _in_transaction(work)


def _clients_rotate_secret(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> str:
        rotated = await clients.rotate_client_secret(
            session, get_settings(), client_id=args.client_id
        )
        return (
            f"client_id={rotated.client.client_id}\n"
            f"client_secret={rotated.secret}\n"
            "(the secret is shown only now; the previous one no longer works)"
        )

    return _in_transaction(work)


def _users_create(args: argparse.Namespace) -> int:
    password = os.environ.get("WECARE_NEW_USER_PASSWORD") or getpass.getpass("Password: ")
    if len(password) < 12:
        print("wecare: the password needs at least 12 characters", file=sys.stderr)  # noqa: T201
        return 1

    async def work(session: AsyncSession) -> str:
        orgs = [await _organisation_id(session, code) for code in args.organisation or []]
        user = await users.create_user(
            session,
            email=args.email,
            # Not the address itself: the display name is in the audit trail, e-mails never.
            display_name=args.name or args.email.split("@")[0],
            password=password,
            role=Role(args.role),
            organisation_ids=[org for org in orgs if org is not None],
            settings=get_settings(),
        )
        return f"user {user.email} ({user.role}) created with id {user.id}"

    return _in_transaction(work)


def _counts(counter: Mapping[str, int]) -> str:
    return ", ".join(f"{state} {n}" for state, n in sorted(counter.items()))


def _demo_lines(report: demo.DemoReport) -> list[str]:
    if report.loaded:
        lines = [
            f"demo programme {demo.DEMO_PROGRAMME_CODE} loaded (DEMO — not real data; "
            "WECARE's own data is unchanged)",
            "applications: " + _counts(report.applications),
            "allocations: " + _counts(report.allocations),
        ]
    else:
        lines = [f"demo programme {demo.DEMO_PROGRAMME_CODE} already loaded; nothing changed"]
    lines.append(f"demo logins (password for each: {report.password}):")
    lines += [f"  {account.role:<14} {account.email}" for account in report.accounts]
    if report.client_secret is not None:
        lines += [
            "demo foundation's OAuth client (client credentials):",
            f"  client_id={report.client_id}",
            f"  client_secret={report.client_secret}",
            "  (the secret is shown only now)",
        ]
    elif report.client_id is not None:
        lines += [
            f"demo foundation's OAuth client: client_id={report.client_id} (its secret was "
            f"shown at the first load; `wecare clients rotate-secret {report.client_id}` "
            "issues a new one)",
        ]
    lines.append('walk-through: README, "Try it: the demo"')
    return lines


def _demo(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> str:
        report = await demo.load_demo(
            session, get_settings(), allow_production=args.allow_production
        )
        return "\n".join(_demo_lines(report))

    return _in_transaction(work)


def _prune(args: argparse.Namespace) -> int:
    settings = get_settings()
    keys: list[str] = []

    async def work(session: AsyncSession) -> str:
        deleted = await housekeeping.prune(session, settings)
        # Abandoned uploads only: documents of drafts untouched for the setting's delay.
        # Nothing submitted, no call's or ranking's act (retention: README "Documents").
        keys.extend(
            await documents.prune_abandoned(
                session, older_than=timedelta(days=settings.document_prune_after_days)
            )
        )
        deleted["document"] = len(keys)
        return "deleted " + ", ".join(f"{n} {table}" for table, n in deleted.items())

    status = _in_transaction(work)
    if status == 0 and keys:  # the rows are gone (committed): now their files

        async def drop() -> None:
            storage = storage_for(settings)
            for key in keys:
                await storage.delete(key)

        asyncio.run(drop())
    return status


def _documents_verify(args: argparse.Namespace) -> int:
    """Re-hash every stored document; exit 1 naming each missing or differing file."""
    settings = get_settings()

    async def run() -> documents.Verification:
        database = Database(create_engine(settings))
        try:
            async with database.session(write=False) as session:
                return await documents.verify_stored(session, storage_for(settings))
        finally:
            await database.dispose()

    found = asyncio.run(run())
    for line in found.problems:
        print(f"DOCUMENT {line}", file=sys.stderr)  # noqa: T201
    if found.problems:
        return 1
    print(f"{found.checked} documents: every stored file matches its SHA-256")  # noqa: T201
    return 0


def _lapse(args: argparse.Namespace) -> int:
    async def work(session: AsyncSession) -> str:
        lapsed = await housekeeping.lapse(session)
        return f"lapsed {lapsed} grants not accepted by their deadline"

    return _in_transaction(work)


def _check(args: argparse.Namespace) -> int:
    """Recompute every counter from the rows; exit 1 and name each difference."""

    async def run() -> list[str]:
        engine = create_engine(get_settings())
        try:
            async with engine.connect() as connection:
                return await consistency.counter_differences(connection)
        finally:
            await engine.dispose()

    found = asyncio.run(run())
    for line in found:
        print(f"MISMATCH {line}", file=sys.stderr)  # noqa: T201
    if found:
        return 1
    print("every counter equals the sum of its rows")  # noqa: T201
    return 0


def _read_jwks(path: str) -> dict[str, dict[str, object]]:
    document = json.loads(Path(path).read_text(encoding="utf-8"))
    return {str(key["kid"]): dict(key) for key in document["keys"]}


def _audit_verify(args: argparse.Namespace) -> int:
    """Walk the hash chain and check it against every signed checkpoint; exit 1 naming the
    first broken sequence number and each checkpoint the trail contradicts."""
    settings = get_settings()
    try:
        jwks = _read_jwks(args.jwks) if args.jwks else None
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"wecare audit verify: cannot read the JWKS: {error}", file=sys.stderr)  # noqa: T201
        return 2

    async def run() -> audit.Verification:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                keys = (
                    jwks
                    if jwks is not None
                    else await audit.trusted_keys(connection, secret=settings.secret)
                )
                return await audit.verify_chain(connection, keys=keys)
        finally:
            await engine.dispose()

    started = time.perf_counter()
    result = asyncio.run(run())
    elapsed = time.perf_counter() - started
    if not result.ok:
        if result.first_broken_seq is not None:
            print(  # noqa: T201
                f"BROKEN at seq {result.first_broken_seq}: {result.reason}", file=sys.stderr
            )
        for failure in result.checkpoint_failures:
            print(f"BROKEN {failure}", file=sys.stderr)  # noqa: T201
        return 1
    summary = (
        f"{result.events} events, head seq {result.head_seq}, "
        f"{result.checkpoints} checkpoints ({elapsed:.2f} s)"
    )
    print(f"audit chain intact: {summary}")  # noqa: T201
    return 0


def _audit_checkpoint(args: argparse.Namespace) -> int:
    settings = get_settings()

    async def work(session: AsyncSession) -> str:
        made = await checkpoints.create_checkpoint(
            session, secret=settings.secret, issuer=settings.issuer
        )
        state = "signed" if made.created else "already signed"
        return f"checkpoint at seq {made.checkpoint.seq} {state}\n{made.checkpoint.jws}"

    return _in_transaction(work)


def openapi_document() -> str:
    """The OpenAPI document of the app, as committed in openapi/openapi.json."""
    from app.main import create_app

    return json.dumps(create_app().openapi(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def _openapi_export(args: argparse.Namespace) -> int:
    document = openapi_document()
    if args.output == "-":
        sys.stdout.write(document)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(document, encoding="utf-8")
        print(f"wrote {args.output}")  # noqa: T201
    return 0


def _metrics_port_thread(settings: Settings) -> threading.Thread:
    """WECARE_METRICS=port: /metrics on its own listener, in a thread of this process (the
    workers' supervisor, or the one worker), reading what every worker counted."""
    import uvicorn

    from app.api.metrics import create_metrics_app

    server = uvicorn.Server(
        uvicorn.Config(
            create_metrics_app(settings),
            host=settings.metrics_host,
            port=settings.metrics_port,
            log_config=None,
            access_log=False,
            lifespan="on",
        )
    )
    thread = threading.Thread(target=server.run, name="metrics", daemon=True)
    thread.start()
    return thread


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.api import server

    settings = get_settings()
    host, port = args.host or settings.host, args.port or settings.port
    # uvicorn builds the app (here, or in each worker process) from the environment's
    # settings: an address given as an option must reach it too, for the default issuer.
    os.environ["WECARE_HOST"], os.environ["WECARE_PORT"] = host, str(port)
    get_settings.cache_clear()
    workers = args.workers or settings.workers
    # The supervisor's own lines (startup, worker restarts) in the workers' format.
    configure_logging(settings.log_level, settings.effective_log_format)
    owned_multiproc_dir: Path | None = None
    if settings.metrics != "off" and workers > 1:
        # Several workers count into files that every scrape sums (app.core.metrics); the
        # variable must be set before the workers import prometheus_client.
        given = os.environ.get(metrics.MULTIPROC_ENV)
        directory = Path(given) if given else Path(tempfile.mkdtemp(prefix="wecare-metrics-"))
        owned_multiproc_dir = None if given else directory
        metrics.prepare_multiprocess_directory(directory)
        os.environ[metrics.MULTIPROC_ENV] = str(directory)
    if settings.metrics == "port":
        _metrics_port_thread(settings)
    try:
        uvicorn.run(
            "app.main:create_served_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level=settings.log_level.lower(),
            # The application writes one line per request (app.api.middleware), with the
            # request id and the route template; uvicorn's own would be a second one.
            log_config=None,
            access_log=False,
            proxy_headers=True,
            # Limits (README "Configuration"); the protocol adds the head limits uvicorn lacks.
            http=server.PROTOCOL_PATH,
            limit_concurrency=settings.server_limit_concurrency,
            timeout_keep_alive=settings.server_keep_alive_seconds,
            backlog=settings.server_backlog,
            timeout_worker_healthcheck=settings.server_worker_healthcheck_seconds,
            # X-Forwarded-For moves request.client only when sent by one of these (default none).
            forwarded_allow_ips=",".join(settings.trusted_proxies),
        )
    finally:
        if owned_multiproc_dir is not None:
            metrics.remove_multiprocess_directory(owned_multiproc_dir)
    return 0


def _worker(args: argparse.Namespace) -> int:
    """Deliver webhooks and e-mails until SIGTERM or SIGINT: the round in progress finishes
    (its sends and their records), then the process exits 0. Several may run on PostgreSQL."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.effective_log_format)
    emails = email_worker.EmailStats()

    async def run() -> webhook_worker.WorkerStats:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        database = Database(create_engine(settings))
        try:
            if args.once:
                stats = webhook_worker.WorkerStats()
                await webhook_worker.run_once(database, settings, stats)
                await email_worker.run_once(database, settings, emails)
                return stats
            return await webhook_worker.run(
                database,
                settings,
                stop,
                also=partial(email_worker.run_once, database, settings, emails),
            )
        finally:
            await database.dispose()

    stats = asyncio.run(run())
    print(  # noqa: T201
        f"wecare worker: stopped after {stats.rounds} rounds, {stats.attempts} attempts, "
        f"{stats.delivered} delivered, {emails.sent} e-mails sent"
        + ("" if settings.smtp_configured else " (SMTP not configured: e-mails off)")
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wecare", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db", required=True)
    up = db.add_parser("upgrade", help="apply migrations (default: to head)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(handler=_db_upgrade)
    down = db.add_parser("downgrade", help="revert migrations (default: to base)")
    down.add_argument("revision", nargs="?", default="base")
    down.set_defaults(handler=_db_downgrade)
    grant = db.add_parser(
        "grant-runtime", help="grant the service's runtime role its privileges (PostgreSQL)"
    )
    grant.add_argument(
        "role", nargs="?", default=None, help="default: the user of WECARE_DATABASE_URL"
    )
    grant.set_defaults(handler=_db_grant_runtime)

    seed = commands.add_parser("seed", help="load a programme's reference data (idempotent)")
    seed.add_argument("--file", default=str(WECARE_FILE), help="default: the WECARE programme")
    seed.set_defaults(handler=_seed)

    key_commands = commands.add_parser("keys", help="token signing keys").add_subparsers(
        dest="keys", required=True
    )
    key_commands.add_parser("rotate", help="add a new active signing key").set_defaults(
        handler=_keys_rotate
    )
    key_commands.add_parser("list", help="list signing keys").set_defaults(handler=_keys_list)
    retire = key_commands.add_parser("retire", help="stop accepting a key's tokens")
    retire.add_argument("kid")
    retire.set_defaults(handler=_keys_retire)

    client_commands = commands.add_parser("clients", help="partner OAuth clients")
    client_subcommands = client_commands.add_subparsers(dest="clients", required=True)
    create_client = client_subcommands.add_parser(
        "create", help="register a client; prints its secret once"
    )
    create_client.add_argument("--name", required=True)
    create_client.add_argument(
        "--scopes",
        required=True,
        # str(): the values ("pledges:read"), not the enum members' reprs.
        help="space or comma separated, of: "
        + ", ".join(sorted(map(str, CLIENT_GRANTABLE_SCOPES))),
    )
    create_client.add_argument("--organisation", help="tax code of the partner's organisation")
    create_client.set_defaults(handler=_clients_create)
    rotate = client_subcommands.add_parser(
        "rotate-secret", help="issue a new secret to a client; prints it once"
    )
    rotate.add_argument("client_id")
    rotate.set_defaults(handler=_clients_rotate_secret)

    user_commands = commands.add_parser("users", help="user accounts")
    create_user = user_commands.add_subparsers(dest="users", required=True).add_parser(
        "create", help="create an account (password from WECARE_NEW_USER_PASSWORD or a prompt)"
    )
    create_user.add_argument("--email", required=True)
    create_user.add_argument("--name", help="display name (default: the e-mail's local part)")
    create_user.add_argument("--role", choices=[r.value for r in Role], default="administrator")
    create_user.add_argument(
        "--organisation", action="append", help="tax code of an organisation (repeatable)"
    )
    create_user.set_defaults(handler=_users_create)

    audit_commands = commands.add_parser("audit", help="the audit trail").add_subparsers(
        dest="audit", required=True
    )
    verify = audit_commands.add_parser(
        "verify", help="verify the hash chain against every signed checkpoint"
    )
    verify.add_argument(
        "--jwks",
        help="a JWKS document kept elsewhere to verify the checkpoints with (default: the "
        "database's keys, each authenticated with WECARE_SECRET_KEY)",
    )
    verify.set_defaults(handler=_audit_verify)
    audit_commands.add_parser(
        "checkpoint", help="sign a checkpoint of the chain's head now"
    ).set_defaults(handler=_audit_checkpoint)

    demo_command = commands.add_parser(
        "demo",
        help="load the demo programme (not real data): open calls, accounts of every role, "
        "a foundation's client, applications in every state (idempotent)",
    )
    demo_command.add_argument(
        "--allow-production",
        action="store_true",
        help="load it even when WECARE_ENVIRONMENT is production (refused otherwise)",
    )
    demo_command.set_defaults(handler=_demo)

    commands.add_parser(
        "prune",
        help="delete expired idempotency keys, token revocations, old authentication failures",
    ).set_defaults(handler=_prune)
    commands.add_parser(
        "lapse",
        help="lapse every grant not accepted by its measure's deadline (audited; its money "
        "returns to the call); run it daily, as prune",
    ).set_defaults(handler=_lapse)
    document_commands = commands.add_parser("documents", help="stored documents")
    document_commands.add_subparsers(dest="documents", required=True).add_parser(
        "verify", help="re-hash every stored document; name those missing or differing"
    ).set_defaults(handler=_documents_verify)
    check = commands.add_parser("check", help="verify every budget counter against its rows")
    check.set_defaults(handler=_check)

    worker = commands.add_parser(
        "worker", help="deliver webhooks from the outbox (graceful stop on SIGTERM)"
    )
    worker.add_argument("--once", action="store_true", help="one round, then exit")
    worker.set_defaults(handler=_worker)

    serve = commands.add_parser("serve", help="run the HTTP server (uvicorn)")
    serve.add_argument("--host", default=None, help="default: WECARE_HOST or 127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: WECARE_PORT or 8000")
    serve.add_argument("--workers", type=int, default=None, help="default: WECARE_WORKERS or 1")
    serve.set_defaults(handler=_serve)

    openapi = commands.add_parser("openapi", help="OpenAPI document")
    export = openapi.add_subparsers(dest="openapi", required=True).add_parser(
        "export", help="write the OpenAPI document"
    )
    export.add_argument("--output", "-o", default=str(DEFAULT_OPENAPI_PATH), help="'-' = stdout")
    export.set_defaults(handler=_openapi_export)
    return parser


# Commands that run on a database at any revision, or on none (`serve` only warns).
SCHEMA_FREE_COMMANDS = frozenset({"db", "openapi"})


def _settings_errors(error: ValidationError) -> list[str]:
    """One line per refused setting, named by its environment variable."""
    lines = []
    for found in error.errors():
        message = str(found["msg"]).removeprefix("Value error, ")
        name = "WECARE_" + "_".join(map(str, found["loc"])).upper()
        lines.append(message if not found["loc"] or "WECARE_" in message else f"{name}: {message}")
    return lines


def _schema_problem(settings: Settings) -> str | None:
    """Why the configured database cannot run a command (one line naming the fix), or None."""
    url = make_url(settings.owner_database_url)
    shown = url.render_as_string(hide_password=True)
    path = url.database or ""
    file_path = path not in ("", ":memory:") and not path.startswith("file:")
    if url.get_backend_name() == "sqlite" and file_path and not Path(path).exists():
        # Checked before connecting, which would create an empty file.
        return (
            f"there is no database at {path}: create it with `wecare db upgrade` "
            "(in the checkout, `make run` migrates, seeds and serves)"
        )

    async def run() -> str | None:
        owner = settings.model_copy(update={"database_url": settings.owner_database_url})
        engine = create_engine(owner, pooled=False)
        try:
            return await migrations.schema_problem(engine)
        finally:
            await engine.dispose()

    try:
        problem = asyncio.run(run())
    except (OSError, SQLAlchemyError) as error:
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        return f"cannot reach the database {shown}: {reason}"
    if problem is None:
        return None
    return f"the database {shown} {problem}: run `wecare db upgrade` first"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except ValidationError as error:
        for line in _settings_errors(error):
            print(f"wecare: {line}", file=sys.stderr)  # noqa: T201
        return 2
    if args.command not in SCHEMA_FREE_COMMANDS:
        problem = _schema_problem(settings)
        if problem is not None and args.command == "serve":
            # The server starts all the same: /readyz answers 503 until the database is
            # reachable and migrated, and an orchestrator waits for it. The warning is a log
            # line like the server's own (JSON in production), not bare text among them.
            configure_logging(settings.log_level, settings.effective_log_format)
            logging.getLogger("wecare.cli").warning("%s", problem)
        elif problem is not None:
            print(f"wecare: {problem}", file=sys.stderr)  # noqa: T201
            return 1
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
