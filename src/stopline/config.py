"""Process-wide configuration from the environment, with embedded defaults that need no setup."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Config:
    database_url: str
    data_dir: Path
    secret_key: str
    public_url: str | None
    # Where signed ledger checkpoints are also POSTed (JSON), and the bearer token to send.
    checkpoint_url: str | None = None
    checkpoint_token: str | None = None
    checkpoint_email: str | None = None  # also emailed here (over STOPLINE_SMTP_*)


def _secret_key(data_dir: Path) -> str:
    """STOPLINE_SECRET_KEY, else a random key kept in the data directory (created once, 0600)."""
    env = os.environ.get("STOPLINE_SECRET_KEY")
    if env:
        return env
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def load(database_url: str | None = None) -> Config:
    data_dir = Path(os.environ.get("STOPLINE_DATA_DIR", "stopline-data")).resolve()
    url = database_url or os.environ.get("STOPLINE_DATABASE_URL") or "sqlite:///stopline.db"
    return Config(
        database_url=url,
        data_dir=data_dir,
        secret_key=_secret_key(data_dir),
        public_url=os.environ.get("STOPLINE_PUBLIC_URL"),
        checkpoint_url=os.environ.get("STOPLINE_CHECKPOINT_URL") or None,
        checkpoint_token=os.environ.get("STOPLINE_CHECKPOINT_TOKEN") or None,
        checkpoint_email=os.environ.get("STOPLINE_CHECKPOINT_EMAIL") or None,
    )
