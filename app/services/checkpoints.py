"""Signed checkpoints of the audit chain: its head (sequence number and hash) signed with
the token signing key, on demand and periodically.

A checkpoint is public and verifiable offline with the JWKS. Whoever can write to the
database but does not hold the signing key (encrypted with the server secret) cannot
rewrite or cut the trail below a checkpoint without ``wecare audit verify`` naming it.

On-demand checkpoints (``wecare audit checkpoint``, ``POST /api/v1/audit/checkpoints``) are
audited like every action. Periodic ones are not: an event recording a checkpoint lies
beyond it, so a periodic task that audited itself would never find the trail quiet, and
the checkpoint table is itself an append-only, public record.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.errors import NotFound
from app.core.i18n import msg
from app.core.security import sign_checkpoint
from app.db.session import Database
from app.models.audit import AuditCheckpoint
from app.repositories import audit as repo
from app.schemas.audit import AuditCheckpointQuery, AuditCheckpointRead
from app.schemas.page import Page
from app.services import audit, keys
from app.services.paging import SortKey

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Checkpointed:
    checkpoint: AuditCheckpoint
    created: bool  # False: the head was already checkpointed, nothing was written


async def _sign_head(session: AsyncSession, *, secret: str, issuer: str) -> AuditCheckpoint:
    # The key first: creating the very first key records an event, which moves the head.
    key = await keys.current_signing_key(session, secret=secret)
    seq, digest = await repo.current_head(session)
    existing = await repo.get_checkpoint(session, seq)
    if existing is not None:
        return existing
    now = datetime.now(UTC)
    checkpoint = AuditCheckpoint(
        seq=seq,
        hash=digest,
        jws=sign_checkpoint(key, seq=seq, digest=digest, issuer=issuer, now=now),
        kid=key.kid,
        created_at=now,
    )
    session.add(checkpoint)
    await session.flush()
    return checkpoint


async def create_checkpoint(session: AsyncSession, *, secret: str, issuer: str) -> Checkpointed:
    """Sign the chain's head now (audited); a head already signed returns its checkpoint."""
    await repo.checkpoint_lock(session, wait=True)
    seq, _ = await repo.current_head(session)
    existing = await repo.get_checkpoint(session, seq)
    if existing is not None:
        return Checkpointed(existing, created=False)
    checkpoint = await _sign_head(session, secret=secret, issuer=issuer)
    await audit.record(
        session,
        action="audit_checkpoint.create",
        entity_type="audit_checkpoint",
        entity_id=checkpoint.seq,
        after=audit.snapshot(checkpoint),
    )
    return Checkpointed(checkpoint, created=True)


async def checkpoint_if_due(
    session: AsyncSession, *, secret: str, issuer: str
) -> AuditCheckpoint | None:
    """The periodic checkpoint: sign the head unless it is already signed, the trail is
    empty, or another worker is signing right now (then it is not needed twice)."""
    if not await repo.checkpoint_lock(session, wait=False):
        return None
    seq, _ = await repo.current_head(session)
    newest = await repo.newest_checkpoint(session)
    if seq == 0 or (newest is not None and newest.seq >= seq):
        return None
    return await _sign_head(session, secret=secret, issuer=issuer)


async def run_periodic_checkpoints(
    database: Database, *, interval_seconds: float, secret: str, issuer: str
) -> None:
    """Every ``interval_seconds``, a checkpoint if the trail moved (runs until cancelled)."""
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            async with database.session(write=True) as session:
                made = await checkpoint_if_due(session, secret=secret, issuer=issuer)
            if made is not None:
                log.info("audit checkpoint signed at seq %s", made.seq)
        except Exception:
            # A database that is down now may be up at the next tick; the server stays up.
            log.exception("periodic audit checkpoint failed")


@dataclass(frozen=True)
class AuditFigures:
    """What the metrics report of the trail: its length, and its newest checkpoint."""

    chain_length: int  # the head's sequence number: events are numbered from 1
    checkpoint_seq: int | None
    checkpoint_at: datetime | None

    def checkpoint_age_seconds(self, now: datetime) -> float | None:
        return None if self.checkpoint_at is None else (now - self.checkpoint_at).total_seconds()


async def audit_figures(session: AsyncSession) -> AuditFigures:
    """Read at every scrape: two indexed single-row reads (the head, the newest checkpoint)."""
    seq, _ = await repo.current_head(session)
    newest = await repo.newest_checkpoint(session)
    return AuditFigures(
        chain_length=seq,
        checkpoint_seq=newest.seq if newest is not None else None,
        checkpoint_at=newest.created_at if newest is not None else None,
    )


CHECKPOINT_ORDER = SortKey[AuditCheckpoint](AuditCheckpoint.seq)


async def list_audit_checkpoints(
    session: AsyncSession, principal: Principal, query: AuditCheckpointQuery
) -> Page[AuditCheckpointRead]:
    """The signed checkpoints, oldest first. Public."""
    rows = partial(repo.page_checkpoints, session)
    return await CHECKPOINT_ORDER.page_of(query, rows, AuditCheckpointRead.model_validate)


async def get_latest_audit_checkpoint(
    session: AsyncSession, principal: Principal
) -> AuditCheckpointRead:
    """The newest signed checkpoint. Public."""
    found = await repo.newest_checkpoint(session)
    if found is None:
        raise NotFound(msg("No checkpoint of the audit chain has been signed yet."))
    return AuditCheckpointRead.model_validate(found)


async def create_audit_checkpoint(
    session: AsyncSession, principal: Principal, *, secret: str, issuer: str
) -> tuple[AuditCheckpointRead, bool]:
    """:func:`create_checkpoint` as the API shows it: the checkpoint, and whether it was
    signed now (False: the head was already signed)."""
    made = await create_checkpoint(session, secret=secret, issuer=issuer)
    return AuditCheckpointRead.model_validate(made.checkpoint), made.created
