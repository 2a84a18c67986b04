"""The HTTP application: JSON API, Twilio-compatible API, provider webhooks and the web UI on one port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, get
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from sqlalchemy.exc import DataError

from stopline import __version__
from stopline.domain.errors import StoplineError
from stopline.runtime import Runtime
from stopline.web import api_docs
from stopline.web.api import collect_routes
from stopline.web.deps import api_principal
from stopline.web.errors import (
    document_error_envelope,
    http_error_handler,
    stopline_error_handler,
    unstorable_value_handler,
)
from stopline.web.framing import forbid_framing
from stopline.web.json_body import StoplineRequest


@get("/health", tags=["ops"], sync_to_thread=False)
def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@asynccontextmanager
async def _worker_lifespan(app: Litestar) -> AsyncIterator[None]:
    """`stopline serve` runs a worker in-process so the embedded default needs one command."""
    from stopline.worker.runner import InProcessWorker

    worker = InProcessWorker(app.state["runtime"])
    worker.start()
    try:
        yield
    finally:
        worker.stop()


def create_app(runtime: Runtime, *, debug: bool = False, run_worker: bool = False) -> Litestar:
    routes: list[Any] = [health, api_docs.assets_router()]
    for package in (
        "stopline.web.api",
        "stopline.web.twilio",
        "stopline.web.webhooks",
        "stopline.web.ui",
    ):
        routes.extend(collect_routes(package))
    app = Litestar(
        route_handlers=routes,
        dependencies={"principal": Provide(api_principal, sync_to_thread=True)},
        exception_handlers={
            StoplineError: stopline_error_handler,
            HTTPException: http_error_handler,
            # Input no column can hold (ids beyond 64 bits, NUL bytes): 422, not a 500.
            OverflowError: unstorable_value_handler,
            DataError: unstorable_value_handler,
        },
        openapi_config=OpenAPIConfig(
            title="stopline",
            version=__version__,
            path="/api/docs",
            render_plugins=[api_docs.render_plugin()],
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(type="http", scheme="bearer", description="API key")
                }
            ),
            security=[{"apiKey": []}],
        ),
        request_max_body_size=110 * 1024 * 1024,
        request_class=StoplineRequest,
        after_request=forbid_framing,
        debug=debug,
        lifespan=[_worker_lifespan] if run_worker else [],
    )
    app.state["runtime"] = runtime
    document_error_envelope(app.openapi_schema)
    return app
