"""campaign runs ended by a failure read as error

Revision ID: 3cd446268cda
Revises: 772b39782cd6
Create Date: 2026-12-07 12:42:50.789045
"""

from collections.abc import Sequence

from alembic import op

revision: str = "3cd446268cda"
down_revision: str | None = "772b39782cd6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The run status "failed" is now "error", engageSPARK's word in its subscription counts.
    op.execute("UPDATE campaign_runs SET status = 'error' WHERE status = 'failed'")


def downgrade() -> None:
    op.execute("UPDATE campaign_runs SET status = 'failed' WHERE status = 'error'")
