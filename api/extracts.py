"""Extracts and their runs: /api/v3/extracts..., /api/v3/runs/..."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Query, Request, Response, status

from api.deps import MAX_ID, ExtractId, NowDep, RunId, SessionDep
from api.models import ExtractRunOut, PageNumber, PageSize, Paginated, RunRequest, paginated
from api.routing import BothSlashesRouter
from core import schemas, service
from core.vocabulary import ExtractStatus, RunStatus

router = BothSlashesRouter(tags=["extracts"])

OptionalId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


@router.get("/v3/extracts", response_model=Paginated[schemas.ExtractOut])
def list_extracts(
    request: Request, session: SessionDep, now: NowDep,
    connection_id: OptionalId = None,
    datasource_name: Annotated[str | None, Query(max_length=64)] = None,
    data_table_id: OptionalId = None,
    status: Annotated[ExtractStatus | None, Query()] = None,
    search: Annotated[str | None, Query(max_length=200,
                                        description="Part of the title.")] = None,
    page: PageNumber = 1, page_size: PageSize = 100,
) -> Paginated[schemas.ExtractOut]:
    """Extracts, ordered by id, filtered and paged."""
    found = service.list_extracts(
        session=session, connection_id=connection_id, datasource_name=datasource_name,
        data_table_id=data_table_id, status=status, search=search, page=page,
        page_size=page_size, now=now)
    return paginated(request, found.items, count=found.total, page=page, page_size=page_size)


def _create(session: SessionDep, now: NowDep, body: schemas.ExtractCreate
            ) -> list[schemas.ExtractOut]:
    return service.create_extracts(session=session, data=body, now=now)


@router.post("/v3/extracts", status_code=status.HTTP_201_CREATED,
             response_model=list[schemas.ExtractOut])
def create_extracts(session: SessionDep, now: NowDep, body: schemas.ExtractCreate
                    ) -> list[schemas.ExtractOut]:
    """Create one extract per account, in the order given, all writing to one data table."""
    return _create(session, now, body)


@router.post("/v3.1/extracts/", status_code=status.HTTP_201_CREATED,
             response_model=list[schemas.ExtractOut])
def create_extracts_v31(session: SessionDep, now: NowDep, body: schemas.ExtractCreate
                        ) -> list[schemas.ExtractOut]:
    """The same as POST /api/v3/extracts, at Improvado's v3.1 path."""
    return _create(session, now, body)


@router.get("/v3/extracts/{extract_id}", response_model=schemas.ExtractOut)
def get_extract(session: SessionDep, now: NowDep, extract_id: ExtractId) -> Response:
    """One extract."""
    found = service.get_extract(session=session, extract_id=extract_id, now=now)
    # Serialized here, as FastAPI would: returned as a model, it is validated once more, in
    # another hop into the thread pool (the most read endpoint; the answer is the same).
    return Response(found.model_dump_json(), media_type="application/json")


@router.put("/v3/extracts/{extract_id}", response_model=schemas.ExtractOut)
def update_extract(session: SessionDep, now: NowDep, extract_id: ExtractId,
                   body: schemas.ExtractUpdate) -> schemas.ExtractOut:
    """Replace an extract's configuration: an omitted optional key goes back to its default."""
    return service.update_extract(session=session, extract_id=extract_id, data=body, now=now)


@router.patch("/v3/extracts/{extract_id}", response_model=schemas.ExtractOut)
def patch_extract(session: SessionDep, now: NowDep, extract_id: ExtractId,
                  body: schemas.ExtractPatch) -> schemas.ExtractOut:
    """Change only the keys given; an explicit null clears sync_historical_data."""
    return service.patch_extract(session=session, extract_id=extract_id, data=body, now=now)


@router.delete("/v3/extracts/{extract_id}", status_code=status.HTTP_204_NO_CONTENT,
               response_class=Response)
def delete_extract(session: SessionDep, extract_id: ExtractId,
                   delete_rows: Annotated[bool, Query(
                       description="Also delete the rows it wrote to its data table.")] = False
                   ) -> Response:
    """Delete an extract with its schedules and runs; its rows stay unless asked."""
    service.delete_extract(session=session, extract_id=extract_id, delete_rows=delete_rows)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/v3/extracts/{extract_id}/run", response_model=ExtractRunOut)
def run_extract(session: SessionDep, now: NowDep, extract_id: ExtractId,
                body: Annotated[RunRequest | None, Body()] = None) -> ExtractRunOut:
    """Queue a manual run for a date window (split into chunks if long); answer with the
    extract, now `syncing`, and the queued run ids."""
    window = body or RunRequest()
    runs = service.run_extract(session=session, extract_id=extract_id,
                               date_from=window.date_from, date_to=window.date_to, now=now)
    extract = service.get_extract(session=session, extract_id=extract_id, now=now)
    return ExtractRunOut(**extract.model_dump(), run_ids=[r.id for r in runs],
                         already_queued_run_ids=[r.id for r in runs if r.already_queued])


@router.post("/v3/extracts/{extract_id}/pause", response_model=schemas.ExtractOut)
def pause_extract(session: SessionDep, now: NowDep, extract_id: ExtractId
                  ) -> schemas.ExtractOut:
    """Stop the extract's schedules from firing; manual runs still work."""
    return service.pause_extract(session=session, extract_id=extract_id, now=now)


@router.post("/v3/extracts/{extract_id}/unpause", response_model=schemas.ExtractOut)
def unpause_extract(session: SessionDep, now: NowDep, extract_id: ExtractId
                    ) -> schemas.ExtractOut:
    """Let the extract's schedules fire again."""
    return service.unpause_extract(session=session, extract_id=extract_id, now=now)


@router.get("/v3/extracts/{extract_id}/runs", response_model=list[schemas.RunOut],
            tags=["runs"])
def list_runs(session: SessionDep, extract_id: ExtractId,
              status: Annotated[RunStatus | None, Query()] = None,
              page: PageNumber = 1, page_size: PageSize = 100) -> list[schemas.RunOut]:
    """The extract's runs, newest first."""
    return service.list_runs(session=session, extract_id=extract_id, status=status,
                             limit=page_size, offset=(page - 1) * page_size)


@router.get("/v3/runs/{run_id}", response_model=schemas.RunOut, tags=["runs"])
def get_run(session: SessionDep, run_id: RunId) -> schemas.RunOut:
    """One run with its log."""
    return service.get_run(session=session, run_id=run_id)


@router.post("/v3/runs/{run_id}/cancel", response_model=schemas.RunOut, tags=["runs"])
def cancel_run(session: SessionDep, now: NowDep, run_id: RunId) -> schemas.RunOut:
    """Cancel a queued run now, or ask a running one to stop before its next chunk."""
    return service.cancel_run(session=session, run_id=run_id, now=now)
