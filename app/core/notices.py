"""The kinds of e-mail notice, who receives each, and which may not be refused.

The table, the triggers and the legal reasoning: app/services/email_events.py.
"""

from __future__ import annotations

from enum import StrEnum


class NoticeKind(StrEnum):
    APPLICATION_SUBMITTED = "application_submitted"
    APPLICATION_ADMITTED = "application_admitted"
    APPLICATION_APPROVED = "application_approved"
    APPLICATION_REJECTED = "application_rejected"
    GRANT_AWARDED = "grant_awarded"
    GRANT_REVOKED = "grant_revoked"
    CLAIM_CHECKED = "claim_checked"
    PAYMENT_MADE = "payment_made"
    NEW_SUBMISSION = "new_submission"
    NEW_CLAIM = "new_claim"


APPLICANT = "applicant"
OFFICERS = "officers"

# Who receives each kind.
RECIPIENTS: dict[NoticeKind, str] = {
    NoticeKind.APPLICATION_SUBMITTED: APPLICANT,
    NoticeKind.APPLICATION_ADMITTED: APPLICANT,
    NoticeKind.APPLICATION_APPROVED: APPLICANT,
    NoticeKind.APPLICATION_REJECTED: APPLICANT,
    NoticeKind.GRANT_AWARDED: APPLICANT,
    NoticeKind.GRANT_REVOKED: APPLICANT,
    NoticeKind.CLAIM_CHECKED: APPLICANT,
    NoticeKind.PAYMENT_MADE: APPLICANT,
    NoticeKind.NEW_SUBMISSION: OFFICERS,
    NoticeKind.NEW_CLAIM: OFFICERS,
}

# Decisions on the applicant's request: the account cannot opt out (module docstring).
LEGALLY_REQUIRED: frozenset[NoticeKind] = frozenset(
    {
        NoticeKind.APPLICATION_ADMITTED,
        NoticeKind.APPLICATION_APPROVED,
        NoticeKind.APPLICATION_REJECTED,
        NoticeKind.GRANT_AWARDED,
        NoticeKind.GRANT_REVOKED,
    }
)
