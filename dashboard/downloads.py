"""The download address of finished exports: `/downloads/<token>/<file name>`, streamed from
the file (the server never holds it in memory). Mounted beside the dashboard by
streamlit_app.py; the random token is what grants access to one export."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from core import errors, service
from core.config import get_settings


def url(export: service.Export) -> str:
    """Where the browser downloads a finished export."""
    return f"/downloads/{export.token}/{export.file_name}"


async def download(request: Request) -> Response:
    try:
        path, name = service.export_file(settings=get_settings(),
                                         token=request.path_params["token"])
    except errors.NotFound as exc:
        return PlainTextResponse(f"{exc}; start the export again from the dashboard.",
                                 status_code=404)
    media = "text/csv" if name.endswith(".csv") else "application/vnd.apache.parquet"
    return FileResponse(path, filename=name, media_type=media)


ROUTE = Route("/downloads/{token}/{name}", download)
