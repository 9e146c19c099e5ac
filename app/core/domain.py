"""The vocabulary of the domain: enumerations shared by models, schemas and rules."""

from __future__ import annotations

from enum import StrEnum


class Fund(StrEnum):
    FSE = "FSE"  # European Social Fund
    FESR = "FESR"  # European Regional Development Fund


class LegalNature(StrEnum):
    MUNICIPALITY = "municipality"  # Comune
    UNION_OF_MUNICIPALITIES = "union_of_municipalities"  # Unione di comuni
    HEALTH_AUTHORITY = "health_authority"  # ASL / ASO
    SOCIAL_SERVICES_BODY = "social_services_body"  # Ente gestore delle funzioni socio-assistenziali
    OTHER_PUBLIC_BODY = "other_public_body"
    THIRD_SECTOR_ORGANISATION = "third_sector_organisation"  # Ente del Terzo Settore
    VOLUNTEER_ORGANISATION = "volunteer_organisation"  # Organizzazione di volontariato
    SOCIAL_ENTERPRISE = "social_enterprise"  # Impresa sociale, cooperativa sociale
    ENTERPRISE = "enterprise"
    FOUNDATION = "foundation"


class SizeClass(StrEnum):
    """EU SME definition (Recommendation 2003/361/EC)."""

    MICRO = "micro"
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class ProfitStatus(StrEnum):
    PROFIT = "profit"
    NON_PROFIT = "non_profit"


class PiemonteProvince(StrEnum):
    AL = "AL"
    AT = "AT"
    BI = "BI"
    CN = "CN"
    NO = "NO"
    TO = "TO"
    VB = "VB"
    VC = "VC"


class ApplicantForm(StrEnum):
    ORGANISATION = "organisation"  # a single organisation applies
    PARTNERSHIP = "partnership"  # a partnership (ATS) applies through its lead


class PartnershipForm(StrEnum):
    ATS_FORMED = "ats_formed"  # Associazione temporanea di scopo, already constituted
    ATS_TO_BE_FORMED = "ats_to_be_formed"  # committed to constitute it if funded
    NETWORK = "network"  # other collaboration among organisations


class MemberRole(StrEnum):
    LEAD = "lead"  # capofila
    PARTNER = "partner"


class MemberStatus(StrEnum):
    """An organisation is a member once it has consented: until then it is only invited
    (it counts for no limit, freezes nothing and sees nothing but the invitation)."""

    INVITED = "invited"
    ACCEPTED = "accepted"


class CallStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"


class SelectionMethod(StrEnum):
    """How a call chooses what it funds (published with every grant, D.lgs. 33/2013 art. 27)."""

    EVALUATIVE = "evaluative"  # procedura valutativa a graduatoria
    FIRST_COME = "first_come"  # procedura a sportello
    NEGOTIATED = "negotiated"  # procedura negoziale


class ScoreCombination(StrEnum):
    """How the reviewers' totals of one application combine into its score."""

    MEAN = "mean"
    TRIMMED_MEAN = "trimmed_mean"  # the mean after dropping the highest and lowest (3 or more)


class TieBreakKind(StrEnum):
    """A rule that orders applications with equal scores (applied in the grid's order)."""

    CRITERION = "criterion"  # the higher score on the named criterion first
    EARLIER_SUBMISSION = "earlier_submission"  # the earlier submission first


class PhaseKind(StrEnum):
    SUBMISSION = "submission"  # single-stage calls
    PRELIMINARY = "preliminary"  # two-stage calls: preliminary project
    EXECUTIVE = "executive"  # two-stage calls: executive (definitive) project


class ApplicationStage(StrEnum):
    SINGLE = "single"
    PRELIMINARY = "preliminary"
    EXECUTIVE = "executive"


class ApplicationStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    ADMITTED = "admitted"  # preliminary project admitted to the executive stage
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class AllocationStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"


class PledgeStatus(StrEnum):
    ACTIVE = "active"
    WITHDRAWN = "withdrawn"


class RankingOutcome(StrEnum):
    """Where an application stands in its call's ranking."""

    FUNDABLE = "fundable"  # fits what is left of the call's budget, in rank order
    ELIGIBLE_NOT_FUNDED = "eligible_not_funded"  # passes the thresholds; the money ran out
    BELOW_THRESHOLD = "below_threshold"  # a criterion's minimum or the minimum total failed


class PaymentKind(StrEnum):
    """What a payment (erogazione) is: an advance on the grant, an interim payment on verified
    expenditure, or the balance at completion."""

    ADVANCE = "advance"  # anticipo
    INTERIM = "interim"  # acconto / stato di avanzamento
    BALANCE = "balance"  # saldo


class ClaimStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"


class LineOutcome(StrEnum):
    """The first-level check of one line of an expenditure claim."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    CUT = "cut"  # accepted less an amount, with a reason
    REFUSED = "refused"  # nothing accepted, with a reason
