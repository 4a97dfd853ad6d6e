"""Store: the portal database — its schema and migrations, transactions and locks, a client's
stored state, the writes of a change set, the ledger and the operators' queries. `Database` is
its face; SQLAlchemy, Alembic and the database drivers live here and nowhere else."""

from etl.store.database import Database
from etl.store.errors import AlreadyApplied
from etl.store.ledger import RunRecord
from etl.store.migrate import head_revision

__all__ = ["AlreadyApplied", "Database", "RunRecord", "head_revision"]
