"""Alembic environment: migrates the engine handed over by stopline.store.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from stopline.store.db import make_engine
from stopline.store.tables import metadata

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only when alembic's own CLI is used
    url = config.get_main_option("sqlalchemy.url")
    engine = make_engine(url) if url else create_engine("sqlite://")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
