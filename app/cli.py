"""The ``wecare`` command: database, server, OpenAPI export."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from app.core.config import get_settings
from app.core.errors import DomainError
from app.db import migrations
from app.db.session import Database, create_engine
from app.services.reference_data import WECARE_FILE, load_reference_data, read_reference_file

DEFAULT_OPENAPI_PATH = Path("openapi/openapi.json")


def _db_upgrade(args: argparse.Namespace) -> int:
    async def run() -> None:
        engine = create_engine(get_settings())
        try:
            await migrations.upgrade(engine, args.revision)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print(f"database upgraded to {args.revision}")  # noqa: T201
    return 0


def _db_downgrade(args: argparse.Namespace) -> int:
    async def run() -> None:
        engine = create_engine(get_settings())
        try:
            await migrations.downgrade(engine, args.revision)
        finally:
            await engine.dispose()

    asyncio.run(run())
    print(f"database downgraded to {args.revision}")  # noqa: T201
    return 0


def _seed(args: argparse.Namespace) -> int:
    async def run() -> str:
        data = read_reference_file(Path(args.file))
        database = Database(create_engine(get_settings()))
        try:
            async with database.session(write=True) as session:
                report = await load_reference_data(session, data)
        finally:
            await database.dispose()
        state = "loaded" if report.changed else "already up to date"
        return (
            f"programme {report.programme_code} {state} "
            f"({report.created} rows created, {report.updated} updated)"
        )

    try:
        print(asyncio.run(run()))  # noqa: T201
    except DomainError as error:
        print(f"wecare seed: {error.detail}", file=sys.stderr)  # noqa: T201
        return 1
    return 0


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


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.workers,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
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

    seed = commands.add_parser("seed", help="load a programme's reference data (idempotent)")
    seed.add_argument("--file", default=str(WECARE_FILE), help="default: the WECARE programme")
    seed.set_defaults(handler=_seed)

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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
