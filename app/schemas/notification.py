"""Notification preferences: what an account receives by e-mail, and what it refused."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from app.core.notices import LEGALLY_REQUIRED, NoticeKind

Language = Literal["it", "en"]
# The kinds an account may refuse, as the document lists them (the service refuses the
# others with 422, the way app.schemas.auth documents a client's grantable scopes).
_REFUSABLE: list[JsonValue] = [str(k) for k in NoticeKind if k not in LEGALLY_REQUIRED]


class NotificationPreferenceRead(BaseModel):
    kind: NoticeKind
    recipients: Literal["applicant", "officers"] = Field(
        description="applicant: the applying organisation's users; officers: the region's."
    )
    enabled: bool
    legally_required: bool = Field(
        description="A decision on the application, the grant or its revocation: always sent."
    )


class NotificationPreferencesRead(BaseModel):
    language: Language = Field(description="The language of the e-mails (the account's).")
    preferences: list[NotificationPreferenceRead]


class NotificationPreferencesUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"opted_out": ["payment_made", "claim_checked"]}]},
    )
    opted_out: list[NoticeKind] = Field(
        max_length=len(NoticeKind),
        description="The kinds not to receive (replaces the list); a legally required kind "
        "is refused (422).",
        json_schema_extra={"items": {"type": "string", "enum": _REFUSABLE}},
    )
