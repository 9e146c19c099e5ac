"""Domain errors: what went wrong in the programme's terms. Nothing here knows HTTP.

Each subclass carries a stable ``rule`` (the problem type's slug), the HTTP-neutral
``status`` a transport should use, and the figures that explain the refusal. ``title`` is
marked with ``N_`` and a raise site's detail is a ``msg(...)`` (app.core.i18n): both are
English in the code and translated when the problem is rendered.
"""

from __future__ import annotations

from typing import ClassVar

from app.core.i18n import N_


class DomainError(Exception):
    """Base of every refusal the service can explain to its caller."""

    status: ClassVar[int] = 422
    rule: ClassVar[str] = "domain_error"
    title: ClassVar[str] = N_("The request breaks a rule of the programme")

    def __init__(self, detail: str, **figures: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.figures = figures


class RetryLater(DomainError):
    """A refusal that may pass later: the transport says when (``Retry-After``)."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = retry_after


class NotFound(DomainError):
    status = 404
    rule = "not_found"
    title = N_("Resource not found")


class Conflict(DomainError):
    status = 409
    rule = "conflict"
    title = N_("The request conflicts with the current state")


class InvalidInput(DomainError):
    status = 422
    rule = "invalid_input"
    title = N_("The request is not valid")


class NotReady(DomainError):
    status = 503
    rule = "not_ready"
    title = N_("The service is not ready")


class DatabaseUnavailable(RetryLater):
    """The database is unreachable, out of connections, or a lock or statement timed out:
    the request was rolled back (unless the connection was lost during the commit itself, whose
    outcome nobody can know), and the same request may succeed after ``retry_after`` seconds;
    a change retried with its Idempotency-Key or If-Match is never applied twice."""

    status = 503
    rule = "database_unavailable"
    title = N_("The database is temporarily unavailable")


class SigningKeyUnavailable(RetryLater):
    """The active signing key does not decrypt with the configured WECARE_SECRET_KEY (the
    secret was changed without a key rotation): nothing can be signed until an operator
    rotates the keys or restores the secret. /readyz reports the same."""

    status = 503
    rule = "signing_key_unavailable"
    title = N_("The service cannot sign tokens at the moment")


class ProgrammeMeasuresBudgetExceeded(DomainError):
    """Rule 1: the measures' budgets together never exceed the programme total."""

    status = 409
    rule = "programme_measures_budget_cap"
    title = N_("The measures' budgets would exceed the programme total")


class MeasureCallsBudgetExceeded(DomainError):
    """Rule 2: the calls' budget shares together never exceed their measure's budget."""

    status = 409
    rule = "measure_calls_budget_cap"
    title = N_("The calls' budget shares would exceed the measure's budget")


class ProgrammeBudgetExceeded(DomainError):
    """Rule 2: active allocations never exceed the programme total."""

    status = 409
    rule = "programme_budget_cap"
    title = N_("The allocation would exceed the programme's total")


class MeasureBudgetExceeded(DomainError):
    """Rule 2: active allocations of a measure never exceed its budget."""

    status = 409
    rule = "measure_budget_cap"
    title = N_("The allocation would exceed the measure's budget")


class CallBudgetExceeded(DomainError):
    """Rule 2: active allocations of a call never exceed its budget share."""

    status = 409
    rule = "call_budget_cap"
    title = N_("The allocation would exceed the call's budget share")


class MeasureProjectCapReached(DomainError):
    """Rule 3: at most N funded projects in the measure (FSE1: 30)."""

    status = 409
    rule = "measure_project_cap"
    title = N_("The measure has funded its maximum number of projects")


class DistrictAlreadyFunded(DomainError):
    """Rule 3: at most one funded project per district where the measure says so."""

    status = 409
    rule = "district_already_funded"
    title = N_("A project of this district is already funded")


class DistrictAlreadyApplied(DomainError):
    """Rule 3: at most one live application per district where the measure says so."""

    status = 409
    rule = "district_live_application"
    title = N_("The district already has a live application")


class AllocationAlreadyActive(DomainError):
    """Rule 6: an application has at most one active allocation."""

    status = 409
    rule = "one_active_allocation"
    title = N_("The application already has an active allocation")


class AllocationExceedsRequest(DomainError):
    """Rule 6: an allocation never exceeds the amount requested."""

    status = 422
    rule = "allocation_exceeds_request"
    title = N_("The allocation exceeds the amount requested")


class ParticipationLimitReached(DomainError):
    """Per-call limit: an organisation of a kind may join at most N projects of the call."""

    status = 409
    rule = "participation_limit"
    title = N_("An organisation has reached its participation limit in this call")


class OrganisationExists(DomainError):
    status = 409
    rule = "organisation_exists"
    title = N_("An organisation with this tax code or VAT number already exists")


class OrganisationInLiveApplication(DomainError):
    """Eligibility is judged at submission from the organisation's nature, size and place:
    they stay as judged while an application of the organisation is live."""

    status = 409
    rule = "organisation_in_live_application"
    title = N_("The organisation's eligibility details are frozen while it has a live application")


class PartnershipMemberNotAccepted(DomainError):
    """A partnership applies only with members that have consented: an invited organisation
    must accept (or be removed) before a submission."""

    status = 409
    rule = "partnership_member_not_accepted"
    title = N_("A member of the partnership has not accepted its invitation")


class BudgetBelowAllocated(DomainError):
    status = 409
    rule = "budget_below_allocated"
    title = N_("A budget cannot be lowered below what is already allocated")


class Ineligible(DomainError):
    """Rules 4 and 5: the applicant or the project is not eligible for the measure or line.

    ``violations`` lists every failed condition with its own rule slug.
    """

    status = 422
    rule = "eligibility"
    title = N_("The applicant or project is not eligible")


class InvalidReferenceData(DomainError):
    status = 422
    rule = "invalid_reference_data"
    title = N_("The reference-data file is not valid")


class Unauthenticated(DomainError):
    """No valid credentials. ``error`` is the RFC 6750 code (``invalid_token`` or empty)."""

    status = 401
    rule = "unauthenticated"
    title = N_("Authentication required")

    def __init__(self, detail: str, *, error: str | None = None, **figures: object) -> None:
        super().__init__(detail, **({"error": error} if error else {}), **figures)
        self.error = error


class RefreshTokenReplayed(Unauthenticated):
    """A rotated refresh token came back: its family is revoked, and that must be kept."""


class InsufficientScope(DomainError):
    status = 403
    rule = "insufficient_scope"
    title = N_("The access token lacks a required scope")

    def __init__(self, detail: str, *, required: list[str]) -> None:
        super().__init__(detail, error="insufficient_scope", required_scopes=required)
        self.required = required


class Forbidden(DomainError):
    status = 403
    rule = "forbidden"
    title = N_("Not allowed")


class InvalidCredentials(DomainError):
    status = 401
    rule = "invalid_credentials"
    title = N_("Wrong e-mail or password")


class WrongPassword(InvalidCredentials):
    """The current password given with a password change is wrong (a credential check:
    counted and answered late as a failed login is; 403, the caller's token being valid)."""

    status = 403
    rule = "wrong_password"
    title = N_("The current password is wrong")


class PasswordChangeRequired(DomainError):
    """The account logged in with a password someone else knows (the first administrator's
    one-time password): its token allows only the change of that password."""

    status = 403
    rule = "password_change_required"
    title = N_("The password must be changed first")


class TooManyLoginAttempts(RetryLater):
    status = 429
    rule = "too_many_login_attempts"
    title = N_("Too many failed logins")


class TooManyClientAuthFailures(RetryLater):
    """Failed client authentications from one address, at the OAuth endpoints."""

    status = 429
    rule = "too_many_client_auth_failures"
    title = N_("Too many failed client authentications from this address")


class PasswordHashingBusy(RetryLater):
    """Every password-hashing slot of the worker is taken: come back shortly."""

    status = 503
    rule = "password_hashing_busy"
    title = N_("Too many password checks in progress")


class PreconditionRequired(DomainError):
    status = 428
    rule = "precondition_required"
    title = N_("If-Match is required")


class PreconditionFailed(DomainError):
    status = 412
    rule = "precondition_failed"
    title = N_("The resource changed since you read it")


class IdempotencyKeyReused(DomainError):
    status = 422
    rule = "idempotency_key_reused"
    title = N_("This Idempotency-Key was used with another request")


class IdempotencyRequestInFlight(RetryLater):
    status = 409
    rule = "idempotency_request_in_flight"
    title = N_("A request with this Idempotency-Key is still being processed")


class IllegalTransition(DomainError):
    """A lifecycle action that the resource's current state does not allow."""

    status = 409
    rule = "illegal_transition"
    title = N_("The action is not allowed in the current state")


class FirstComeCallClosed(DomainError):
    """A first-come call whose budget is taken and whose waiting list is full takes no more
    submissions (app.services.first_come)."""

    status = 409
    rule = "first_come_call_closed"
    title = N_("The first-come call's budget is taken and its waiting list is full")


class StillWaiting(DomainError):
    """An application on a first-come call's waiting list holds nothing to grant from."""

    status = 409
    rule = "first_come_still_waiting"
    title = N_("The application is still on the call's waiting list")


class NotFirstCome(DomainError):
    """A waiting list belongs to a first-come call: the call's selection method decides."""

    status = 409
    rule = "not_a_first_come_call"
    title = N_("Only a first-come call has a waiting list")


class CallNotOpen(DomainError):
    status = 409
    rule = "call_not_open"
    title = N_("The call is not accepting submissions now")


class NotAReviewer(DomainError):
    status = 422
    rule = "not_a_reviewer"
    title = N_("Only an active user with the reviewer role can review")


class ReviewerAlreadyAssigned(DomainError):
    status = 409
    rule = "reviewer_already_assigned"
    title = N_("The reviewer is already assigned to this application")


class ApplicationNotInReview(DomainError):
    """Reviewers are assigned to submitted applications and score them while under review."""

    status = 409
    rule = "application_not_in_review"
    title = N_("The application is not at a stage where it can be reviewed")


class ReviewAlreadyScored(DomainError):
    status = 409
    rule = "review_already_scored"
    title = N_("A scored review stays on the record")


class ReviewersComplete(DomainError):
    """An application has as many reviewers as its call's grid asks for."""

    status = 409
    rule = "reviewers_per_application_reached"
    title = N_("The application has all the reviewers its grid asks for")


class ScoringGridLocked(DomainError):
    """A call's grid is frozen by the first score given on it."""

    status = 409
    rule = "scoring_grid_locked"
    title = N_("The scoring grid is locked by the first score")


class ScoringGridUnavailable(DomainError):
    """Scores go on a complete grid: the call has none, or figures of it are still unknown."""

    status = 409
    rule = "scoring_grid_unavailable"
    title = N_("The call has no complete scoring grid")


class ScoreOutOfRange(DomainError):
    status = 422
    rule = "score_out_of_range"
    title = N_("A score is outside its criterion's range")


class ConflictNotDeclared(DomainError):
    """A reviewer declares no conflict of interest with the application before scoring it."""

    status = 409
    rule = "conflict_of_interest_not_declared"
    title = N_("The reviewer has not declared the absence of conflicts of interest")


class ReviewerConflictOfInterest(DomainError):
    """A reviewer who is a user of an organisation in the application cannot review it."""

    status = 409
    rule = "reviewer_conflict_of_interest"
    title = N_("The reviewer belongs to an organisation in the application")


class NotAFoundation(DomainError):
    status = 422
    rule = "pledger_not_a_foundation"
    title = N_("Only a foundation can pledge co-funding")


class ReasonRequired(DomainError):
    """A change that must say why, in the audit trail (``field`` names where to write it)."""

    status = 422
    rule = "reason_required"
    title = N_("This change needs a reason")


class CallNotOpenForPledges(DomainError):
    """Pledges go to calls that are published and not closed (``call_status`` says which)."""

    status = 409
    rule = "call_not_open_for_pledges"
    title = N_("The call does not take pledges in its current status")


class RankingNotReady(DomainError):
    """A ranking is published once every application under review has all its scores."""

    status = 409
    rule = "ranking_not_ready"
    title = N_("Applications still await their reviewers' scores")


class RankingPublishedMeanwhile(DomainError):
    """Another publication of the call's ranking took this version number first."""

    status = 409
    rule = "ranking_published_meanwhile"
    title = N_("Another version of the ranking was published meanwhile")


class RankingReplaced(DomainError):
    """Grants follow the call's latest published ranking: an older, replaced version is
    never granted from."""

    status = 409
    rule = "ranking_replaced"
    title = N_("A newer version of the ranking replaces this one")


class RankingImmutable(DomainError):
    """A published ranking is never changed; a correction is a new version."""

    status = 409
    rule = "ranking_published_immutable"
    title = N_("A published ranking cannot change")


class CupTaken(DomainError):
    """A CUP identifies one project: one active allocation carries it."""

    status = 409
    rule = "cup_taken"
    title = N_("Another active allocation already carries this CUP")


class RnaCorTaken(DomainError):
    """The RNA gives each concession its own COR code."""

    status = 409
    rule = "rna_cor_taken"
    title = N_("Another allocation already carries this RNA concession code")


class CupRequired(DomainError):
    """L. 3/2003 art. 11: an act funding a public-investment project without its CUP is
    null, so nothing is paid on an allocation until its CUP is recorded."""

    status = 409
    rule = "cup_required"
    title = N_("A CUP is required before the first payment")


class DeMinimisCeilingExceeded(DomainError):
    """De minimis: the single undertaking's aid over the regulation's period stays within
    its ceiling (Regulation (EU) 1407/2013 art. 3(2), 2023/2831 art. 3(2))."""

    status = 409
    rule = "de_minimis_ceiling"
    title = N_("The grant would take the undertaking's de minimis aid over its ceiling")


class DeMinimisRegulationUnset(DomainError):
    """A de minimis measure's call must say which regulation (ceiling, period) applies."""

    status = 409
    rule = "de_minimis_regulation_unset"
    title = N_("The call does not say which de minimis regulation applies")


class MixedTermsNotSet(DomainError):
    """A mixed grant needs every term of its measure's instrument (share, rate, term, grace,
    frequency, amortisation); ``missing`` names those still not given."""

    status = 409
    rule = "mixed_terms_not_set"
    title = N_("The measure's mixed-instrument terms are not all set")


class NotMixedInstrument(DomainError):
    """Loan terms belong to a measure whose instrument is mixed."""

    status = 409
    rule = "not_mixed_instrument"
    title = N_("The measure's instrument is not mixed")


class RepaymentExceedsInstalment(DomainError):
    """A repayment never takes an instalment above what it asks (so the loan's repaid
    principal never exceeds what was lent)."""

    status = 409
    rule = "repayment_exceeds_instalment"
    title = N_("The repayment is more than the instalment has left to pay")


class RepaymentDateOutOfRange(DomainError):
    """A repayment's value date falls between its loan's start and today (Europe/Rome)."""

    status = 422
    rule = "repayment_date_out_of_range"
    title = N_("The repayment's date is before the loan or in the future")


class LoanRepaidInPart(DomainError):
    """A loan that has received repayments is not revoked here (a recovery is)."""

    status = 409
    rule = "loan_repaid_in_part"
    title = N_("The allocation's loan has received repayments")


# Issue 16: acceptance, expenditure claims, first-level checks and payments.


class NotAccepted(DomainError):
    """Nothing is paid, claimed or checked on a grant its beneficiary has not accepted."""

    status = 409
    rule = "allocation_not_accepted"
    title = N_("The beneficiary has not accepted the grant")


class AlreadyAccepted(DomainError):
    status = 409
    rule = "allocation_already_accepted"
    title = N_("The grant is already accepted")


class AcceptanceDeadlinePassed(DomainError):
    """A grant not accepted by its deadline lapses; a late acceptance is refused."""

    status = 409
    rule = "acceptance_deadline_passed"
    title = N_("The deadline to accept the grant has passed")


class PaymentTermsNotGiven(DomainError):
    """The measure's payment rule for this kind of payment is not given by the source and
    the region has not set it: nothing of that kind is paid until it is."""

    status = 409
    rule = "payment_terms_not_given"
    title = N_("The payment rule is not set for this measure")


class GuaranteeRequired(DomainError):
    status = 409
    rule = "guarantee_required"
    title = N_("The call requires a guarantee before the advance")


class AdvanceShareExceeded(DomainError):
    status = 409
    rule = "advance_share_cap"
    title = N_("The advances would exceed their share of the grant")


class PaidBeyondVerified(DomainError):
    """Paid never exceeds the verified expenditure plus the advances paid; a balance
    settles at the verified expenditure."""

    status = 409
    rule = "paid_within_verified"
    title = N_("The payment exceeds the verified expenditure")


class PaidBeyondGrant(DomainError):
    status = 409
    rule = "paid_within_grant"
    title = N_("The payments would exceed the grant")


class RetentionWithheld(DomainError):
    """Before the balance, the measure's retention share of the grant stays unpaid."""

    status = 409
    rule = "retention_withheld"
    title = N_("The retention is paid only with the balance")


class FundingCompleted(DomainError):
    status = 409
    rule = "funding_completed"
    title = N_("The balance is paid: the project is closed")


class SegregationOfDuties(DomainError):
    """An officer who checked a line of a claim of the grant does not authorise its
    payments on verified expenditure, and one who authorised one does not check its lines."""

    status = 403
    rule = "segregation_of_duties"
    title = N_("The same officer may not check the expenditure and authorise its payment")


class ClaimNotDraft(DomainError):
    """A submitted claim never changes."""

    status = 409
    rule = "claim_not_draft"
    title = N_("The claim is submitted and cannot change")


class ClaimNotSubmitted(DomainError):
    status = 409
    rule = "claim_not_submitted"
    title = N_("Only a submitted claim is checked")


class LineAlreadyChecked(DomainError):
    status = 409
    rule = "line_already_checked"
    title = N_("The line has already been checked")


class OutsideProjectPeriod(DomainError):
    status = 422
    rule = "outside_project_period"
    title = N_("The date is outside the project's period")


class DateOutOfRange(DomainError):
    """An acceptance is dated between the grant and today, a payment between the
    acceptance and today."""

    status = 422
    rule = "date_out_of_range"
    title = N_("The date is outside what the record allows")


class CutNotBelowAmount(DomainError):
    """A cut removes part of a line; removing all of it is a refusal."""

    status = 422
    rule = "cut_not_below_amount"
    title = N_("A cut must be less than the line's amount")


class UnknownCostCategory(DomainError):
    status = 422
    rule = "unknown_cost_category"
    title = N_("The cost category is not one of the measure's")


class ReductionNotBelowGrant(DomainError):
    """A partial revocation leaves the grant more than nothing and less than it was."""

    status = 422
    rule = "reduction_within_grant"
    title = N_("The new amount must be more than 0 and less than the grant")


class RecoveredBeyondDue(DomainError):
    """What is recovered never exceeds what a recovery asks back."""

    status = 409
    rule = "recovered_within_due"
    title = N_("The amount would recover more than is due")


class OAuthProtocolError(Exception):
    """An error of the OAuth 2.0 endpoints, rendered as RFC 6749 section 5.2 JSON."""

    def __init__(
        self, error: str, description: str, *, status: int = 400, basic_auth: bool = False
    ) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.basic_auth = basic_auth


# A database guard that fires becomes the problem the service would have raised.
# Keys are constraint and index names (app.db.base naming convention, migrations/).
CONSTRAINT_ERRORS: dict[str, type[DomainError]] = {
    "programme_measures_within_total_check": ProgrammeMeasuresBudgetExceeded,
    "programme_allocated_within_total_check": ProgrammeBudgetExceeded,
    "measure_calls_within_budget_check": MeasureCallsBudgetExceeded,
    "measure_allocated_within_budget_check": MeasureBudgetExceeded,
    "measure_funded_within_max_check": MeasureProjectCapReached,
    "call_allocated_within_budget_check": CallBudgetExceeded,
    "call_reserved_within_budget_check": CallBudgetExceeded,
    "allocation_one_active_per_application_key": AllocationAlreadyActive,
    "allocation_one_funded_per_district_key": DistrictAlreadyFunded,
    "application_one_live_per_district_key": DistrictAlreadyApplied,
    "application_one_live_executive_per_preliminary_key": Conflict,
    "application_requested_within_cost_check": InvalidInput,
    "application_line_thresholds_check": Ineligible,
    "allocation_within_request_check": AllocationExceedsRequest,
    "organisation_tax_code_key": OrganisationExists,
    "organisation_vat_number_key": OrganisationExists,
    "review_application_id_reviewer_id_key": ReviewerAlreadyAssigned,
    "scoring_grid_locked_check": ScoringGridLocked,
    "review_score_within_max_check": ScoreOutOfRange,
    "review_score_grid_locked_check": ScoringGridUnavailable,
    "review_conflict_declared_check": ConflictNotDeclared,
    "pledge_amount_in_range_check": InvalidInput,
    "ranking_call_id_version_key": RankingPublishedMeanwhile,
    "ranking_replaces_id_key": RankingPublishedMeanwhile,
    "ranking_published_immutable_check": RankingImmutable,
    "allocation_cup_key": CupTaken,
    "allocation_rna_cor_key": RnaCorTaken,
    "loan_instalment_paid_within_due_check": RepaymentExceedsInstalment,
    "loan_repaid_within_principal_check": RepaymentExceedsInstalment,
    "measure_repaid_within_lent_check": RepaymentExceedsInstalment,
    "programme_repaid_within_lent_check": RepaymentExceedsInstalment,
    "allocation_paid_within_grant_check": PaidBeyondGrant,
    "allocation_paid_within_verified_check": PaidBeyondVerified,
    "allocation_advanced_within_paid_check": PaidBeyondGrant,
    "payment_treasury_reference_key": Conflict,
    "recovery_recovered_within_due_check": RecoveredBeyondDue,
    "allocation_recovered_within_due_check": RecoveredBeyondDue,
    "recovery_receipt_treasury_reference_key": Conflict,
}


def all_problem_types() -> dict[str, type[DomainError]]:
    """Every concrete DomainError by rule, for documentation and uniqueness checks."""
    found: dict[str, type[DomainError]] = {}
    pending: list[type[DomainError]] = [DomainError]
    while pending:
        cls = pending.pop()
        found.setdefault(cls.rule, cls)
        pending.extend(cls.__subclasses__())
    return found


# Issue 20: indicators, targets, project dates and monitoring reports.


class IndicatorTargetsMissing(DomainError):
    """A submission sets a target for each indicator its measure requires one for."""

    status = 409
    rule = "indicator_targets_missing"
    title = N_("Targets are missing for indicators the measure requires")


class IndicatorValuesInvalid(DomainError):
    """Targets or values name an indicator or a breakdown category the measure does not
    define, or a breakdown's categories do not add up to the indicator's total."""

    status = 409  # the documented shape, but the measure's data disagrees
    rule = "indicator_values_invalid"
    title = N_("The indicator figures do not fit the measure's definitions")


class MonitoringPeriodNotGiven(DomainError):
    """The measure's reporting period is not given by the source and not yet set."""

    status = 409
    rule = "monitoring_period_not_given"
    title = N_("The measure's monitoring period is not set")


class ProjectDatesNotSet(DomainError):
    status = 409
    rule = "project_dates_not_set"
    title = N_("The project's dates are not recorded")


class ReportPeriodInvalid(DomainError):
    """A report is for a period that has started, within the project's dates."""

    status = 422
    rule = "report_period_invalid"
    title = N_("The report's period is not one of the project's started periods")


class ReportAlreadyChecked(DomainError):
    status = 409
    rule = "monitoring_report_already_checked"
    title = N_("The report version has already been checked")


class ReportSuperseded(DomainError):
    """Only the latest version of a period's report is checked; older ones are kept."""

    status = 409
    rule = "monitoring_report_superseded"
    title = N_("A newer version of the report exists")


class WebhookUrlRefused(DomainError):
    """A webhook URL the service will not call: not https in production, credentials in
    it, or a host that resolves to a loopback, private, link-local or metadata address."""

    status = 422
    rule = "webhook_url_refused"


class WebhookEventNotVisible(DomainError):
    """An event type the subscription's owner may not read (README "Webhooks")."""

    status = 403
    rule = "webhook_event_not_visible"


# Documents (issue 19).
class DocumentTooLarge(DomainError):
    status = 413
    rule = "document_too_large"
    title = N_("The document is larger than its kind allows")


class DocumentTypeNotAllowed(DomainError):
    status = 415
    rule = "document_type_not_allowed"
    title = N_("The document's content is not a type its kind allows")


class DocumentExtensionMismatch(DomainError):
    status = 415
    rule = "document_extension_mismatch"
    title = N_("The file name's extension does not match the document's content")


class DocumentKindUnknown(DomainError):
    status = 422
    rule = "document_kind_unknown"
    title = N_("The owner's measure has no such kind of document")


class DocumentCountReached(DomainError):
    status = 409
    rule = "document_count_reached"
    title = N_("The owner already has as many documents of this kind as allowed")


class DocumentOwnerLocked(DomainError):
    status = 409
    rule = "document_owner_locked"
    title = N_("The owner is submitted: its documents can no longer change")


class RequiredDocumentsMissing(DomainError):
    status = 409
    rule = "required_documents_missing"
    title = N_("Required documents are missing")


class DocumentBodyInvalid(DomainError):
    status = 422
    rule = "document_body_invalid"
    title = N_("The upload is not a multipart/form-data body with one file")
