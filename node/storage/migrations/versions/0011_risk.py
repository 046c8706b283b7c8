"""Risk: stored decisions, the identifier crosswalk and the watch list.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "risk_decisions",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("declaration_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("policy_hash", sa.String(length=80), nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assessed_by", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_risk_decisions")),
        sa.UniqueConstraint("id", name=op.f("uq_risk_decisions_id")),
    )
    op.create_index(
        op.f("ix_risk_decisions_declaration_id"),
        "risk_decisions",
        ["declaration_id"],
        unique=False,
    )
    op.create_table(
        "identifier_links",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scheme_a", sa.String(length=16), nullable=False),
        sa.Column("value_a", sa.String(length=70), nullable=False),
        sa.Column("scheme_b", sa.String(length=16), nullable=False),
        sa.Column("value_b", sa.String(length=70), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_identifier_links")),
        sa.UniqueConstraint(
            "scheme_a",
            "value_a",
            "scheme_b",
            "value_b",
            name=op.f("uq_identifier_links_scheme_a_value_a_scheme_b_value_b"),
        ),
    )
    op.create_index(
        op.f("ix_identifier_links_value_a"), "identifier_links", ["value_a"], unique=False
    )
    op.create_index(
        op.f("ix_identifier_links_value_b"), "identifier_links", ["value_b"], unique=False
    )
    op.create_table(
        "risk_watch_list",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("scheme", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=70), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_risk_watch_list")),
        sa.UniqueConstraint(
            "kind", "scheme", "value", name=op.f("uq_risk_watch_list_kind_scheme_value")
        ),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("risk_watch_list")
    op.drop_index(op.f("ix_identifier_links_value_b"), table_name="identifier_links")
    op.drop_index(op.f("ix_identifier_links_value_a"), table_name="identifier_links")
    op.drop_table("identifier_links")
    op.drop_index(op.f("ix_risk_decisions_declaration_id"), table_name="risk_decisions")
    op.drop_table("risk_decisions")
