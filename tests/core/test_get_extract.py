"""get_extract reads an extract and its relations as rows of one statement; its answer must be
the one built from the ORM objects (as every other extract answer is), in every shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from core import errors, service
from core.models import Extract, Template
from core.services.common import extract_out
from tests.conftest import NOW, make_extract


def _from_orm(session: Session, extract_id: int) -> object:
    session.expire_all()
    return extract_out(session.get_one(Extract, extract_id), NOW + timedelta(hours=5))


def test_get_extract_answers_as_the_orm_objects_do(session: Session) -> None:
    plain = make_extract(session)
    three = make_extract(session, accounts=[2], schedules=[
        {"frequency": "weekly", "weekday": "fri", "hour": 6, "timezone": "Europe/Berlin"},
        {"frequency": "hourly", "every_hours": 4, "minute": 15, "lookback": 3},
        {"frequency": "daily", "hour": 23, "minute": 30}])
    unscheduled = make_extract(session, accounts=[3], data_table_title="Other")
    session.get_one(Extract, unscheduled.id).schedules.clear()  # runs on demand only
    paused = make_extract(session, data_table_title="Paused")
    service.pause_extract(session=session, extract_id=paused.id, now=NOW)
    drifted = make_extract(session, data_table_title="Drifted")
    session.get_one(Extract, drifted.id).schema_drift = "column 'spend' is now text"
    template = session.get_one(Template, 1)  # a refresh found "clicks" gone from the source
    template.fields = [{**f, "gone": True} if f["name"] == "clicks" else f
                       for f in template.fields]
    session.flush()

    ids = [plain.id, three.id, unscheduled.id, paused.id, drifted.id]
    answers = [service.get_extract(session=session, extract_id=i, now=NOW + timedelta(hours=5))
               for i in ids]

    assert answers == [_from_orm(session, i) for i in ids]
    assert [len(a.schedules) for a in answers] == [1, 3, 0, 1, 1]
    assert answers[1].schedules[0].frequency == "weekly"  # in their positions
    assert answers[2].next_run_at is None and answers[3].next_run_at is None
    assert answers[4].schema_changed == "column 'spend' is now text"
    assert answers[0].schema_changed is not None and "clicks" in answers[0].schema_changed


def test_get_extract_of_an_unknown_id_is_not_found(session: Session) -> None:
    with pytest.raises(errors.NotFound, match="extract 999 does not exist"):
        service.get_extract(session=session, extract_id=999, now=NOW)
