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


class StateAidRegime(StrEnum):
    """Under which EU state-aid rules a measure funds undertakings (app.services.de_minimis)."""

    NONE = "none"  # no state aid (e.g. public bodies, non-economic activity)
    DE_MINIMIS = "de_minimis"  # capped per single undertaking over a period
    BLOCK_EXEMPTION = "block_exemption"  # GBER, Regulation (EU) 651/2014, one of its articles


class DeMinimisRegulation(StrEnum):
    """The de minimis regulation a call grants under: its ceiling and its period."""

    R1407_2013 = "1407/2013"  # EUR 200,000 over the fiscal year and the two previous ones
    R2023_2831 = "2023/2831"  # EUR 300,000 over any period of three years (from 2024)


class DeclarationKind(StrEnum):
    """What an organisation declares for the de minimis ceiling."""

    LINKED_UNDERTAKING = "linked_undertaking"  # one single undertaking with another
    OTHER_AID = "other_aid"  # de minimis aid from another granting body


class SelectionMethod(StrEnum):
    """How a call chooses what it funds (published with every grant, D.lgs. 33/2013 art. 27)."""

    RANKING = "ranking"  # procedura valutativa a graduatoria
    FIRST_COME = "first_come"  # procedura a sportello
    NEGOTIATED = "negotiated"  # procedura negoziale


class ClosedReason(StrEnum):
    """Why a first-come call takes no new submissions (app.models.call.Call.closed_reason)."""

    WAITING_LIST_FULL = "waiting_list_full"  # nothing fits and the list is at its length
    NOTHING_LEFT = "nothing_left"  # no list allowed (length 0) and the budget is taken


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


class Instrument(StrEnum):
    """How a measure supports a project: a grant, or a mixed instrument (part loan, part
    grant, from a revolving fund)."""

    GRANT = "grant"
    MIXED = "mixed"


class Amortisation(StrEnum):
    FRENCH = "french"  # constant instalment (annuity)
    ITALIAN = "italian"  # constant principal


class GracePayment(StrEnum):
    """What the borrower pays during the grace period."""

    INTEREST_ONLY = "interest_only"  # the interest on the whole loan, each period
    NOTHING = "nothing"  # nothing; no interest accrues either


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


class DocumentOwner(StrEnum):
    """What a document belongs to (issue 19). Call and ranking documents (decrees) are
    public; the others are seen as their owner is."""

    APPLICATION = "application"
    CLAIM = "claim"
    CALL = "call"
    RANKING = "ranking"


class IndicatorKind(StrEnum):
    """An indicator counts what a project delivers (output) or what changes (result)."""

    OUTPUT = "output"
    RESULT = "result"


class Accumulation(StrEnum):
    """How a project's periodic values add up: a cumulative value already includes the
    earlier periods (the latest counts); a per-period value is the period's own (they sum)."""

    CUMULATIVE = "cumulative"
    PER_PERIOD = "per_period"


class ReportStatus(StrEnum):
    """The officer's check of one version of a monitoring report."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    RETURNED = "returned"  # with a reason; the beneficiary files a new version


class NarrativeLanguage(StrEnum):
    IT = "it"
    EN = "en"
