"""The API reference at /api/docs, served whole from this server: Swagger UI's files come from a
pip package, never a CDN, so the docs work on a machine with no internet.

The package is `swagger-ui-py` (it ships Swagger UI 5, which reads the OpenAPI 3.1 documents
Litestar writes; `swagger-ui-bundle` ships Swagger UI 4, which refuses them). Only its static
files are used, found without importing the package.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

ASSETS_PATH = "/api/docs/assets"


def swagger_assets() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("swagger-ui-py is not installed (pip install stopline installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


def render_plugin() -> SwaggerRenderPlugin:
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS_PATH}/favicon-32x32.png'>",
    )


def assets_router() -> Any:
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[swagger_assets()],
        name="api-docs-assets",
        include_in_schema=False,
    )
