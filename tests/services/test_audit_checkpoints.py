"""Signed checkpoints: verify_chain checks the trail against every checkpoint and names
each tamper an owner of the database can commit with raw SQL past the guards: truncation,
dropped last events, a forged append, a range rewritten below a checkpoint, a forged
signature (also by a key row planted in the database)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.core import security
from app.core.config import Settings
from app.core.context import SYSTEM
from app.main import create_app
from app.models.audit import GENESIS_HASH
from app.repositories import audit as audit_repo
from app.services import audit, checkpoints
from app.services import keys as keys_service
from app.services.audit import chain_hash, trusted_keys, verify_chain
from tests.conftest import own_database
from tests.tamper import lift_audit_guards

ISSUER = "https://wecare.example"


async def add_events(session: AsyncSession, count: int) -> int:
    for n in range(count):
        event = await audit.record(
            session, action="test.event", entity_type="test", entity_id=n, actor=SYSTEM
        )
    return event.seq


@pytest.fixture
async def signed(session: AsyncSession, settings: Settings) -> int:
    """Six events, a checkpoint signed at the sixth, then two more events; returns 6."""
    await add_events(session, 6)
    made = await checkpoints.checkpoint_if_due(session, secret=settings.secret, issuer=ISSUER)
    assert made is not None
    await add_events(session, 2)
    await session.flush()
    return made.seq


async def keys(connection: AsyncConnection, settings: Settings) -> dict[str, dict[str, Any]]:
    return await trusted_keys(connection, secret=settings.secret)


async def rechain_from(connection: AsyncConnection, seq: int) -> None:
    """Recompute every hash from ``seq`` on, and the head, as a forger who rewrote content
    would, so that the walk alone finds nothing."""
    rows = (
        await connection.execute(
            text("SELECT * FROM audit_event WHERE seq >= :seq ORDER BY seq"), {"seq": seq}
        )
    ).all()
    prev = await connection.scalar(
        text("SELECT prev_hash FROM audit_event WHERE seq = :seq"), {"seq": seq}
    )
    for row in rows:
        content = audit.event_content(row)
        occurred = row.occurred_at
        if isinstance(occurred, str):
            occurred = datetime.fromisoformat(occurred)
        if occurred.tzinfo is None:
            occurred = occurred.replace(tzinfo=UTC)
        content["occurred_at"] = audit._plain(occurred)
        content["prev_hash"] = prev
        digest = chain_hash(prev, content)
        await connection.execute(
            text("UPDATE audit_event SET prev_hash = :prev, hash = :hash WHERE seq = :seq"),
            {"prev": prev, "hash": digest, "seq": row.seq},
        )
        prev = digest
    await connection.execute(
        text("UPDATE audit_head SET seq = (SELECT max(seq) FROM audit_event), hash = :h"),
        {"h": prev},
    )


async def drop_from(connection: AsyncConnection, seq: int) -> None:
    """Delete the events from ``seq`` on and move the head back onto the one before."""
    await connection.execute(text("DELETE FROM audit_event WHERE seq >= :seq"), {"seq": seq})
    last = (
        await connection.execute(
            text("SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
        )
    ).one_or_none()
    seq_, hash_ = last if last is not None else (0, GENESIS_HASH)
    await connection.execute(
        text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": seq_, "h": hash_}
    )


class TestIntact:
    async def test_an_intact_trail_passes_every_checkpoint(
        self, connection: AsyncConnection, settings: Settings, signed: int
    ) -> None:
        result = await verify_chain(connection, keys=await keys(connection, settings))
        assert result.ok, result
        assert result.checkpoints == 1
        assert result.head_seq == signed + 2

    async def test_the_checkpoint_signs_the_head_with_the_active_key(
        self, session: AsyncSession, connection: AsyncConnection, settings: Settings, signed: int
    ) -> None:
        row = (await connection.execute(text("SELECT * FROM audit_checkpoint"))).one()
        claims = security.verify_checkpoint(row.jws, public_keys=await keys(connection, settings))
        event_hash = await connection.scalar(
            text("SELECT hash FROM audit_event WHERE seq = :s"), {"s": signed}
        )
        assert (claims.seq, claims.hash, claims.issuer, claims.kid) == (
            signed,
            event_hash,
            ISSUER,
            row.kid,
        )

    async def test_a_checkpoint_signed_by_a_retired_key_still_verifies(
        self, session: AsyncSession, connection: AsyncConnection, settings: Settings, signed: int
    ) -> None:
        old = (await connection.execute(text("SELECT kid FROM audit_checkpoint"))).scalar_one()
        await keys_service.rotate_signing_key(session, secret=settings.secret)
        await keys_service.retire_signing_key(session, kid=old)
        await session.flush()
        result = await verify_chain(connection, keys=await keys(connection, settings))
        assert result.ok, result
        assert result.checkpoints == 1

    async def test_a_periodic_checkpoint_is_skipped_when_the_trail_did_not_move(
        self, session: AsyncSession, settings: Settings, signed: int
    ) -> None:
        again = await checkpoints.checkpoint_if_due(session, secret=settings.secret, issuer=ISSUER)
        assert again is not None
        assert again.seq == signed + 2
        assert (
            await checkpoints.checkpoint_if_due(session, secret=settings.secret, issuer=ISSUER)
            is None
        )


class TestTamperIsNamed:
    async def test_truncation(
        self, connection: AsyncConnection, settings: Settings, signed: int
    ) -> None:
        trusted = await keys(connection, settings)
        await lift_audit_guards(connection)
        await drop_from(connection, 1)
        result = await verify_chain(connection, keys=trusted)
        assert result.first_broken_seq is None  # the walk alone sees an empty, intact trail
        assert not result.ok
        assert result.checkpoint_failures == (
            f"checkpoint {signed}: the trail ends at seq 0, below the checkpoint "
            "(truncated, or its last events dropped)",
        )

    async def test_dropping_the_last_events(
        self, connection: AsyncConnection, settings: Settings, signed: int
    ) -> None:
        trusted = await keys(connection, settings)
        await lift_audit_guards(connection)
        await drop_from(connection, signed - 1)
        result = await verify_chain(connection, keys=trusted)
        assert result.first_broken_seq is None
        assert result.checkpoint_failures == (
            f"checkpoint {signed}: the trail ends at seq {signed - 2}, below the checkpoint "
            "(truncated, or its last events dropped)",
        )

    async def test_a_range_rewritten_below_a_checkpoint(
        self, connection: AsyncConnection, settings: Settings, signed: int
    ) -> None:
        trusted = await keys(connection, settings)
        await lift_audit_guards(connection)
        await connection.execute(text("UPDATE audit_event SET reason = 'rewritten' WHERE seq = 3"))
        await rechain_from(connection, 3)
        result = await verify_chain(connection, keys=trusted)
        assert result.first_broken_seq is None  # a consistent chain: only the signature knows
        assert result.checkpoint_failures == (
            f"checkpoint {signed}: event {signed} does not have the signed hash "
            f"(the range up to seq {signed} was rewritten)",
        )

    async def test_a_forged_append_after_dropping_events(
        self, session: AsyncSession, connection: AsyncConnection, settings: Settings, signed: int
    ) -> None:
        # The last events below the checkpoint dropped and others appended in their place,
        # through the service's own code (a consistent chain, the head following it).
        trusted = await keys(connection, settings)
        await lift_audit_guards(connection)
        await drop_from(connection, signed - 1)
        await add_events(session, 4)
        await session.flush()
        result = await verify_chain(connection, keys=trusted)
        assert result.first_broken_seq is None
        assert result.checkpoint_failures == (
            f"checkpoint {signed}: event {signed} does not have the signed hash "
            f"(the range up to seq {signed} was rewritten)",
        )

    async def test_a_checkpoint_signed_with_another_key(
        self, connection: AsyncConnection, settings: Settings, signed: int
    ) -> None:
        trusted = await keys(connection, settings)
        forged = await _forged_checkpoint(connection, signed + 2, kid_of=next(iter(trusted)))
        result = await verify_chain(connection, keys=trusted)
        assert result.checkpoint_failures == (
            f"checkpoint {signed + 2}: forged signature (the signature does not verify)",
        )
        assert forged

    async def test_a_checkpoint_signed_by_a_key_planted_in_the_database(
        self, connection: AsyncConnection, settings: Settings, signed: int
    ) -> None:
        # Someone with the database but not the server secret adds a key row of their own:
        # the database's public keys would accept the signature, the authenticated ones not.
        planted = security.generate_signing_key("another secret, not the server's, 40 chars")
        await connection.execute(
            text(
                "INSERT INTO signing_key (kid, algorithm, encrypted_private_key, public_jwk, "
                "created_at) VALUES (:kid, 'RS256', :enc, :jwk, CURRENT_TIMESTAMP)"
            ),
            {
                "kid": planted.kid,
                "enc": planted.encrypted_private_key,
                "jwk": _json(planted.public_jwk),
            },
        )
        key = security.decrypt_signing_key(
            planted.kid,
            planted.encrypted_private_key,
            "another secret, not the server's, 40 chars",
        )
        await _insert_checkpoint(connection, key, signed + 2)
        assert planted.kid not in await keys(connection, settings)
        result = await verify_chain(connection, keys=await keys(connection, settings))
        assert result.checkpoint_failures == (
            f"checkpoint {signed + 2}: forged signature (signed with an unknown key "
            f"'{planted.kid}')",
        )

    async def test_a_checkpoint_row_altered_after_signing(
        self, connection: AsyncConnection, settings: Settings, signed: int
    ) -> None:
        trusted = await keys(connection, settings)
        await lift_audit_guards(connection)
        await connection.execute(text("UPDATE audit_checkpoint SET hash = :h"), {"h": "0" * 64})
        result = await verify_chain(connection, keys=trusted)
        assert result.checkpoint_failures == (
            f"checkpoint {signed}: the row differs from what its signature covers (seq {signed})",
        )


def _json(value: object) -> str:
    import json

    return json.dumps(value)


async def _insert_checkpoint(
    connection: AsyncConnection, key: security.SigningKey, seq: int
) -> str:
    digest = await connection.scalar(
        text("SELECT hash FROM audit_event WHERE seq = :s"), {"s": seq}
    )
    jws = security.sign_checkpoint(
        key, seq=seq, digest=str(digest), issuer=ISSUER, now=datetime.now(UTC)
    )
    await connection.execute(
        text(
            "INSERT INTO audit_checkpoint (seq, hash, jws, kid, created_at) "
            "VALUES (:seq, :hash, :jws, :kid, CURRENT_TIMESTAMP)"
        ),
        {"seq": seq, "hash": digest, "jws": jws, "kid": key.kid},
    )
    return jws


async def _forged_checkpoint(connection: AsyncConnection, seq: int, *, kid_of: str) -> str:
    """A checkpoint of the true head signed with a key of the forger's, under the real kid."""
    secret = "a forger's own secret of at least 32 chars"
    generated = security.generate_signing_key(secret)
    key = security.decrypt_signing_key(generated.kid, generated.encrypted_private_key, secret)
    return await _insert_checkpoint(
        connection, security.SigningKey(kid=kid_of, private_pem=key.private_pem), seq
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_periodic_task_signs_the_moving_head(backend: str, tmp_path: Path) -> None:
    async with own_database(backend, tmp_path) as (database, configured):
        async with database.session(write=True) as session:
            await add_events(session, 3)
        task = asyncio.create_task(
            checkpoints.run_periodic_checkpoints(
                database, interval_seconds=0.05, secret=configured.secret, issuer=ISSUER
            )
        )
        try:
            for _ in range(100):
                await asyncio.sleep(0.05)
                async with database.engine.connect() as conn:
                    found = (await conn.execute(text("SELECT seq FROM audit_checkpoint"))).all()
                if found:
                    break
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        # The first key was created on first use (its event is the 4th): the head it signed.
        assert [row[0] for row in found] == [4]
        async with database.engine.connect() as conn:
            result = await verify_chain(
                conn, keys=await trusted_keys(conn, secret=configured.secret)
            )
        assert result.ok, result


async def test_workers_do_not_sign_the_same_head_twice(postgres_scratch: Any) -> None:
    """While one worker holds the checkpoint lock, another skips instead of signing."""
    database = postgres_scratch
    async with database.session(write=True) as session:
        await add_events(session, 2)
    async with database.session(write=True) as first:
        assert await audit_repo.checkpoint_lock(first, wait=False)
        async with database.session(write=True) as second:
            made = await checkpoints.checkpoint_if_due(second, secret="s" * 40, issuer=ISSUER)
            assert made is None
        # Once the first is done, the head is signed (by whoever comes next).
    async with database.session(write=True) as third:
        made = await checkpoints.checkpoint_if_due(third, secret="s" * 40, issuer=ISSUER)
        assert made is not None


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_the_app_runs_the_periodic_task_while_it_serves(backend: str, tmp_path: Path) -> None:
    """create_app's lifespan starts the task every WECARE_AUDIT_CHECKPOINT_SECONDS and stops
    it on shutdown."""
    async with own_database(backend, tmp_path, audit_checkpoint_seconds=0.05) as (
        database,
        configured,
    ):
        async with database.session(write=True) as session:
            await add_events(session, 2)
        app = create_app(configured, database)
        async with app.router.lifespan_context(app):
            for _ in range(100):
                await asyncio.sleep(0.05)
                async with database.engine.connect() as conn:
                    signed = await conn.scalar(text("SELECT max(seq) FROM audit_checkpoint"))
                if signed is not None:
                    break
        assert signed == 3  # the two events and the first key's creation
        tasks = [t for t in asyncio.all_tasks() if "run_periodic_checkpoints" in repr(t)]
        assert all(t.done() for t in tasks)
