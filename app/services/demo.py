"""The demo (`wecare demo`): a clearly marked made-up programme to try the service on.

Built through the services, as the API would build it: the same rules, caps and audit
events, each change recorded under the demo account (or client) that makes it. The
programme is a reference-data file of its own (data/demo/programme.yaml, code DEMO) with
its own measures and budget, so the WECARE programme's figures are not touched.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import CLIENT_GRANTABLE_SCOPES, ROLE_SCOPES, Principal, Role
from app.core.config import PROJECT_ROOT, Settings
from app.core.context import Actor, actor_var
from app.core.domain import (
    LegalNature,
    PartnershipForm,
    PiemonteProvince,
    ProfitStatus,
    SizeClass,
)
from app.core.errors import Conflict
from app.core.i18n import msg
from app.models.application import Application
from app.repositories import applications as application_repo
from app.repositories import auth as auth_repo
from app.repositories import calls as call_repo
from app.repositories import programmes as programme_repo
from app.schemas.application import AllocationCreate, ApplicationCreate
from app.schemas.district import DistrictCreate
from app.schemas.organisation import MemberInvite, OrganisationCreate, PartnershipCreate
from app.schemas.pledge import PledgeCreate
from app.schemas.review import (
    ConflictDeclaration,
    CriterionScore,
    ReviewAssign,
    ReviewScoreInput,
)
from app.services import (
    allocations,
    applications,
    clients,
    districts,
    organisations,
    pledges,
    reviews,
    users,
)
from app.services.reference_data import load_reference_data, read_reference_file

DEMO_FILE = PROJECT_ROOT / "data" / "demo" / "programme.yaml"
DEMO_PROGRAMME_CODE = "DEMO"
# Known on purpose (printed by the command, listed in the README): demo accounts only.
DEMO_PASSWORD = "demo-password-not-secret"
DEMO_CLIENT_NAME = "DEMO — Fondazione Delta (not real data)"


@dataclass(frozen=True)
class DemoAccount:
    email: str
    role: Role
    display_name: str
    organisation: str | None = None  # the key of the demo organisation it acts for


@dataclass(frozen=True)
class DemoOrganisation:
    key: str
    data: OrganisationCreate
    registered_by: str | None  # the applicant account that registers it (None: the admin)


DEMO_ACCOUNTS = (
    DemoAccount("administrator@demo.example.org", Role.ADMINISTRATOR, "DEMO administrator"),
    DemoAccount("officer@demo.example.org", Role.OFFICER, "DEMO officer"),
    DemoAccount("reviewer@demo.example.org", Role.REVIEWER, "DEMO reviewer"),
    DemoAccount("applicant@demo.example.org", Role.APPLICANT, "DEMO applicant (Alfa)", "alfa"),
    DemoAccount("enterprise@demo.example.org", Role.APPLICANT, "DEMO applicant (Beta)", "beta"),
    DemoAccount("district@demo.example.org", Role.APPLICANT, "DEMO applicant (Gamma)", "gamma"),
)

# Tax codes: valid partite IVA (Luhn check digit, office code 001) of no real organisation
# known to us; every name says DEMO.
DEMO_ORGANISATIONS = (
    DemoOrganisation(
        "alfa",
        OrganisationCreate(
            legal_name="DEMO — Cooperativa sociale Alfa (dati non reali)",
            tax_code="91079190012",
            legal_nature=LegalNature.THIRD_SECTOR_ORGANISATION,
            profit_status=ProfitStatus.NON_PROFIT,
            size_class=SizeClass.SMALL,
            province=PiemonteProvince.TO,
            accompaniment_experience=True,
        ),
        "applicant@demo.example.org",
    ),
    DemoOrganisation(
        "beta",
        OrganisationCreate(
            legal_name="DEMO — Beta srl (dati non reali)",
            tax_code="91158380013",
            legal_nature=LegalNature.ENTERPRISE,
            profit_status=ProfitStatus.PROFIT,
            size_class=SizeClass.SMALL,
            province=PiemonteProvince.CN,
        ),
        "enterprise@demo.example.org",
    ),
    DemoOrganisation(
        "gamma",
        OrganisationCreate(
            legal_name="DEMO — Consorzio socio-assistenziale Gamma (dati non reali)",
            tax_code="91237570014",
            legal_nature=LegalNature.SOCIAL_SERVICES_BODY,
            profit_status=ProfitStatus.NON_PROFIT,
            province=PiemonteProvince.TO,
        ),
        "district@demo.example.org",
    ),
    DemoOrganisation(
        "delta",
        OrganisationCreate(
            legal_name="DEMO — Fondazione Delta (dati non reali)",
            tax_code="91316760015",
            legal_nature=LegalNature.FOUNDATION,
            profit_status=ProfitStatus.NON_PROFIT,
            province=PiemonteProvince.TO,
        ),
        None,
    ),
)


@dataclass
class DemoReport:
    """What ``wecare demo`` did (or found), for the command to print."""

    loaded: bool  # False: the demo was already there and nothing changed
    accounts: tuple[DemoAccount, ...] = DEMO_ACCOUNTS
    password: str = DEMO_PASSWORD
    client_id: str | None = None
    client_secret: str | None = None  # only when just created: it is stored as a hash
    applications: Counter[str] = field(default_factory=Counter)
    allocations: Counter[str] = field(default_factory=Counter)


class DemoRefusedInProduction(Conflict):
    """The demo adds accounts with published passwords: not on a production service."""


@contextmanager
def _acting(principal: Principal) -> Iterator[Principal]:
    """Record the changes made inside under ``principal``, as a request of theirs would."""
    kind = "user" if principal.kind == "user" else "client"
    token = actor_var.set(Actor(kind, principal.actor.split(":", 1)[1]))
    try:
        yield principal
    finally:
        actor_var.reset(token)


def _user(user_id: uuid.UUID, role: Role, organisation_ids: frozenset[uuid.UUID]) -> Principal:
    return Principal(
        kind="user",
        id=user_id,
        role=role,
        scopes=ROLE_SCOPES[role],
        organisation_ids=organisation_ids,
    )


class _Builder:
    """The demo's cast and the steps that put applications in every state."""

    def __init__(self, session: AsyncSession, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.people: dict[str, Principal] = {}
        self.organisations: dict[str, uuid.UUID] = {}
        self.calls: dict[str, uuid.UUID] = {}
        self.partnership_leads: dict[uuid.UUID, uuid.UUID] = {}
        self.report = DemoReport(loaded=True)

    def by(self, email: str) -> Principal:
        return self.people[email]

    async def accounts(self) -> None:
        for account in DEMO_ACCOUNTS:
            user = await users.create_user(
                self.session,
                email=account.email,
                display_name=account.display_name,
                password=DEMO_PASSWORD,
                role=account.role,
                organisation_ids=[],
                settings=self.settings,
            )
            self.people[account.email] = _user(user.id, account.role, frozenset())

    async def organisations_and_district(self) -> None:
        admin = self.by("administrator@demo.example.org")
        for spec in DEMO_ORGANISATIONS:
            email = spec.registered_by
            registrant = admin if email is None else self.by(email)
            with _acting(registrant):
                made = await organisations.create_organisation(
                    self.session, data=spec.data, principal=registrant
                )
            self.organisations[spec.key] = made.id
            if email is not None:  # an applicant who registers it acts for it from now on
                assert registrant.id is not None
                self.people[email] = _user(registrant.id, Role.APPLICANT, frozenset({made.id}))
        with _acting(admin):
            self.district = await districts.create_district(
                self.session,
                data=DistrictCreate(
                    code="DEMO-D1",
                    name="DEMO — Distretto di coesione sociale dimostrativo (dati non reali)",
                    lead_organisation_id=self.organisations["gamma"],
                ),
            )

    async def partnership(self) -> uuid.UUID:
        """The district's lead forms an ATS and invites Alfa by its tax code; Alfa's user
        accepts."""
        lead = self.by("district@demo.example.org")
        with _acting(lead):
            formed = await organisations.create_partnership(
                self.session,
                data=PartnershipCreate(
                    name="DEMO — ATS Gamma-Alfa (dati non reali)",
                    form=PartnershipForm.ATS_TO_BE_FORMED,
                    district_id=self.district.id,
                    lead_organisation_id=self.organisations["gamma"],
                ),
                principal=lead,
            )
            alfa = next(o.data.tax_code for o in DEMO_ORGANISATIONS if o.key == "alfa")
            await organisations.invite_member(
                self.session, formed.id, data=MemberInvite(tax_code=alfa), principal=lead
            )
        self.partnership_leads[formed.id] = self.organisations["gamma"]
        partner = self.by("applicant@demo.example.org")
        with _acting(partner):
            membership = await organisations.load_membership(
                self.session, formed.id, self.organisations["alfa"], partner
            )
            await organisations.accept_membership(
                self.session, membership, data=None, principal=partner
            )
        return formed.id

    async def draft(
        self, email: str, call: str, title: str, amount: str, **fields: object
    ) -> Application:
        applicant = self.by(email)
        if "partnership_id" not in fields:
            fields["applicant_organisation_id"] = next(iter(applicant.organisation_ids))
        data = ApplicationCreate.model_validate(
            {
                "call_id": self.calls[call],
                "title": title,
                "description": f"{title}: a demo project, not real data.",
                "total_cost": amount,
                "requested": amount,
                **fields,
            }
        )
        with _acting(applicant):
            return await applications.create_application(
                self.session, data=data, principal=applicant
            )

    async def move(self, application: Application, *actions: str) -> Application:
        """Apply lifecycle actions in turn, each by whom it belongs to: the applicant's lead
        for its own actions, the officer for the region's decisions."""
        officer = self.by("officer@demo.example.org")
        for action in actions:
            actor = officer
            if applications.TRANSITIONS[action].by_applicant:
                actor = next(
                    p
                    for p in self.people.values()
                    if p.role is Role.APPLICANT and self._leads(p, application)
                )
            with _acting(actor):
                application = await applications.move_application(
                    self.session, application, action=action, principal=actor
                )
        return application

    def _leads(self, principal: Principal, application: Application) -> bool:
        lead = application.applicant_organisation_id
        if lead is None:
            assert application.partnership_id is not None
            lead = self.partnership_leads[application.partnership_id]
        return lead in principal.organisation_ids

    async def review(self, application: Application, quality: int, sustainability: int) -> None:
        """The officer assigns the demo reviewer, who declares no conflict of interest and
        scores the application on the demo grid (Q out of 60, S out of 40)."""
        officer = self.by("officer@demo.example.org")
        reviewer = self.by("reviewer@demo.example.org")
        assert reviewer.id is not None
        with _acting(officer):
            assigned = await reviews.assign_reviewer(
                self.session,
                application.id,
                data=ReviewAssign(reviewer_id=reviewer.id),
                principal=officer,
            )
        with _acting(reviewer):
            found = await reviews.load_review(
                self.session, application.id, assigned.review.id, reviewer
            )
            await reviews.declare_no_conflict(
                self.session,
                found,
                data=ConflictDeclaration(no_conflict_of_interest=True),
                principal=reviewer,
            )
            scores = [
                CriterionScore(criterion="Q", score=quality, comment="Demo (not real data)."),
                CriterionScore(criterion="S", score=sustainability, comment="Demo, too."),
            ]
            await reviews.score_review(
                self.session, found, data=ReviewScoreInput(scores=scores), principal=reviewer
            )

    async def grant(self, application: Application, amount: str) -> uuid.UUID:
        officer = self.by("officer@demo.example.org")
        with _acting(officer):
            granted = await allocations.grant_allocation(
                self.session,
                data=AllocationCreate(application_id=application.id, amount=Decimal(amount)),
                principal=officer,
            )
        return granted.id

    async def revoke(self, allocation_id: uuid.UUID) -> None:
        officer = self.by("officer@demo.example.org")
        with _acting(officer):
            allocation = await allocations.load_allocation(self.session, allocation_id, officer)
            await allocations.revoke_allocation(
                self.session,
                allocation,
                reason="Demo: a revoked grant, to show the state (not real data).",
                principal=officer,
            )

    async def applications_in_every_state(self, partnership_id: uuid.UUID) -> None:
        alfa, beta = "applicant@demo.example.org", "enterprise@demo.example.org"
        fse2 = "DEMO-FSE2-OPEN"
        await self.draft(alfa, fse2, "DEMO — Sportello di quartiere (bozza)", "20000.00")
        submitted = await self.draft(alfa, fse2, "DEMO — Orti condivisi", "30000.00")
        await self.move(submitted, "submit")
        in_review = await self.draft(
            alfa,
            fse2,
            "DEMO — Custodi sociali",
            "35000.00",
            thematic_area_code="demo-proximity-care",
        )
        await self.move(in_review, "submit", "start-review")
        await self.review(in_review, 42, 30)
        approved = await self.draft(alfa, fse2, "DEMO — Rete di badanti di condominio", "25000.00")
        await self.move(approved, "submit", "start-review", "approve")
        granted = await self.draft(alfa, fse2, "DEMO — Emporio solidale", "40000.00")
        await self.move(granted, "submit", "start-review")
        await self.review(granted, 52, 36)
        await self.move(granted, "approve")
        await self.grant(granted, "40000.00")
        rejected = await self.draft(alfa, fse2, "DEMO — Progetto non ammesso", "15000.00")
        await self.move(rejected, "submit", "start-review", "reject")
        withdrawn = await self.draft(alfa, fse2, "DEMO — Progetto ritirato", "10000.00")
        await self.move(withdrawn, "submit", "withdraw")
        # A grant later revoked (the application stays approved; the allocation is revoked).
        revoked = await self.draft(beta, "DEMO-FSE3-OPEN", "DEMO — Asilo aziendale", "30000.00")
        await self.move(revoked, "submit", "start-review", "approve")
        await self.revoke(await self.grant(revoked, "30000.00"))
        first_come = await self.draft(
            beta, "DEMO-FESR-OPEN", "DEMO — Bottega digitale", "80000.00", line_number=2
        )
        await self.move(first_come, "submit")
        accompaniment = await self.draft(
            alfa, "DEMO-FSE4-OPEN", "DEMO — Accompagnamento ai progetti", "50000.00"
        )
        await self.move(accompaniment, "submit", "start-review")
        # Two stages: the preliminary project admitted, its executive project drafted.
        preliminary = await self.draft(
            "district@demo.example.org",
            "DEMO-FSE1-OPEN",
            "DEMO — Welfare di comunità del distretto",
            "120000.00",
            partnership_id=partnership_id,
            district_id=self.district.id,
        )
        await self.move(preliminary, "submit", "start-review", "admit-preliminary")
        await self.draft(
            "district@demo.example.org",
            "DEMO-FSE1-OPEN",
            "DEMO — Welfare di comunità del distretto (esecutivo)",
            "120000.00",
            partnership_id=partnership_id,
            preliminary_id=preliminary.id,
        )

    async def foundation_client(self) -> None:
        """The foundation's OAuth client (client credentials), and a pledge it makes."""
        admin = self.by("administrator@demo.example.org")
        with _acting(admin):
            registered = await clients.register_client(
                self.session,
                settings=self.settings,
                name=DEMO_CLIENT_NAME,
                scopes=sorted(CLIENT_GRANTABLE_SCOPES),
                organisation_id=self.organisations["delta"],
            )
        client = registered.client
        self.report.client_id, self.report.client_secret = client.client_id, registered.secret
        partner = Principal(
            kind="client",
            id=client.id,
            client_id=client.client_id,
            scopes=frozenset(client.scopes),
            organisation_ids=frozenset({self.organisations["delta"]}),
        )
        with _acting(partner):
            await pledges.pledge_for(
                self.session,
                self.organisations["delta"],
                data=PledgeCreate(
                    call_id=self.calls["DEMO-FSE2-OPEN"],
                    amount=Decimal("50000.00"),
                    note="Demo co-funding pledge (not real data).",
                ),
                principal=partner,
            )


async def load_demo(
    session: AsyncSession, settings: Settings, *, allow_production: bool = False
) -> DemoReport:
    """Load the demo programme, its accounts, a foundation's client and applications in every
    state; the caller owns the transaction. Loaded already: change nothing and say so."""
    if settings.environment == "production" and not allow_production:
        raise DemoRefusedInProduction(
            msg(
                "WECARE_ENVIRONMENT is production: the demo adds accounts whose password "
                "is published. Give --allow-production to load it anyway."
            )
        )
    if await auth_repo.get_user_by_email(session, DEMO_ACCOUNTS[0].email) is not None:
        found = await demo_client_id(session)
        return DemoReport(loaded=False, client_id=found)
    await load_reference_data(session, read_reference_file(DEMO_FILE))
    builder = _Builder(session, settings)
    programme = await programme_repo.get_programme_by_code(session, DEMO_PROGRAMME_CODE)
    assert programme is not None
    for call in await call_repo.list_calls_of_programme(session, programme.id):
        builder.calls[call.code] = call.id
    await builder.accounts()
    await builder.organisations_and_district()
    partnership_id = await builder.partnership()
    await builder.applications_in_every_state(partnership_id)
    await builder.foundation_client()
    report = builder.report
    report.applications, report.allocations = await demo_states(session)
    return report


async def demo_client_id(session: AsyncSession) -> str | None:
    """The demo foundation's client id (its secret is shown only when it is created)."""
    found = await auth_repo.first_client_named(session, DEMO_CLIENT_NAME)
    return found.client_id if found else None


async def demo_states(session: AsyncSession) -> tuple[Counter[str], Counter[str]]:
    """How many demo applications are in each state, and demo allocations in each."""
    apps, grants = await application_repo.count_states_of_programme(session, DEMO_PROGRAMME_CODE)
    return Counter(apps), Counter(grants)
