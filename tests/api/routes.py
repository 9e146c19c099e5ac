"""Every route of the app in one table: who may call it and, for a change, the one audit
event it writes (or why it writes none).

tests/api/test_route_table.py calls every route as every kind of caller;
tests/api/v1/test_audit_per_route.py performs every change and reads its event. A new route
missing from the table fails both meta-tests, so no endpoint ships without a decision on who
may use it and what it leaves in the trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from app.api.deps import bearer_token

ACTORS = ("anonymous", "administrator", "officer", "reviewer", "applicant", "client")
USERS = frozenset({"administrator", "officer", "reviewer", "applicant"})
PUBLIC = frozenset(ACTORS)
ADMIN = frozenset({"administrator"})
REGION = frozenset({"administrator", "officer"})
APPLICANTS = frozenset({"administrator", "applicant"})
ORGANISATION_READERS = frozenset({"administrator", "officer", "applicant", "client"})
PARTNERSHIP_READERS = frozenset({"administrator", "officer", "applicant"})
# An invitation is answered by the invited organisation's users, or by the region for it.
CONSENTERS = frozenset({"administrator", "officer", "applicant"})
REVIEW_READERS = frozenset({"administrator", "officer", "reviewer"})
SCORERS = frozenset({"administrator", "reviewer"})  # an administrator is refused by the service
PLEDGE_READERS = frozenset({"administrator", "officer", "client"})
PLEDGE_WRITERS = frozenset({"administrator", "client"})
# Administrators and partner clients holding webhooks:write (a client: its own only).
WEBHOOK_OWNERS = frozenset({"administrator", "client"})
# Documents: applicants attach to their drafts, the region to calls and rankings (the owner
# decides further: another party's owner is 404, a submitted one 409).
DOCUMENT_WRITERS = frozenset({"administrator", "officer", "applicant"})
# OAuth endpoints authenticate the client itself (Basic or client_secret_post), never a
# bearer token: without client credentials every caller is refused.
CLIENT_CREDENTIALS = "client-credentials"

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Event:
    """The one audit event a change writes."""

    action: str
    entity_type: str
    creates: bool  # True: `before` is None; False: `before` holds the previous state


def made(action: str, entity_type: str | None = None) -> Event:
    """A creation's event; the entity type is the action's prefix unless named."""
    return Event(action, entity_type or action.split(".")[0], creates=True)


def changed(action: str, entity_type: str | None = None) -> Event:
    """A change's event: the state before and after."""
    return Event(action, entity_type or action.split(".")[0], creates=False)


@dataclass(frozen=True)
class Route:
    callers: frozenset[str] | str
    event: Event | None = None
    no_event: str | None = None  # why a change writes no event (decided per route)
    # Why a route anyone may call does not read a bearer token at all. Every other public
    # route checks a presented one: not valid is 401 invalid_token (test_public_routes.py).
    no_bearer: str | None = None


# Outside the API: what load balancers, browsers and resource servers fetch without tokens.
INFRASTRUCTURE = "a probe, the documentation or a discovery document: no resource of the API"
# Authenticated by what they are sent, not by an access token: a frontend that still
# attaches its expired access token must be able to log in again or refresh.
OWN_CREDENTIALS = "authenticated by the password or refresh token in its body"


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/healthz"): Route(PUBLIC, no_bearer=INFRASTRUCTURE),
    ("GET", "/readyz"): Route(PUBLIC, no_bearer=INFRASTRUCTURE),
    ("GET", "/openapi.json"): Route(PUBLIC, no_bearer=INFRASTRUCTURE),
    ("GET", "/docs"): Route(PUBLIC, no_bearer=INFRASTRUCTURE),
    ("GET", "/redoc"): Route(PUBLIC, no_bearer=INFRASTRUCTURE),
    ("GET", "/.well-known/jwks.json"): Route(PUBLIC, no_bearer=INFRASTRUCTURE),
    ("GET", "/.well-known/oauth-authorization-server"): Route(PUBLIC, no_bearer=INFRASTRUCTURE),
    ("GET", "/api/v1/programmes"): Route(PUBLIC),
    ("GET", "/api/v1/programmes/{programme_id}"): Route(PUBLIC),
    ("POST", "/api/v1/programmes"): Route(ADMIN, made("programme.create")),
    ("PATCH", "/api/v1/programmes/{programme_id}"): Route(ADMIN, changed("programme.update")),
    ("GET", "/api/v1/measures"): Route(PUBLIC),
    ("GET", "/api/v1/measures/{measure_id}"): Route(PUBLIC),
    ("POST", "/api/v1/measures"): Route(ADMIN, made("measure.create")),
    ("PATCH", "/api/v1/measures/{measure_id}"): Route(ADMIN, changed("measure.update")),
    ("GET", "/api/v1/calls"): Route(PUBLIC),
    ("GET", "/api/v1/calls/{call_id}"): Route(PUBLIC),
    ("POST", "/api/v1/calls"): Route(REGION, made("call.create")),
    ("PATCH", "/api/v1/calls/{call_id}"): Route(REGION, changed("call.update")),
    ("POST", "/api/v1/calls/{call_id}/publish"): Route(REGION, changed("call.publish")),
    ("POST", "/api/v1/calls/{call_id}/close"): Route(REGION, changed("call.close")),
    # The draft ranking is the region's: anyone else gets 404, as for a draft call.
    ("GET", "/api/v1/calls/{call_id}/ranking"): Route(PUBLIC),
    ("POST", "/api/v1/calls/{call_id}/ranking/publish"): Route(REGION, made("ranking.publish")),
    ("GET", "/api/v1/calls/{call_id}/rankings"): Route(PUBLIC),
    ("GET", "/api/v1/calls/{call_id}/rankings/{version}"): Route(PUBLIC),
    ("GET", "/api/v1/calls/{call_id}/rankings/{version}.csv"): Route(PUBLIC),
    ("POST", "/api/v1/calls/{call_id}/rankings/{version}/allocate"): Route(
        REGION, made("ranking.allocate")
    ),
    ("GET", "/api/v1/districts"): Route(PUBLIC),
    ("GET", "/api/v1/districts/{district_id}"): Route(PUBLIC),
    ("POST", "/api/v1/districts"): Route(ADMIN, made("district.create")),
    ("PATCH", "/api/v1/districts/{district_id}"): Route(ADMIN, changed("district.update")),
    ("GET", "/api/v1/organisations"): Route(ORGANISATION_READERS),
    ("GET", "/api/v1/organisations/{organisation_id}"): Route(ORGANISATION_READERS),
    ("POST", "/api/v1/organisations"): Route(APPLICANTS, made("organisation.create")),
    ("PATCH", "/api/v1/organisations/{organisation_id}"): Route(
        APPLICANTS, changed("organisation.update")
    ),
    ("GET", "/api/v1/partnerships"): Route(PARTNERSHIP_READERS),
    ("GET", "/api/v1/partnerships/{partnership_id}"): Route(PARTNERSHIP_READERS),
    ("POST", "/api/v1/partnerships"): Route(APPLICANTS, made("partnership.create")),
    ("PATCH", "/api/v1/partnerships/{partnership_id}"): Route(
        APPLICANTS, changed("partnership.update")
    ),
    ("POST", "/api/v1/partnerships/{partnership_id}/members"): Route(
        APPLICANTS, changed("partnership.invite")
    ),
    ("GET", "/api/v1/partnerships/{partnership_id}/members/{organisation_id}"): Route(
        PARTNERSHIP_READERS
    ),
    ("POST", "/api/v1/partnerships/{partnership_id}/members/{organisation_id}/accept"): Route(
        CONSENTERS, changed("partnership.accept")
    ),
    ("POST", "/api/v1/partnerships/{partnership_id}/members/{organisation_id}/decline"): Route(
        CONSENTERS, changed("partnership.decline")
    ),
    ("GET", "/api/v1/organisations/{organisation_id}/invitations"): Route(PARTNERSHIP_READERS),
    ("GET", "/api/v1/applications"): Route(USERS),
    ("GET", "/api/v1/applications/{application_id}"): Route(USERS),
    ("POST", "/api/v1/applications"): Route(APPLICANTS, made("application.create")),
    ("PATCH", "/api/v1/applications/{application_id}"): Route(
        APPLICANTS, changed("application.update")
    ),
    # Dry runs (?dry_run=true, README "Dry runs"): the same callers, no event, 200 with a
    # DryRunReport; tests/api/v1/test_dry_runs.py compares them with the action, caller by
    # caller, and shows that they write nothing.
    ("POST", "/api/v1/applications/{application_id}/submit"): Route(
        APPLICANTS, changed("application.submit")
    ),
    ("POST", "/api/v1/applications/{application_id}/withdraw"): Route(
        APPLICANTS, changed("application.withdraw")
    ),
    ("POST", "/api/v1/applications/{application_id}/start-review"): Route(
        REGION, changed("application.start-review")
    ),
    ("POST", "/api/v1/applications/{application_id}/approve"): Route(
        REGION, changed("application.approve")
    ),
    ("POST", "/api/v1/applications/{application_id}/reject"): Route(
        REGION, changed("application.reject")
    ),
    ("POST", "/api/v1/applications/{application_id}/admit-preliminary"): Route(
        REGION, changed("application.admit-preliminary")
    ),
    ("POST", "/api/v1/applications/{application_id}/reject-preliminary"): Route(
        REGION, changed("application.reject-preliminary")
    ),
    ("GET", "/api/v1/applications/{application_id}/reviews"): Route(REVIEW_READERS),
    ("POST", "/api/v1/applications/{application_id}/reviews"): Route(REGION, made("review.assign")),
    ("GET", "/api/v1/applications/{application_id}/reviews/{review_id}"): Route(REVIEW_READERS),
    (
        "POST",
        "/api/v1/applications/{application_id}/reviews/{review_id}/declare-no-conflict",
    ): Route(SCORERS, changed("review.declare_no_conflict")),
    ("POST", "/api/v1/applications/{application_id}/reviews/{review_id}/score"): Route(
        SCORERS, changed("review.score")
    ),
    ("DELETE", "/api/v1/applications/{application_id}/reviews/{review_id}"): Route(
        REGION, changed("review.unassign")
    ),
    ("GET", "/api/v1/organisations/{organisation_id}/pledges"): Route(PLEDGE_READERS),
    ("POST", "/api/v1/organisations/{organisation_id}/pledges"): Route(
        PLEDGE_WRITERS, made("pledge.create")
    ),
    ("GET", "/api/v1/organisations/{organisation_id}/pledges/{pledge_id}"): Route(PLEDGE_READERS),
    ("PATCH", "/api/v1/organisations/{organisation_id}/pledges/{pledge_id}"): Route(
        PLEDGE_WRITERS, changed("pledge.update")
    ),
    ("POST", "/api/v1/organisations/{organisation_id}/pledges/{pledge_id}/withdraw"): Route(
        PLEDGE_WRITERS, changed("pledge.withdraw")
    ),
    # State-aid declarations: seen and written as their organisation is.
    ("GET", "/api/v1/organisations/{organisation_id}/state-aid-declarations"): Route(
        ORGANISATION_READERS
    ),
    ("POST", "/api/v1/organisations/{organisation_id}/state-aid-declarations"): Route(
        APPLICANTS, made("state_aid_declaration.create")
    ),
    (
        "GET",
        "/api/v1/organisations/{organisation_id}/state-aid-declarations/{declaration_id}",
    ): Route(ORGANISATION_READERS),
    # Indicators (issue 20): targets are set on the applicant's draft; project dates, reports
    # and their checks are the region's and the beneficiary's (404 to other users); the
    # programme's totals are the region's; a measure's public totals are anyone's.
    ("GET", "/api/v1/applications/{application_id}/indicator-targets"): Route(USERS),
    ("PUT", "/api/v1/applications/{application_id}/indicator-targets"): Route(
        APPLICANTS, made("application.set_indicator_targets", "application")
    ),
    ("GET", "/api/v1/allocations/{allocation_id}/project-dates"): Route(USERS),
    ("PUT", "/api/v1/allocations/{allocation_id}/project-dates"): Route(
        REGION, made("allocation.set_project_dates", "allocation")
    ),
    ("GET", "/api/v1/project-dates"): Route(REGION),
    ("POST", "/api/v1/allocations/{allocation_id}/monitoring-reports"): Route(
        APPLICANTS, made("monitoring_report.file", "monitoring_report")
    ),
    ("GET", "/api/v1/allocations/{allocation_id}/monitoring-reports"): Route(USERS),
    ("GET", "/api/v1/monitoring-reports/{report_id}"): Route(USERS),
    ("POST", "/api/v1/monitoring-reports/{report_id}/check"): Route(
        REGION, changed("monitoring_report.check", "monitoring_report")
    ),
    ("GET", "/api/v1/programmes/{programme_id}/indicators"): Route(REGION),
    ("GET", "/api/v1/programmes/{programme_id}/indicators.csv"): Route(REGION),
    ("GET", "/api/v1/measures/{measure_id}/indicators"): Route(PUBLIC),
    ("GET", "/api/v1/allocations"): Route(PUBLIC),
    ("GET", "/api/v1/allocations/{allocation_id}"): Route(PUBLIC),
    ("POST", "/api/v1/allocations"): Route(REGION, made("allocation.grant")),
    ("POST", "/api/v1/allocations/{allocation_id}/revoke"): Route(
        REGION, changed("allocation.revoke")
    ),
    ("POST", "/api/v1/allocations/{allocation_id}/reduce"): Route(
        REGION, changed("allocation.reduce")
    ),
    ("POST", "/api/v1/allocations/{allocation_id}/cup"): Route(
        REGION, changed("allocation.record_cup")
    ),
    ("POST", "/api/v1/allocations/{allocation_id}/rna-cor"): Route(
        REGION, changed("allocation.record_rna_cor")
    ),
    # A mixed allocation's loan: public while the allocation is (its schedule and what is
    # paid on it are part of the aid granted); repayments are the region's to record.
    ("GET", "/api/v1/allocations/{allocation_id}/loan"): Route(PUBLIC),
    ("POST", "/api/v1/allocations/{allocation_id}/loan/repayments"): Route(
        REGION, made("loan.repay", "loan_repayment")
    ),
    # After the grant (issue 16): the funding position is public as the grant is; claims and
    # payments are the region's and the beneficiary's (404 to anyone else).
    ("GET", "/api/v1/allocations/{allocation_id}/funding"): Route(PUBLIC),
    ("POST", "/api/v1/allocations/{allocation_id}/funding/accept"): Route(
        APPLICANTS, changed("allocation.accept")
    ),
    ("POST", "/api/v1/allocations/{allocation_id}/claims"): Route(
        APPLICANTS, made("claim.create", "expenditure_claim")
    ),
    # A grant's lists: to the region and the beneficiary's users (404 to other users).
    ("GET", "/api/v1/allocations/{allocation_id}/claims"): Route(USERS),
    ("GET", "/api/v1/allocations/{allocation_id}/payments"): Route(USERS),
    ("GET", "/api/v1/allocations/{allocation_id}/loan/repayments"): Route(USERS),
    ("GET", "/api/v1/recoveries/{recovery_id}/receipts"): Route(USERS),
    ("GET", "/api/v1/claims/{claim_id}"): Route(USERS),
    ("POST", "/api/v1/claims/{claim_id}/submit"): Route(
        APPLICANTS, changed("claim.submit", "expenditure_claim")
    ),
    ("GET", "/api/v1/claims/{claim_id}/lines/{line_number}"): Route(USERS),
    ("POST", "/api/v1/claims/{claim_id}/lines/{line_number}/check"): Route(
        REGION, changed("claim_line.check")
    ),
    ("POST", "/api/v1/allocations/{allocation_id}/payments"): Route(REGION, made("payment.create")),
    ("GET", "/api/v1/payments/{payment_id}"): Route(USERS),
    # Revocation after payment: recoveries are the region's to record (404 to anyone but
    # the region and the beneficiary).
    ("GET", "/api/v1/recoveries/{recovery_id}"): Route(USERS),
    ("POST", "/api/v1/recoveries/{recovery_id}/receipts"): Route(
        REGION, changed("recovery.receive")
    ),
    ("GET", "/api/v1/programmes/{programme_id}/report"): Route(PUBLIC),
    ("GET", "/api/v1/transparency/grants"): Route(PUBLIC),
    ("GET", "/api/v1/transparency/grants/{allocation_id}"): Route(PUBLIC),
    ("GET", "/api/v1/transparency/grants.csv"): Route(PUBLIC),
    ("GET", "/api/v1/transparency/grants.360giving.json"): Route(PUBLIC),
    ("GET", "/api/v1/audit-events"): Route(ADMIN),
    ("GET", "/api/v1/audit-events/head"): Route(ADMIN),
    ("GET", "/api/v1/audit/checkpoints"): Route(PUBLIC),
    ("GET", "/api/v1/audit/checkpoints/latest"): Route(PUBLIC),
    ("POST", "/api/v1/audit/checkpoints"): Route(ADMIN, made("audit_checkpoint.create")),
    ("POST", "/api/v1/oauth/token"): Route(
        CLIENT_CREDENTIALS,
        no_event=(
            "issues a stateless JWT: no row of the programme changes (a signing key created for "
            "the very first token is recorded by the key service as signing_key.rotate)"
        ),
    ),
    ("POST", "/api/v1/oauth/revoke"): Route(
        CLIENT_CREDENTIALS, made("token.revoke", "access_token")
    ),
    ("POST", "/api/v1/oauth/introspect"): Route(
        CLIENT_CREDENTIALS, no_event="reads a token's state; changes nothing"
    ),
    ("POST", "/api/v1/auth/login"): Route(
        PUBLIC, made("auth.login", "user"), no_bearer=OWN_CREDENTIALS
    ),
    ("POST", "/api/v1/auth/refresh"): Route(
        PUBLIC, made("auth.refresh", "user"), no_bearer=OWN_CREDENTIALS
    ),
    ("POST", "/api/v1/auth/logout"): Route(USERS, made("auth.logout", "user")),
    ("GET", "/api/v1/auth/whoami"): Route(USERS | {"client"}),
    ("POST", "/api/v1/auth/password"): Route(USERS, changed("user.password_change", "user")),
    ("POST", "/api/v1/users"): Route(ADMIN, made("user.create")),
    ("GET", "/api/v1/users"): Route(ADMIN),
    ("GET", "/api/v1/users/me"): Route(USERS),
    ("PATCH", "/api/v1/users/me"): Route(USERS, changed("user.set_language")),
    ("GET", "/api/v1/users/me/notification-preferences"): Route(USERS),
    ("PUT", "/api/v1/users/me/notification-preferences"): Route(
        USERS, changed("notification_preferences.update")
    ),
    ("GET", "/api/v1/users/{user_id}"): Route(ADMIN),
    ("PATCH", "/api/v1/users/{user_id}"): Route(ADMIN, changed("user.update")),
    ("POST", "/api/v1/clients"): Route(ADMIN, made("client.create", "oauth_client")),
    ("GET", "/api/v1/clients"): Route(ADMIN),
    ("GET", "/api/v1/clients/{client_id}"): Route(ADMIN),
    ("DELETE", "/api/v1/clients/{client_id}"): Route(
        ADMIN, changed("client.deactivate", "oauth_client")
    ),
    ("POST", "/api/v1/webhooks/subscriptions"): Route(
        WEBHOOK_OWNERS, made("webhook_subscription.create")
    ),
    ("GET", "/api/v1/webhooks/subscriptions"): Route(WEBHOOK_OWNERS),
    ("GET", "/api/v1/webhooks/subscriptions/{subscription_id}"): Route(WEBHOOK_OWNERS),
    ("PATCH", "/api/v1/webhooks/subscriptions/{subscription_id}"): Route(
        WEBHOOK_OWNERS, changed("webhook_subscription.update")
    ),
    ("DELETE", "/api/v1/webhooks/subscriptions/{subscription_id}"): Route(
        WEBHOOK_OWNERS, changed("webhook_subscription.delete")
    ),
    ("POST", "/api/v1/webhooks/subscriptions/{subscription_id}/rotate-secret"): Route(
        WEBHOOK_OWNERS, changed("webhook_subscription.rotate_secret")
    ),
    ("POST", "/api/v1/webhooks/subscriptions/{subscription_id}/replay"): Route(
        WEBHOOK_OWNERS, changed("webhook_subscription.replay")
    ),
    ("GET", "/api/v1/webhooks/subscriptions/{subscription_id}/attempts"): Route(WEBHOOK_OWNERS),
    # Documents (issue 19): reads follow the owner's visibility (a call's or ranking's acts
    # are public); the upload and the deletion need applications:write or calls:write.
    ("POST", "/api/v1/documents"): Route(DOCUMENT_WRITERS, made("document.upload")),
    ("GET", "/api/v1/documents"): Route(PUBLIC),
    ("GET", "/api/v1/documents/{document_id}"): Route(PUBLIC),
    ("GET", "/api/v1/documents/{document_id}/content"): Route(PUBLIC),
    ("DELETE", "/api/v1/documents/{document_id}"): Route(
        DOCUMENT_WRITERS, changed("document.delete")
    ),
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app serves, included routers flattened (mounts excluded)."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD" and route.path is not None:
                # As documented: /users/{user_id:uuid} is /users/{user_id} in OpenAPI.
                found.add((method, getattr(route, "path_format", None) or route.path))
    return found


def _depends_on(dependant: Dependant, call: object) -> bool:
    return dependant.call is call or any(_depends_on(d, call) for d in dependant.dependencies)


def reads_bearer_token(app: FastAPI) -> set[tuple[str, str]]:
    """The (method, path) of every route whose dependencies read the bearer token."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        dependant = getattr(route, "dependant", None)
        if dependant is not None and _depends_on(dependant, bearer_token):
            path = getattr(route, "path_format", None) or route.path
            found |= {(m, path) for m in route.methods or () if m != "HEAD" and path}
    return found
