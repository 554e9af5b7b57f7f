"""The one entry: the dashboard at / and the REST API at /api in one process.

`python3 dev.py run` runs `streamlit run streamlit_app.py`. Streamlit's `st.App` serves the
dashboard (its main script is dashboard/router.py) as an ASGI app with the FastAPI app mounted
at /api and finished exports at /downloads; the lifespan opens the database and starts the
embedded worker once.
`uvicorn api.app:app` serves the API alone.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import streamlit as st
from starlette.routing import Mount

from api.app import create_api, serve
from api.deps import Backend
from core.config import get_settings
from dashboard import auth, downloads

ROUTER = Path(__file__).resolve().parent / "dashboard" / "router.py"

# Refuse to serve beyond this machine without sign-in; point st.login at the provider.
auth.configure(get_settings(), st.config.get_option("server.address") or "")

backend = Backend(db=None)


def lifespan(_app: Any) -> AbstractAsyncContextManager[None]:
    return serve(backend)


app = st.App(str(ROUTER), routes=[Mount("/api", app=create_api(backend)), downloads.ROUTE],
             lifespan=lifespan)
