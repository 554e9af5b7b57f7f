"""One process serving the dashboard at / and the REST API at /api (`python3 dev.py run`).

Streamlit's `st.App` runs the dashboard script (streamlit_app.py) as an ASGI app with the
FastAPI app mounted at /api; its lifespan opens the database and starts the embedded worker
once. `streamlit run streamlit_app.py` still serves the dashboard alone, and
`uvicorn api.app:app` the API alone.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

import streamlit as st
from starlette.routing import Mount

from api.app import create_api, serve
from api.deps import Backend

backend = Backend(db=None)


def lifespan(_app: Any) -> AbstractAsyncContextManager[None]:
    return serve(backend)


app = st.App("streamlit_app.py", routes=[Mount("/api", app=create_api(backend))],
             lifespan=lifespan)
