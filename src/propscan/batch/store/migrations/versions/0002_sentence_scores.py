"""Keep each analysis's sentence scores, so a stored analysis reads back whole, as the analyzer gave it.

Analyses stored by 0.2.0 get theirs from their spans, the way the analyzer computes them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

analyses = sa.table(
    "analyses",
    sa.column("run_id", sa.Integer),
    sa.column("document_id", sa.String),
    sa.column("sentences", sa.JSON),
)
documents = sa.table("documents", sa.column("id", sa.String), sa.column("text", sa.Text))
spans = sa.table(
    "spans",
    sa.column("run_id", sa.Integer),
    sa.column("document_id", sa.String),
    sa.column("start", sa.Integer),
    sa.column("end", sa.Integer),
    sa.column("technique", sa.String),
    sa.column("score", sa.Float),
)


def upgrade() -> None:
    op.add_column("analyses", sa.Column("sentences", sa.JSON(), nullable=True))
    _fill_sentences(op.get_bind())
    with op.batch_alter_table("analyses") as batch:
        batch.alter_column("sentences", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("analyses") as batch:
        batch.drop_column("sentences")


def _fill_sentences(connection: sa.Connection) -> None:
    from propscan.document import Document, Span
    from propscan.sentences import score_sentences

    stored = connection.execute(sa.select(analyses.c.run_id, analyses.c.document_id)).all()  # ids only: small
    for run_id, document_id in stored:
        text = connection.execute(sa.select(documents.c.text).where(documents.c.id == document_id)).scalar_one()
        found = connection.execute(
            sa.select(spans.c.start, spans.c.end, spans.c.technique, spans.c.score).where(
                spans.c.run_id == run_id, spans.c.document_id == document_id
            )
        )
        sentences = score_sentences(Document(text, document_id), [Span(*row) for row in found])
        connection.execute(
            analyses.update()
            .where(analyses.c.run_id == run_id, analyses.c.document_id == document_id)
            .values(sentences=[[s.start, s.end, s.score] for s in sentences])
        )
