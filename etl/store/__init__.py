"""Store: the portal database — its schema and migrations, transactions and locks, a client's
stored state, the writes of a change set, the ledger and the operators' queries. `Database` is
its face; SQLAlchemy, Alembic and the database drivers live here and nowhere else. `glance`
reads what `etl status` needs without SQLAlchemy; the names below are imported when first used
(etl.core.lazy)."""

from typing import TYPE_CHECKING

from etl.core import lazy

if TYPE_CHECKING:
    from etl.store.database import Database
    from etl.store.errors import AlreadyApplied
    from etl.store.glance import head_revision
    from etl.store.ledger import RunRecord

__all__ = ["AlreadyApplied", "Database", "RunRecord", "head_revision"]
__getattr__ = lazy.names(__name__, {"AlreadyApplied": "errors", "Database": "database",
                                    "RunRecord": "ledger", "head_revision": "glance"})
