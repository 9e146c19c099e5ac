"""Domain model: programme, measures, lines, calls, organisations, applications, allocations.

Budget counters live on the rows they cap, guarded by CHECK constraints; one active
allocation per application and one lead per partnership are partial unique indexes.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 16:02:18.973974
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:

    op.create_table(
        "organisation",
        sa.Column("legal_name", sa.String(length=300), nullable=False),
        sa.Column("tax_code", sa.String(length=16), nullable=False),
        sa.Column("vat_number", sa.String(length=11), nullable=True),
        sa.Column(
            "legal_nature",
            sa.Enum(
                "municipality",
                "union_of_municipalities",
                "health_authority",
                "social_services_body",
                "other_public_body",
                "third_sector_organisation",
                "volunteer_organisation",
                "social_enterprise",
                "enterprise",
                "foundation",
                name="legal_nature",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "profit_status",
            sa.Enum(
                "profit",
                "non_profit",
                name="profit_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column(
            "size_class",
            sa.Enum(
                "micro",
                "small",
                "medium",
                "large",
                name="size_class",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
        ),
        sa.Column(
            "province",
            sa.Enum(
                "AL",
                "AT",
                "BI",
                "CN",
                "NO",
                "TO",
                "VB",
                "VC",
                name="province",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=True,
            comment="NULL when based outside Piemonte",
        ),
        sa.Column("accompaniment_experience", sa.Boolean(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("organisation_pkey")),
        sa.UniqueConstraint("tax_code", name=op.f("organisation_tax_code_key")),
        sa.UniqueConstraint("vat_number", name=op.f("organisation_vat_number_key")),
    )
    op.create_table(
        "programme",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name_it", sa.String(length=300), nullable=False),
        sa.Column("name_en", sa.String(length=300), nullable=False),
        sa.Column("description_it", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("responsible_office", sa.String(length=300), nullable=False),
        sa.Column("legal_basis", sa.String(length=1000), nullable=False),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("principles", JSON, nullable=False),
        sa.Column("reference_data_version", sa.String(length=40), nullable=True),
        sa.Column("total_budget_cents", sa.BigInteger(), nullable=False),
        sa.Column("measures_budget_cents", sa.BigInteger(), nullable=False),
        sa.Column("allocated_cents", sa.BigInteger(), nullable=False),
        sa.Column("funded_projects", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint("currency = 'EUR'", name=op.f("programme_currency_eur_check")),
        sa.CheckConstraint(
            "allocated_cents >= 0 AND allocated_cents <= total_budget_cents",
            name=op.f("programme_allocated_within_total_check"),
        ),
        sa.CheckConstraint(
            "funded_projects >= 0", name=op.f("programme_funded_projects_non_negative_check")
        ),
        sa.CheckConstraint(
            "measures_budget_cents >= 0 AND measures_budget_cents <= total_budget_cents",
            name=op.f("programme_measures_within_total_check"),
        ),
        sa.CheckConstraint(
            "total_budget_cents > 0", name=op.f("programme_total_budget_positive_check")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("programme_pkey")),
        sa.UniqueConstraint("code", name=op.f("programme_code_key")),
    )
    op.create_table(
        "district",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("lead_organisation_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["lead_organisation_id"],
            ["organisation.id"],
            name=op.f("district_lead_organisation_id_fkey"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("district_pkey")),
        sa.UniqueConstraint("code", name=op.f("district_code_key")),
    )
    with op.batch_alter_table("district", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("district_lead_organisation_id_idx"), ["lead_organisation_id"], unique=False
        )

    op.create_table(
        "measure",
        sa.Column("programme_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column(
            "fund",
            sa.Enum("FSE", "FESR", name="fund", native_enum=False, create_constraint=True),
            nullable=False,
        ),
        sa.Column("title_it", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column("objective_it", sa.Text(), nullable=False),
        sa.Column("objective_en", sa.Text(), nullable=False),
        sa.Column("beneficiaries_it", sa.Text(), nullable=False),
        sa.Column("beneficiaries_en", sa.Text(), nullable=False),
        sa.Column("notes_it", sa.Text(), nullable=True),
        sa.Column("notes_en", sa.Text(), nullable=True),
        sa.Column("example_actions", JSON, nullable=False),
        sa.Column("budget_cents", sa.BigInteger(), nullable=False),
        sa.Column("max_funded_projects", sa.Integer(), nullable=True),
        sa.Column("one_per_district", sa.Boolean(), nullable=False),
        sa.Column("two_stage_submission", sa.Boolean(), nullable=False),
        sa.Column("calls_budget_cents", sa.BigInteger(), nullable=False),
        sa.Column("allocated_cents", sa.BigInteger(), nullable=False),
        sa.Column("funded_projects", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("applicant_forms", JSON, nullable=False),
        sa.Column("eligible_legal_natures", JSON, nullable=False),
        sa.Column("eligible_size_classes", JSON, nullable=False),
        sa.Column("eligible_profit_statuses", JSON, nullable=False),
        sa.Column("requires_accompaniment_experience", sa.Boolean(), nullable=False),
        sa.Column("lead_must_be_district_lead", sa.Boolean(), nullable=False),
        sa.Column("required_member_natures", JSON, nullable=False),
        sa.Column("min_required_members", sa.Integer(), nullable=False),
        sa.Column("required_members_in_piemonte", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "allocated_cents >= 0 AND allocated_cents <= budget_cents",
            name=op.f("measure_allocated_within_budget_check"),
        ),
        sa.CheckConstraint("budget_cents >= 0", name=op.f("measure_budget_non_negative_check")),
        sa.CheckConstraint(
            "calls_budget_cents >= 0 AND calls_budget_cents <= budget_cents",
            name=op.f("measure_calls_within_budget_check"),
        ),
        sa.CheckConstraint(
            "funded_projects >= 0 AND (max_funded_projects IS NULL OR funded_projects <= max_funded_projects)",
            name=op.f("measure_funded_within_max_check"),
        ),
        sa.CheckConstraint(
            "max_funded_projects IS NULL OR max_funded_projects > 0",
            name=op.f("measure_max_projects_positive_check"),
        ),
        sa.CheckConstraint(
            "min_required_members >= 0",
            name=op.f("measure_min_required_members_non_negative_check"),
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("measure_programme_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("measure_pkey")),
        sa.UniqueConstraint("programme_id", "code", name=op.f("measure_programme_id_code_key")),
    )
    with op.batch_alter_table("measure", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("measure_programme_id_idx"), ["programme_id"], unique=False
        )

    op.create_table(
        "measure_line",
        sa.Column("measure_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("title_it", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column("description_it", sa.Text(), nullable=False),
        sa.Column("description_en", sa.Text(), nullable=False),
        sa.Column("min_project_cost_cents", sa.BigInteger(), nullable=True),
        sa.Column("max_project_cost_cents", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("applicant_forms", JSON, nullable=False),
        sa.Column("eligible_legal_natures", JSON, nullable=False),
        sa.Column("eligible_size_classes", JSON, nullable=False),
        sa.Column("eligible_profit_statuses", JSON, nullable=False),
        sa.Column("requires_accompaniment_experience", sa.Boolean(), nullable=False),
        sa.Column("lead_must_be_district_lead", sa.Boolean(), nullable=False),
        sa.Column("required_member_natures", JSON, nullable=False),
        sa.Column("min_required_members", sa.Integer(), nullable=False),
        sa.Column("required_members_in_piemonte", sa.Boolean(), nullable=False),
        sa.CheckConstraint(
            "min_project_cost_cents IS NULL OR max_project_cost_cents IS NULL OR min_project_cost_cents <= max_project_cost_cents",
            name=op.f("measure_line_thresholds_ordered_check"),
        ),
        sa.CheckConstraint(
            "min_project_cost_cents IS NULL OR min_project_cost_cents >= 0",
            name=op.f("measure_line_min_cost_non_negative_check"),
        ),
        sa.CheckConstraint(
            "min_required_members >= 0",
            name=op.f("measure_line_min_required_members_non_negative_check"),
        ),
        sa.CheckConstraint("number > 0", name=op.f("measure_line_number_positive_check")),
        sa.ForeignKeyConstraint(
            ["measure_id"], ["measure.id"], name=op.f("measure_line_measure_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("measure_line_pkey")),
        sa.UniqueConstraint("measure_id", "code", name=op.f("measure_line_measure_id_code_key")),
        sa.UniqueConstraint(
            "measure_id", "number", name=op.f("measure_line_measure_id_number_key")
        ),
    )
    with op.batch_alter_table("measure_line", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("measure_line_measure_id_idx"), ["measure_id"], unique=False
        )

    op.create_table(
        "measure_phase",
        sa.Column("measure_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("title_it", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column("description_it", sa.Text(), nullable=True),
        sa.Column("description_en", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["measure_id"], ["measure.id"], name=op.f("measure_phase_measure_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("measure_phase_pkey")),
        sa.UniqueConstraint("measure_id", "code", name=op.f("measure_phase_measure_id_code_key")),
        sa.UniqueConstraint(
            "measure_id", "ordinal", name=op.f("measure_phase_measure_id_ordinal_key")
        ),
    )
    with op.batch_alter_table("measure_phase", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("measure_phase_measure_id_idx"), ["measure_id"], unique=False
        )

    op.create_table(
        "partnership",
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column(
            "form",
            sa.Enum(
                "ats_formed",
                "ats_to_be_formed",
                "network",
                name="partnership_form",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["district_id"], ["district.id"], name=op.f("partnership_district_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("partnership_pkey")),
    )
    with op.batch_alter_table("partnership", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("partnership_district_id_idx"), ["district_id"], unique=False
        )

    op.create_table(
        "thematic_area",
        sa.Column("measure_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.Column("title_it", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["measure_id"], ["measure.id"], name=op.f("thematic_area_measure_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("thematic_area_pkey")),
        sa.UniqueConstraint("measure_id", "code", name=op.f("thematic_area_measure_id_code_key")),
    )
    with op.batch_alter_table("thematic_area", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("thematic_area_measure_id_idx"), ["measure_id"], unique=False
        )

    op.create_table(
        "call",
        sa.Column("measure_id", sa.Uuid(), nullable=False),
        sa.Column("line_id", sa.Uuid(), nullable=True),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("title_it", sa.String(length=300), nullable=False),
        sa.Column("title_en", sa.String(length=300), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "published",
                "closed",
                name="call_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("published_on", sa.Date(), nullable=True),
        sa.Column("dates_note", sa.String(length=1000), nullable=True),
        sa.Column("budget_cents", sa.BigInteger(), nullable=False),
        sa.Column("allocated_cents", sa.BigInteger(), nullable=False),
        sa.Column("funded_projects", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "allocated_cents >= 0 AND allocated_cents <= budget_cents",
            name=op.f("call_allocated_within_budget_check"),
        ),
        sa.CheckConstraint("budget_cents >= 0", name=op.f("call_budget_non_negative_check")),
        sa.CheckConstraint(
            "funded_projects >= 0", name=op.f("call_funded_projects_non_negative_check")
        ),
        sa.ForeignKeyConstraint(["line_id"], ["measure_line.id"], name=op.f("call_line_id_fkey")),
        sa.ForeignKeyConstraint(["measure_id"], ["measure.id"], name=op.f("call_measure_id_fkey")),
        sa.PrimaryKeyConstraint("id", name=op.f("call_pkey")),
        sa.UniqueConstraint("code", name=op.f("call_code_key")),
    )
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("call_line_id_idx"), ["line_id"], unique=False)
        batch_op.create_index(batch_op.f("call_measure_id_idx"), ["measure_id"], unique=False)

    op.create_table(
        "partnership_member",
        sa.Column("partnership_id", sa.Uuid(), nullable=False),
        sa.Column("organisation_id", sa.Uuid(), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "lead", "partner", name="member_role", native_enum=False, create_constraint=True
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("partnership_member_organisation_id_fkey"),
        ),
        sa.ForeignKeyConstraint(
            ["partnership_id"],
            ["partnership.id"],
            name=op.f("partnership_member_partnership_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "partnership_id", "organisation_id", name=op.f("partnership_member_pkey")
        ),
    )
    with op.batch_alter_table("partnership_member", schema=None) as batch_op:
        batch_op.create_index(
            "partnership_member_one_lead_key",
            ["partnership_id"],
            unique=True,
            postgresql_where=sa.text("role = 'lead'"),
            sqlite_where=sa.text("role = 'lead'"),
        )
        batch_op.create_index(
            batch_op.f("partnership_member_organisation_id_idx"), ["organisation_id"], unique=False
        )

    op.create_table(
        "application",
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("measure_id", sa.Uuid(), nullable=False),
        sa.Column("line_id", sa.Uuid(), nullable=True),
        sa.Column("applicant_organisation_id", sa.Uuid(), nullable=True),
        sa.Column("partnership_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("total_cost_cents", sa.BigInteger(), nullable=False),
        sa.Column("requested_cents", sa.BigInteger(), nullable=False),
        sa.Column("thematic_area_id", sa.Uuid(), nullable=True),
        sa.Column("district_id", sa.Uuid(), nullable=True),
        sa.Column(
            "stage",
            sa.Enum(
                "single",
                "preliminary",
                "executive",
                name="application_stage",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("preliminary_id", sa.Uuid(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "draft",
                "submitted",
                "under_review",
                "admitted",
                "approved",
                "rejected",
                "withdrawn",
                name="application_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(stage = 'executive') = (preliminary_id IS NOT NULL)",
            name=op.f("application_executive_links_preliminary_check"),
        ),
        sa.CheckConstraint(
            "(applicant_organisation_id IS NULL) <> (partnership_id IS NULL)",
            name=op.f("application_one_applicant_check"),
        ),
        sa.CheckConstraint(
            "requested_cents > 0 AND requested_cents <= total_cost_cents",
            name=op.f("application_requested_within_cost_check"),
        ),
        sa.CheckConstraint(
            "total_cost_cents > 0 AND total_cost_cents <= 100000000000",
            name=op.f("application_total_cost_in_range_check"),
        ),
        sa.ForeignKeyConstraint(
            ["applicant_organisation_id"],
            ["organisation.id"],
            name=op.f("application_applicant_organisation_id_fkey"),
        ),
        sa.ForeignKeyConstraint(["call_id"], ["call.id"], name=op.f("application_call_id_fkey")),
        sa.ForeignKeyConstraint(
            ["district_id"], ["district.id"], name=op.f("application_district_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["line_id"], ["measure_line.id"], name=op.f("application_line_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["measure_id"], ["measure.id"], name=op.f("application_measure_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["partnership_id"], ["partnership.id"], name=op.f("application_partnership_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["preliminary_id"], ["application.id"], name=op.f("application_preliminary_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["thematic_area_id"],
            ["thematic_area.id"],
            name=op.f("application_thematic_area_id_fkey"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("application_pkey")),
        sa.UniqueConstraint("preliminary_id", name=op.f("application_preliminary_id_key")),
    )
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("application_applicant_organisation_id_idx"),
            ["applicant_organisation_id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("application_call_id_idx"), ["call_id"], unique=False)
        batch_op.create_index(
            batch_op.f("application_district_id_idx"), ["district_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("application_measure_id_idx"), ["measure_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("application_partnership_id_idx"), ["partnership_id"], unique=False
        )
        batch_op.create_index(batch_op.f("application_status_idx"), ["status"], unique=False)

    op.create_table(
        "call_participation_limit",
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column(
            "legal_nature",
            sa.Enum(
                "municipality",
                "union_of_municipalities",
                "health_authority",
                "social_services_body",
                "other_public_body",
                "third_sector_organisation",
                "volunteer_organisation",
                "social_enterprise",
                "enterprise",
                "foundation",
                name="legal_nature",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("max_projects", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "max_projects > 0", name=op.f("call_participation_limit_max_projects_positive_check")
        ),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["call.id"],
            name=op.f("call_participation_limit_call_id_fkey"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("call_participation_limit_pkey")),
        sa.UniqueConstraint(
            "call_id",
            "legal_nature",
            name=op.f("call_participation_limit_call_id_legal_nature_key"),
        ),
    )
    op.create_table(
        "call_phase",
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "submission",
                "preliminary",
                "executive",
                name="phase_kind",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("closes_at > opens_at", name=op.f("call_phase_window_ordered_check")),
        sa.ForeignKeyConstraint(
            ["call_id"], ["call.id"], name=op.f("call_phase_call_id_fkey"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("call_phase_pkey")),
        sa.UniqueConstraint("call_id", "ordinal", name=op.f("call_phase_call_id_ordinal_key")),
    )
    op.create_table(
        "allocation",
        sa.Column("application_id", sa.Uuid(), nullable=False),
        sa.Column("programme_id", sa.Uuid(), nullable=False),
        sa.Column("measure_id", sa.Uuid(), nullable=False),
        sa.Column("call_id", sa.Uuid(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "revoked",
                name="allocation_status",
                native_enum=False,
                create_constraint=True,
            ),
            nullable=False,
        ),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.Column("revocation_reason", sa.String(length=2000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "(status = 'revoked') = (revoked_at IS NOT NULL)",
            name=op.f("allocation_revoked_has_time_check"),
        ),
        sa.CheckConstraint("amount_cents > 0", name=op.f("allocation_amount_positive_check")),
        sa.ForeignKeyConstraint(
            ["application_id"], ["application.id"], name=op.f("allocation_application_id_fkey")
        ),
        sa.ForeignKeyConstraint(["call_id"], ["call.id"], name=op.f("allocation_call_id_fkey")),
        sa.ForeignKeyConstraint(
            ["measure_id"], ["measure.id"], name=op.f("allocation_measure_id_fkey")
        ),
        sa.ForeignKeyConstraint(
            ["programme_id"], ["programme.id"], name=op.f("allocation_programme_id_fkey")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("allocation_pkey")),
    )
    with op.batch_alter_table("allocation", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("allocation_application_id_idx"), ["application_id"], unique=False
        )
        batch_op.create_index(batch_op.f("allocation_call_id_idx"), ["call_id"], unique=False)
        batch_op.create_index(batch_op.f("allocation_measure_id_idx"), ["measure_id"], unique=False)
        batch_op.create_index(
            "allocation_one_active_per_application_key",
            ["application_id"],
            unique=True,
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
        batch_op.create_index(
            batch_op.f("allocation_programme_id_idx"), ["programme_id"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("allocation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("allocation_programme_id_idx"))
        batch_op.drop_index(
            "allocation_one_active_per_application_key",
            postgresql_where=sa.text("status = 'active'"),
            sqlite_where=sa.text("status = 'active'"),
        )
        batch_op.drop_index(batch_op.f("allocation_measure_id_idx"))
        batch_op.drop_index(batch_op.f("allocation_call_id_idx"))
        batch_op.drop_index(batch_op.f("allocation_application_id_idx"))

    op.drop_table("allocation")
    op.drop_table("call_phase")
    op.drop_table("call_participation_limit")
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("application_status_idx"))
        batch_op.drop_index(batch_op.f("application_partnership_id_idx"))
        batch_op.drop_index(batch_op.f("application_measure_id_idx"))
        batch_op.drop_index(batch_op.f("application_district_id_idx"))
        batch_op.drop_index(batch_op.f("application_call_id_idx"))
        batch_op.drop_index(batch_op.f("application_applicant_organisation_id_idx"))

    op.drop_table("application")
    with op.batch_alter_table("partnership_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("partnership_member_organisation_id_idx"))
        batch_op.drop_index(
            "partnership_member_one_lead_key",
            postgresql_where=sa.text("role = 'lead'"),
            sqlite_where=sa.text("role = 'lead'"),
        )

    op.drop_table("partnership_member")
    with op.batch_alter_table("call", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("call_measure_id_idx"))
        batch_op.drop_index(batch_op.f("call_line_id_idx"))

    op.drop_table("call")
    with op.batch_alter_table("thematic_area", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("thematic_area_measure_id_idx"))

    op.drop_table("thematic_area")
    with op.batch_alter_table("partnership", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("partnership_district_id_idx"))

    op.drop_table("partnership")
    with op.batch_alter_table("measure_phase", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("measure_phase_measure_id_idx"))

    op.drop_table("measure_phase")
    with op.batch_alter_table("measure_line", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("measure_line_measure_id_idx"))

    op.drop_table("measure_line")
    with op.batch_alter_table("measure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("measure_programme_id_idx"))

    op.drop_table("measure")
    with op.batch_alter_table("district", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("district_lead_organisation_id_idx"))

    op.drop_table("district")
    op.drop_table("programme")
    op.drop_table("organisation")
