"""Keep, with each analysis, the map its model turned spans into sentence scores with.

The reading page scores the sentences again from the spans it shows when a reader filters them;
it needs the same map as the analyzer. Analyses stored before have none (null): their sentences
scored their best span's score, which is what an empty map means.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("analyses", sa.Column("sentence_calibration", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.drop_column("sentence_calibration")
