"""The running process's shared pieces: configuration, database engine and keyring, made once."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from sqlalchemy import Engine

from stopline.config import Config
from stopline.config import load as load_config
from stopline.security import Keyring
from stopline.store.db import make_engine
from stopline.store.migrate import upgrade


@dataclass
class Runtime:
    config: Config

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.config.database_url)

    @cached_property
    def keyring(self) -> Keyring:
        return Keyring(self.config.secret_key)

    def migrate(self) -> None:
        upgrade(self.engine)

    @classmethod
    def from_env(cls, database_url: str | None = None) -> Runtime:
        return cls(load_config(database_url))
