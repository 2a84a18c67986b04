"""Regenerate migration 0001 from store/tables.py (only while stopline is unreleased).

Run: .venv/bin/python scripts/regen_initial_migration.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from alembic import command

from stopline.store.db import make_engine
from stopline.store.migrate import MIGRATIONS, alembic_config

target = MIGRATIONS / "versions" / "0001_initial_schema.py"
target.unlink(missing_ok=True)
with tempfile.TemporaryDirectory() as tmp:
    engine = make_engine(f"sqlite:///{Path(tmp) / 'gen.db'}")
    command.revision(
        alembic_config(engine), message="initial schema", autogenerate=True, rev_id="0001"
    )
print(f"wrote {target}")
