"""Alembic environment: migrate the connection that engine.py hands over.

There is no alembic.ini and no URL here: `engine.migrate` builds the Config in code and
passes an open connection in `config.attributes["connection"]`, so migrations run on
exactly the database (and, on PostgreSQL, the transaction) the caller chose.
"""

from alembic import context

from nmmstrial.errors import StoreError
from nmmstrial.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None or context.is_offline_mode():
    raise StoreError("nmmstrial migrations run on a connection given by nmmstrial.store.engine")

context.configure(connection=connection, target_metadata=metadata)
with context.begin_transaction():
    context.run_migrations()
