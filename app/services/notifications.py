"""Each account's e-mail notification preferences: the kinds it receives, and which it
refused. Legally required kinds (app/services/email_events.py: decisions on the
application, the grant and its revocation) are always sent and cannot be refused."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.errors import Forbidden, InvalidInput
from app.core.i18n import msg
from app.core.notices import LEGALLY_REQUIRED, RECIPIENTS, NoticeKind
from app.models.auth import UserAccount
from app.repositories import notifications as repo
from app.schemas.notification import (
    NotificationPreferenceRead,
    NotificationPreferencesRead,
    NotificationPreferencesUpdate,
)
from app.services import audit
from app.services.lookup import load


def _own_account(principal: Principal) -> uuid.UUID:
    if principal.kind != "user" or principal.id is None:
        raise Forbidden(msg("Client tokens have no user account, and receive no e-mail."))
    return principal.id


def _read(user: UserAccount, opted_out: list[str]) -> NotificationPreferencesRead:
    refused = set(opted_out)
    return NotificationPreferencesRead(
        language=user.language,  # type: ignore[arg-type]  # the CHECK constraint's values
        preferences=[
            NotificationPreferenceRead(
                kind=kind,
                recipients=RECIPIENTS[kind],  # type: ignore[arg-type]
                enabled=kind in LEGALLY_REQUIRED or kind not in refused,
                legally_required=kind in LEGALLY_REQUIRED,
            )
            for kind in NoticeKind
        ],
    )


async def get_preferences(
    session: AsyncSession, principal: Principal
) -> NotificationPreferencesRead:
    """The caller's preferences: every kind, whether it is sent to them, and the language."""
    user_id = _own_account(principal)
    user = await load(session, UserAccount, user_id, "user")
    return _read(user, await repo.opted_out_kinds(session, user_id))


async def update_preferences(
    session: AsyncSession, principal: Principal, data: NotificationPreferencesUpdate
) -> NotificationPreferencesRead:
    """Replace the kinds the caller refuses (one audit event); a legally required kind is
    refused with 422 and nothing changes."""
    user_id = _own_account(principal)
    required = sorted(kind for kind in data.opted_out if kind in LEGALLY_REQUIRED)
    if required:
        raise InvalidInput(
            msg(
                "{kinds} cannot be turned off: the law requires that the applicant be told "
                "of the decisions on its application and grant.",
                kinds=", ".join(required),
            ),
            field="opted_out",
            legally_required=required,
        )
    user = await load(session, UserAccount, user_id, "user")
    before = await repo.opted_out_kinds(session, user_id)
    after = sorted({str(kind) for kind in data.opted_out})
    await repo.replace_opt_outs(session, user_id=user_id, kinds=after, now=datetime.now(UTC))
    await audit.record(
        session,
        action="notification_preferences.update",
        entity_type="notification_preferences",
        entity_id=user_id,
        before={"opted_out": before},
        after={"opted_out": after},
    )
    return _read(user, after)
