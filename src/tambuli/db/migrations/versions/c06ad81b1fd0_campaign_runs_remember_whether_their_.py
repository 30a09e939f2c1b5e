"""campaign runs remember whether their time zone was given

Revision ID: c06ad81b1fd0
Revises: 3cd446268cda
Create Date: 2026-12-07 12:56:57.634311
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c06ad81b1fd0"
down_revision: str | None = "3cd446268cda"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("time_zone_given", sa.Boolean(), server_default="0", nullable=False)
        )
    # Runs already under way had every step timed in their own zone: they keep that schedule.
    runs = sa.table("campaign_runs", sa.column("status"), sa.column("time_zone_given"))
    op.execute(
        runs.update()
        .where(runs.c.status.in_(["active", "paused"]))
        .values(time_zone_given=sa.true())
    )


def downgrade() -> None:
    with op.batch_alter_table("campaign_runs", schema=None) as batch_op:
        batch_op.drop_column("time_zone_given")
