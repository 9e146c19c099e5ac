"""Which audit events become e-mails, to whom, and which of them may not be refused.

``audit.record`` asks :func:`outbox_row` for every event it appends: a dictionary look-up,
and for the few actions of interest one outbox row (channel ``email``) written with the
event (on PostgreSQL by the append's own statement), so the e-mail exists exactly when the
change commits. The worker
(app/services/email_worker.py) resolves the recipients and sends.

Notice kinds, who receives them, and whether the recipient may opt out:

==========================  ==========================  =============  ===================
notice kind                 audit action                recipients     opt-out
==========================  ==========================  =============  ===================
application_submitted       application.submit          applicant      yes (a receipt)
application_admitted        application.admit-          applicant      no: legally
                            preliminary                                required
application_approved        application.approve         applicant      no: legally required
application_rejected        application.reject,         applicant      no: legally required
                            application.reject-
                            preliminary
grant_awarded               allocation.grant            applicant      no: legally required
grant_revoked               allocation.revoke           applicant      no: legally required
claim_checked               claim_line.check            applicant      yes
payment_made                payment.create              applicant      yes
new_submission              application.submit          officers       yes
new_claim                   claim.submit                officers       yes
==========================  ==========================  =============  ===================

Legally required: the outcome of each step of the procedure that decides on the applicant's
request (admission, approval, rejection), the grant (it opens the time to accept it) and
its revocation (it opens a recovery). Italian administrative procedure (Law 241/1990,
articles 2, 3, 10-bis and 21-quinquies) requires that such decisions be communicated to
the party concerned; the region does not let an account refuse them. The others are
courtesy notices of things the applicant or officer can also read in the API.

"applicant": the active applicant accounts of the organisation that applied (for a
partnership, of its lead, the "capofila" through which it applies). "officers": every
active officer account (the region's officers share the programme's queue).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.core.notices import NoticeKind

EMAIL_CHANNEL = "email"


# Audit action -> the notices it gives.
NOTICES_OF_ACTION: dict[str, tuple[NoticeKind, ...]] = {
    "application.submit": (NoticeKind.APPLICATION_SUBMITTED, NoticeKind.NEW_SUBMISSION),
    "application.admit-preliminary": (NoticeKind.APPLICATION_ADMITTED,),
    "application.approve": (NoticeKind.APPLICATION_APPROVED,),
    "application.reject": (NoticeKind.APPLICATION_REJECTED,),
    "application.reject-preliminary": (NoticeKind.APPLICATION_REJECTED,),
    "allocation.grant": (NoticeKind.GRANT_AWARDED,),
    "allocation.revoke": (NoticeKind.GRANT_REVOKED,),
    "claim_line.check": (NoticeKind.CLAIM_CHECKED,),
    "payment.create": (NoticeKind.PAYMENT_MADE,),
    "claim.submit": (NoticeKind.NEW_CLAIM,),
}


def outbox_row(
    *, action: str, entity_type: str, entity_id: str, occurred_at: datetime
) -> dict[str, Any] | None:
    """The event's e-mail outbox row but its seq, if it gives a notice (a dictionary
    look-up for every other action): written with the event (app.services.audit). The row
    names the action; the worker finds the notices, the recipients and the figures when it
    takes the row."""
    if action not in NOTICES_OF_ACTION:
        return None
    return {
        "channel": EMAIL_CHANNEL,
        "kind": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "audience": None,
        "occurred_at": occurred_at,
    }
