"""The JSON API v1, authenticated by API key; each module contributes its ROUTES."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any


def collect_routes(package: str) -> list[Any]:
    """Every `ROUTES` list of the package's modules, so adding a module adds its routes."""
    module = importlib.import_module(package)
    routes: list[Any] = []
    for info in sorted(pkgutil.iter_modules(module.__path__), key=lambda i: i.name):
        sub = importlib.import_module(f"{package}.{info.name}")
        routes.extend(getattr(sub, "ROUTES", []))
    return routes
