"""Name the model that found each span, for runs whose spans come from more than one (a cascade).

Spans stored before have none (null), which means the run's model, as it does for any run of one model.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("spans", sa.Column("model", sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spans") as batch:
        batch.drop_column("model")
