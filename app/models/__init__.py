"""Every model module is imported here so that Alembic sees all tables."""

from app.models.allocation import Allocation
from app.models.application import Application
from app.models.audit import AuditCheckpoint, AuditEvent, AuditHead
from app.models.auth import (
    ClientAuthFailure,
    LoginFailure,
    OAuthClient,
    RefreshToken,
    RevokedToken,
    SigningKeyRow,
    UserAccount,
    UserMembership,
)
from app.models.call import Call, CallParticipationLimit, CallPhase
from app.models.district import District
from app.models.document import Document, DocumentKind, DocumentRetention
from app.models.idempotency import IdempotencyKey
from app.models.indicator import (
    Indicator,
    IndicatorTargets,
    MonitoringReport,
    MonitoringTerms,
    ProjectSchedule,
)
from app.models.loan import Loan, LoanInstalment, LoanRepayment
from app.models.notification import EmailDelivery, NotificationOptOut
from app.models.organisation import Organisation, Partnership, PartnershipMember
from app.models.payment import (
    ClaimLine,
    ExpenditureClaim,
    Payment,
    PaymentTerms,
    Recovery,
    RecoveryReceipt,
)
from app.models.pledge import Pledge
from app.models.programme import Measure, MeasureLine, MeasurePhase, Programme, ThematicArea
from app.models.ranking import Ranking, RankingEntry
from app.models.review import Review
from app.models.scoring import ReviewScore, ScoringCriterion, ScoringGrid
from app.models.state_aid import StateAidDeclaration
from app.models.webhook import OutboxMessage, WebhookAttempt, WebhookDelivery, WebhookSubscription

__all__ = [
    "Allocation",
    "Application",
    "AuditCheckpoint",
    "AuditEvent",
    "AuditHead",
    "Call",
    "CallParticipationLimit",
    "CallPhase",
    "ClaimLine",
    "ClientAuthFailure",
    "District",
    "Document",
    "DocumentKind",
    "DocumentRetention",
    "EmailDelivery",
    "ExpenditureClaim",
    "IdempotencyKey",
    "Indicator",
    "IndicatorTargets",
    "Loan",
    "LoanInstalment",
    "LoanRepayment",
    "LoginFailure",
    "Measure",
    "MeasureLine",
    "MeasurePhase",
    "MonitoringReport",
    "MonitoringTerms",
    "NotificationOptOut",
    "OAuthClient",
    "Organisation",
    "OutboxMessage",
    "Partnership",
    "PartnershipMember",
    "Payment",
    "PaymentTerms",
    "Pledge",
    "Programme",
    "ProjectSchedule",
    "Ranking",
    "RankingEntry",
    "Recovery",
    "RecoveryReceipt",
    "RefreshToken",
    "Review",
    "ReviewScore",
    "RevokedToken",
    "ScoringCriterion",
    "ScoringGrid",
    "SigningKeyRow",
    "StateAidDeclaration",
    "ThematicArea",
    "UserAccount",
    "UserMembership",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookSubscription",
]
