"""Every public list and the grant, before and after a change, paired in one run.

    .venv/bin/python -m bench.lists_before_after                 # against main
    .venv/bin/python -m bench.lists_before_after --base 4e4e344  # against a commit
    .venv/bin/python -m bench.lists_before_after --grants        # the write side too

The app of ``--base`` (its tree exported by ``git archive`` into a temporary folder) and the
app of this working tree serve the same small dataset (``bench.dataset``), one worker each,
both pinned to CPU 0 with wrk on CPU 1, as in bench.run. Every round measures each list on
both servers back to back in a shuffled order; the server CPU time per request comes from
/proc (``bench.run.tree_cpu_seconds``), and a ratio is the median of the per-round
after ÷ before ratios (this machine's speed swings between rounds; paired ratios do not).
Before measuring, each list's first page must be byte for byte the same on both servers.

With ``--grants`` (PostgreSQL), ``bench.grants`` builds its BENCH programme once and each side
gets its own template copy of it (``bench_grants_before``, ``bench_grants_after``) and a third
server on it: "grant, spread" walks approved applications over 50 calls (201 expected), "grant
refused" asks again and again for the FULL call whose budget is 0 (409 expected), with the
officer's token from each side's own login. Grants consume their pool, so the two sides never
share a row.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from bench import dataset, grants
from bench.run import (
    Measurement,
    PostLoad,
    Server,
    fetch,
    login,
    start_server,
    targets,
    tree_cpu_seconds,
    wrk,
)

ROOT = Path(__file__).resolve().parent.parent


def serve(name: str, tree: Path, url: str, logs: Path) -> Server:
    """``app.cli serve`` run from ``tree`` (its ``app`` package shadows the installed one)."""
    env = {
        "PYTHONPATH": str(tree),
        "WECARE_DATABASE_URL": url,
        "WECARE_LOG_LEVEL": "WARNING",
        "WECARE_PUBLIC_BASE_URL": "http://bench.invalid",  # the same URLs in both bodies
    }
    return start_server(name, ["-m", "app.cli", "serve", "--workers", "1"], env, logs, tree)


def export(revision: str, tree: Path) -> Path:
    """The tree of ``revision`` (``git archive``) in a folder of its own."""
    tree.mkdir()
    archive = subprocess.run(
        ["git", "archive", revision], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def cpu_us(server: Server, path: str, seconds: float) -> float:
    url = server.base + path
    wrk(url, 1)  # warm-up, not counted
    before = tree_cpu_seconds(server.process.pid)
    requests, _rps, _p50, _p99, errors = wrk(url, seconds)
    if errors:
        raise RuntimeError(f"{server.name} {path}: {errors} errors")
    return (tree_cpu_seconds(server.process.pid) - before) * 1e6 / max(requests, 1)


async def copy_grants_database(side: str) -> str:
    """A template copy of bench_grants for one side; its SQLAlchemy URL."""
    name = f"{grants.NAME}_{side}"
    conn = await asyncpg.connect(dataset.SERVER_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{grants.NAME}"')
    finally:
        await conn.close()
    return grants.URL.replace(grants.NAME, name)


def grant_loads(server: Server, setup: grants.Setup, work: Path) -> dict[str, PostLoad]:
    """The two write scenarios on one side's server (its own token, its own pool walk)."""
    bearer = f"Bearer {login(server)}"
    body = '{"application_id":"{id}","amount":"1.00"}'
    json_type = "application/json"
    return {
        "grant, spread": PostLoad(
            server,
            "/api/v1/allocations",
            grants.pool_ids("bspread"),
            201,
            json_type,
            bearer,
            body,
            work,
        ),
        "grant refused (budget 0)": PostLoad(
            server,
            "/api/v1/allocations",
            [setup.full_application],
            409,
            json_type,
            bearer,
            body,
            work,
            walk=False,
        ),
    }


def post_cpu_us(load: PostLoad, seconds: float) -> float:
    measured: Measurement = load(seconds)
    if measured.errors:
        raise RuntimeError(f"{load.server.name} {load.path}: {measured.errors} errors")
    assert measured.cpu_us is not None
    return measured.cpu_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default="main", help="the revision to compare with")
    parser.add_argument("--after", help="a revision instead of this working tree")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--only", help="measure only the lists whose name contains this")
    parser.add_argument("--grants", action="store_true", help="the grant scenarios too")
    args = parser.parse_args()
    small = dataset.SIZES["small"]
    asyncio.run(dataset.ensure(small))
    t = asyncio.run(targets(small))
    lists = {
        "allocations by call": f"/api/v1/allocations?call_id={t.call_id}&limit=50",
        "allocations, deepest page": f"/api/v1/allocations?call_id={t.call_id}&limit=50"
        f"&cursor={t.deep_cursor}",
        "allocations with total": f"/api/v1/allocations?call_id={t.call_id}&limit=50"
        "&include_total=true",
        "calls": "/api/v1/calls?limit=50",
        "measures": "/api/v1/measures?limit=50",
        "programmes": "/api/v1/programmes",
        "districts": "/api/v1/districts?limit=50",
        "transparency grants": "/api/v1/transparency/grants?limit=50",
        "programme by id": f"/api/v1/programmes/{t.programme_id}",
    }
    if args.only:
        lists = {name: path for name, path in lists.items() if args.only in name}
    commit = subprocess.run(
        ["git", "rev-parse", "--short", args.base], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-before-") as tmp:
        work = Path(tmp)
        base_tree = export(args.base, work / "base")
        after_tree = export(args.after, work / "after") if args.after else ROOT
        trees = {"before": base_tree, "after": after_tree}
        url = dataset.sqlalchemy_url(small)
        # Copies of the small dataset are made before any server holds a connection to it.
        setup = asyncio.run(grants.prepare(small)) if args.grants else None
        copies = {side: asyncio.run(copy_grants_database(side)) for side in trees if setup}
        servers = {side: serve(side, tree, url, work) for side, tree in trees.items()}
        writes: dict[str, dict[str, PostLoad]] = {}
        try:
            if setup is not None:
                for side, tree in trees.items():
                    copy = copies[side]
                    server = serve(f"{side}-grants", tree, copy, work)
                    servers[f"{side}-grants"] = server
                    writes[side] = grant_loads(server, setup, work)
            for name, path in lists.items():
                bodies = {side: fetch(servers[side].base + path) for side in trees}
                if bodies["before"] != bodies["after"]:
                    raise RuntimeError(f"{name}: the two servers answer differently")
            results: dict[tuple[str, str], list[float]] = {}
            for number in range(1, args.rounds + 1):
                for name, path in lists.items():
                    sides = list(trees)
                    random.shuffle(sides)
                    for side in sides:
                        measured = cpu_us(servers[side], path, args.seconds)
                        results.setdefault((name, side), []).append(measured)
                for name in writes.get("after", {}):
                    sides = list(writes)
                    random.shuffle(sides)
                    for side in sides:
                        measured = post_cpu_us(writes[side][name], args.seconds)
                        results.setdefault((name, side), []).append(measured)
                print(f"round {number}/{args.rounds} done", file=sys.stderr)  # noqa: T201
        finally:
            for server in servers.values():
                server.process.terminate()
                server.process.wait(10)
    lines = [
        f"before = {args.base} ({commit}), after = {args.after or 'this tree'}; "
        f"{args.rounds} rounds x {args.seconds:g} s per list and side; server CPU us/request "
        "(median of rounds); ratio = median of per-round after / before",
        "",
        "| list or write | before | after | after / before |",
        "|---|---|---|---|",
    ]
    for name in [*lists, *writes.get("after", {})]:
        before, after = results[(name, "before")], results[(name, "after")]
        ratio = statistics.median(a / b for a, b in zip(after, before, strict=True))
        lines.append(
            f"| {name} | {statistics.median(before):.0f} | {statistics.median(after):.0f} | "
            f"{ratio:.3f} |"
        )
    print("\n".join(lines))  # noqa: T201


if __name__ == "__main__":
    main()
