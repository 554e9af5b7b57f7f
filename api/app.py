"""The REST API: `uvicorn api.app:app` serves it at /api/v3/..., with docs at /api/docs.

`create_app(db)` builds the whole app around a given Database (tests, benchmarks);
`create_api(backend)` builds just the /api part, for mounting next to the dashboard.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import swagger_ui_bundle
from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api import alerts, audit, auth, catalog, errors, extracts
from api.deps import Backend, require_key
from api.hygiene import Hygiene
from core import service
from core.config import Settings, get_settings

DESCRIPTION = """\
Create, change, run and watch data extracts. Paths, field names and behaviour follow
Improvado's Embedded API v3.

Every endpoint but `POST /api/v3/token` needs `Authorization: Bearer ...`: a token from
`POST /api/v3/token` (HTTP Basic with an API key id and secret; valid 30 minutes) or the key's
secret itself. Create keys with `python -m core.apikeys create NAME --role ROLE`, or on the
dashboard's Settings page. A key acts with its role (never above its owner's): `viewer` reads,
`editor` also changes and runs extracts, `admin` also connections. Every change is written to
the audit log (`GET /api/v3/audit`).

Errors answer `{"details": "..."}`: 400 or 422 for bad input (each problem names its field),
401 without valid credentials, 403 when the key's role does not allow the request (the answer
names the role needed), 404 for unknown ids, 409 for conflicts, 413 for a body over the limit.
"""


def create_api(backend: Backend) -> FastAPI:
    """The API's routes at /v3/..., /v3.1/... and its docs at /docs: mount it at /api."""
    api = FastAPI(title="Extracts API", version="3", description=DESCRIPTION,
                  docs_url=None, redoc_url=None, openapi_url="/openapi.json",
                  responses=errors.ERROR_RESPONSES)
    api.state.backend = backend
    errors.install(api)
    api.add_middleware(Hygiene, max_bytes=lambda: _settings(backend).max_request_bytes)
    _serve_docs(api)
    api.include_router(auth.router)
    authenticated = [Depends(require_key)]
    api.include_router(extracts.router, dependencies=authenticated)
    api.include_router(catalog.router, dependencies=authenticated)
    api.include_router(audit.router, dependencies=authenticated)
    api.include_router(alerts.router, dependencies=authenticated)
    return api


def _settings(backend: Backend) -> Settings:
    return backend.db.settings if backend.db is not None else get_settings()


def _serve_docs(api: FastAPI) -> None:
    """Swagger UI at /docs with its assets served from the installed bundle: the docs work
    on a machine with no way out to a CDN."""
    api.mount("/docs/assets", StaticFiles(directory=swagger_ui_bundle.swagger_ui_path),
              name="docs-assets")

    @api.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json", title=f"{api.title} - docs",
            swagger_js_url=f"{root}/docs/assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs/assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs/assets/favicon-32x32.png")


def _start_embedded_worker(db: service.Database) -> Callable[[], Any] | None:
    """Start the embedded worker (once per process); return how to stop it."""
    if service.start_embedded(db) is None:
        return None
    return service.stop_embedded


@contextlib.asynccontextmanager
async def serve(backend: Backend) -> AsyncIterator[None]:
    """Open the database (unless the backend has one) and the embedded worker, then close."""
    if backend.db is not None:
        yield
        return
    db = backend.db = service.open_database(get_settings())
    stop_worker = _start_embedded_worker(db) if db.settings.embedded_worker else None
    try:
        yield
    finally:
        if stop_worker is not None:
            stop_worker()
        backend.db = None
        db.dispose()


def create_app(db: service.Database | None = None, *,
               clock: Callable[[], datetime] = service.utcnow) -> FastAPI:
    """The whole app: the API mounted at /api. Without `db`, the lifespan opens the
    configured database (and starts the embedded worker if enabled)."""
    backend = Backend(db=db, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with serve(backend):
            yield

    app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.backend = backend
    errors.install(app)
    app.mount("/api", create_api(backend))

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/api/docs")

    return app


app = create_app()
