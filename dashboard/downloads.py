"""The download address of finished exports: `/downloads/<token>/<file name>`, streamed from
the file (the server never holds it in memory). Mounted beside the dashboard by
streamlit_app.py. The random token names one export; with sign-in configured, the browser
must also carry the identity cookie of a signed-in person (a leaked link alone is not
enough)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from core import errors, service
from core.config import Settings, get_settings
from dashboard import auth


def url(export: service.Export) -> str:
    """Where the browser downloads a finished export."""
    return f"/downloads/{export.token}/{export.file_name}"


def signed_in_email(request: Request, settings: Settings) -> str | None:
    """The email of the person whose Streamlit identity cookie the request carries, if it is
    genuine (signed with this deployment's cookie secret, not expired) and signed in."""
    # Streamlit's own cookie reading: its name, chunking and signature scheme.
    from streamlit.auth_util import get_cookie_with_chunks
    from streamlit.web.server.starlette.starlette_app_utils import decode_signed_value
    from streamlit.web.server.starlette.starlette_server_config import USER_COOKIE_NAME

    secret = auth.cookie_secret(settings)

    def one(name: str) -> bytes | None:
        raw = request.cookies.get(name)
        return None if raw is None else decode_signed_value(secret, name,
                                                             raw.encode("latin-1"))

    decoded = get_cookie_with_chunks(one, USER_COOKIE_NAME)
    if decoded is None:
        return None
    try:
        payload = json.loads(decoded)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(payload, dict) or not payload.get("is_logged_in"):
        return None
    return str(payload.get("email") or "") or None


async def download(request: Request) -> Response:
    settings = get_settings()
    if settings.sign_in and signed_in_email(request, settings) is None:
        return PlainTextResponse("Sign in to the dashboard first, then open the download link "
                                 "again (it works only in a signed-in browser).",
                                 status_code=401)
    try:
        path, name = service.export_file(settings=settings, token=request.path_params["token"])
    except errors.NotFound as exc:
        return PlainTextResponse(f"{exc}; start the export again from the dashboard.",
                                 status_code=404)
    media = "text/csv" if name.endswith(".csv") else "application/vnd.apache.parquet"
    return FileResponse(path, filename=name, media_type=media)


ROUTE = Route("/downloads/{token}/{name}", download)
