from sqlalchemy.orm import Session

from core import runner, service
from core.db import Database
from tests.conftest import make_extract


def test_an_extract_runs_end_to_end_into_its_data_table(db: Database, session: Session) -> None:
    extract = make_extract(session)
    [run] = service.run_extract(session=session, extract_id=extract.id)
    session.commit()

    done = runner.execute_run(db=db, run_id=run.id)

    assert done.status == "succeeded"
    assert done.rows == 7 * 20
    rows = service.preview_rows(session=session, extract_id=extract.id, limit=1000)
    assert len(rows) == 140
    assert set(rows["account_name"]) == {"Acme Retail"}
    assert service.get_extract(session=session, extract_id=extract.id).last_sync is not None
