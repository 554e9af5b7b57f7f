"""The extract and run endpoints over HTTP: shapes, status codes, PUT vs PATCH, errors."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from core.db import Database
from tests.conftest import extract_body


def create(client: TestClient, **overrides: Any) -> list[dict[str, Any]]:
    answer = client.post("/api/v3/extracts", json=extract_body(**overrides))
    assert answer.status_code == 201, answer.text
    created: list[dict[str, Any]] = answer.json()
    return created


SEED_FIELDS = ["id", "title", "connection_id", "account_id", "account_name", "created_at",
               "last_sync", "status", "error_text", "schedules_limit", "sync_historical_data"]


def test_create_answers_201_with_one_extract_per_account_in_the_order_given(
        client: TestClient) -> None:
    created = create(client, accounts=[2, 1])

    assert [e["account_id"] for e in created] == [2, 1]
    assert all(set(SEED_FIELDS) <= set(e) for e in created)
    assert {e["data_table_title"] for e in created} == {"Campaign stats"}
    assert created[0]["created_at"] == "2026-11-28T10:00:00Z"


def test_create_also_answers_at_the_v31_path(client: TestClient) -> None:
    answer = client.post("/api/v3.1/extracts/", json=extract_body(accounts=[3]))

    assert answer.status_code == 201
    assert [e["account_id"] for e in answer.json()] == [3]


def test_paths_answer_with_or_without_a_trailing_slash(client: TestClient) -> None:
    with_slash = client.post("/api/v3/extracts/", json=extract_body(accounts=[1]))
    without = client.post("/api/v3.1/extracts", json=extract_body(accounts=[2]))
    one = client.get(f"/api/v3/extracts/{with_slash.json()[0]['id']}/")
    ran = client.post(f"/api/v3/extracts/{with_slash.json()[0]['id']}/run/", json={})
    patched = client.patch(f"/api/v3/extracts/{without.json()[0]['id']}/", json={"title": "T"})
    template = client.get("/api/v3/extract-template/1")

    assert (with_slash.status_code, without.status_code) == (201, 201)
    assert (one.status_code, ran.status_code, patched.status_code) == (200, 200, 200)
    assert template.status_code == 200
    assert client.get("/api/openapi.json").json()["paths"].keys() >= {
        "/v3/extracts", "/v3.1/extracts/", "/v3/extract-template/{template_id}/"}
    assert "/v3/extracts/" not in client.get("/api/openapi.json").json()["paths"]
    del client.headers["Authorization"]
    assert client.post("/api/v3/extracts/", json=extract_body()).status_code == 401


def test_list_filters_and_pages_with_links(client: TestClient) -> None:
    create(client, accounts=[1, 2, 3])
    create(client, data_table_title="Geo", template_id=3,
           template_settings={"fields": ["date", "country", "clicks"]}, accounts=[1])

    everything = client.get("/api/v3/extracts").json()
    first = client.get("/api/v3/extracts", params={"page_size": 2}).json()
    second = client.get(first["next"]).json()
    geo = client.get("/api/v3/extracts", params={"data_table_id": 2}).json()

    assert everything["count"] == 4 and everything["next"] is None
    assert [e["id"] for e in first["results"]] == [1, 2]
    assert [e["id"] for e in second["results"]] == [3, 4]
    assert second["previous"] is not None and second["next"] is None
    assert [e["data_table_title"] for e in geo["results"]] == ["Geo"]
    assert client.get("/api/v3/extracts", params={"status": "paused"}).json()["count"] == 0
    assert client.get("/api/v3/extracts",
                      params={"datasource_name": "sample_ads"}).json()["count"] == 4
    assert client.get("/api/v3/extracts", params={"connection_id": 99}).json()["count"] == 0


def test_get_one_extract(client: TestClient) -> None:
    [made] = create(client, accounts=[1])

    answer = client.get(f"/api/v3/extracts/{made['id']}")

    assert answer.status_code == 200
    assert answer.json() == made


def test_put_replaces_and_patch_changes_only_what_is_given(client: TestClient) -> None:
    [made] = create(client, accounts=[1], sync_historical_data="2026-11-01",
                    additional_params={"team": "growth"},
                    template_settings={"fields": ["date", "campaign_id", "clicks"],
                                       "filters": [{"field": "clicks", "operator": "gt",
                                                    "value": 5}]})
    url = f"/api/v3/extracts/{made['id']}"

    patched = client.patch(url, json={"fields": ["date", "campaign_id", "spend"]}).json()
    assert patched["fields"] == ["date", "campaign_id", "spend"]
    assert patched["filters"] == made["filters"] != []
    assert patched["additional_params"] == {"team": "growth"}
    assert patched["sync_historical_data"] == "2026-11-01"

    replaced = client.put(url, json={"fields": ["date", "campaign_id", "clicks"]}).json()
    assert replaced["fields"] == ["date", "campaign_id", "clicks"]
    assert replaced["filters"] == []
    assert replaced["additional_params"] == {}
    assert replaced["sync_historical_data"] is None

    cleared = client.patch(url, json={"sync_historical_data": "2026-11-20"}).json()
    assert cleared["sync_historical_data"] == "2026-11-20"
    assert client.patch(url, json={"sync_historical_data": None}).json()[
        "sync_historical_data"] is None


def test_put_without_fields_is_refused_naming_the_field(client: TestClient) -> None:
    [made] = create(client, accounts=[1])

    answer = client.put(f"/api/v3/extracts/{made['id']}", json={"filters": []})

    assert answer.status_code == 422
    assert answer.json() == {"details": "fields: is required"}


def test_delete_answers_204_and_the_extract_is_gone(client: TestClient) -> None:
    [made] = create(client, accounts=[1])
    url = f"/api/v3/extracts/{made['id']}"

    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_run_queues_the_window_and_answers_with_the_extract_syncing(client: TestClient) -> None:
    [made] = create(client, accounts=[1])

    answer = client.post(f"/api/v3/extracts/{made['id']}/run",
                         json={"date_from": "2026-10-01", "date_to": "2026-11-27"})

    body = answer.json()
    assert answer.status_code == 200
    assert body["id"] == made["id"] and body["status"] == "syncing"
    runs = client.get(f"/api/v3/extracts/{made['id']}/runs").json()
    assert sorted(r["id"] for r in runs) == body["run_ids"] and len(runs) == 2  # 31-day chunks
    assert {(r["date_from"], r["date_to"]) for r in runs} == {
        ("2026-10-01", "2026-10-31"), ("2026-11-01", "2026-11-27")}
    assert {r["trigger"] for r in runs} == {"manual"}


def test_a_second_request_for_a_queued_window_says_it_joined_the_run(
        client: TestClient) -> None:
    [made] = create(client, accounts=[1])
    url = f"/api/v3/extracts/{made['id']}/run"
    window = {"date_from": "2026-11-01", "date_to": "2026-11-27"}

    first = client.post(url, json=window).json()
    second = client.post(url, json={"date_from": "2026-11-05", "date_to": "2026-11-06"}).json()

    assert (len(first["run_ids"]), first["already_queued_run_ids"]) == (1, [])
    assert second["run_ids"] == second["already_queued_run_ids"] == first["run_ids"]
    assert len(client.get(f"/api/v3/extracts/{made['id']}/runs").json()) == 1


def test_run_without_a_body_uses_the_lookback(client: TestClient) -> None:
    [made] = create(client, accounts=[1])

    answer = client.post(f"/api/v3/extracts/{made['id']}/run")

    [run_id] = answer.json()["run_ids"]
    run = client.get(f"/api/v3/runs/{run_id}").json()
    assert (run["date_from"], run["date_to"]) == ("2026-11-22", "2026-11-28")


def test_run_with_a_reversed_window_is_400_naming_the_field(client: TestClient) -> None:
    [made] = create(client, accounts=[1])

    answer = client.post(f"/api/v3/extracts/{made['id']}/run",
                         json={"date_from": "2026-11-10", "date_to": "2026-11-01"})

    assert answer.status_code == 400
    assert answer.json() == {"details": "date_from: date_from 2026-11-10 is after date_to "
                                        "2026-11-01"}


def test_run_with_a_date_that_is_not_a_date_is_422_naming_the_field(client: TestClient) -> None:
    [made] = create(client, accounts=[1])

    answer = client.post(f"/api/v3/extracts/{made['id']}/run", json={"date_from": "2025-02-30"})

    assert answer.status_code == 422
    assert answer.json()["details"].startswith("date_from: must be an ISO date")


def test_pause_and_unpause(client: TestClient) -> None:
    [made] = create(client, accounts=[1])

    paused = client.post(f"/api/v3/extracts/{made['id']}/pause").json()
    unpaused = client.post(f"/api/v3/extracts/{made['id']}/unpause").json()

    assert paused["status"] == "paused" and paused["next_run_at"] is None
    assert unpaused["status"] == "active" and unpaused["next_run_at"] is not None


def test_run_with_its_log_and_cancel(client: TestClient) -> None:
    [made] = create(client, accounts=[1])
    [run_id] = client.post(f"/api/v3/extracts/{made['id']}/run").json()["run_ids"]

    cancelled = client.post(f"/api/v3/runs/{run_id}/cancel")
    again = client.post(f"/api/v3/runs/{run_id}/cancel")
    read = client.get(f"/api/v3/runs/{run_id}").json()

    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert again.json() == {"details": f"run {run_id} is already cancelled; only queued or "
                                       "running runs can be cancelled"}
    assert read["status"] == "cancelled"
    assert read["log"][-1]["message"] == "cancelled: by request"
    assert client.get(f"/api/v3/extracts/{made['id']}").json()["status"] == "active"


def test_runs_filter_by_status(client: TestClient) -> None:
    [made] = create(client, accounts=[1])
    [first] = client.post(f"/api/v3/extracts/{made['id']}/run").json()["run_ids"]
    client.post(f"/api/v3/runs/{first}/cancel")
    [second] = client.post(f"/api/v3/extracts/{made['id']}/run").json()["run_ids"]

    queued = client.get(f"/api/v3/extracts/{made['id']}/runs", params={"status": "queued"})

    assert [r["id"] for r in queued.json()] == [second]


def test_bad_create_body_lists_every_problem_and_writes_nothing(client: TestClient) -> None:
    answer = client.post("/api/v3/extracts", json=extract_body(
        template_settings={"fields": ["date", "nope", "also_nope"]}, accounts=[1, 99]))

    details = answer.json()["details"]
    assert answer.status_code == 400
    assert "template_settings.fields: unknown field(s) nope, also_nope" in details
    assert "accounts: unknown account id(s) 99" in details
    assert client.get("/api/v3/extracts").json()["count"] == 0
    assert client.get("/api/v3/data-tables").json() == []


def test_wrong_shapes_are_422_naming_each_field(client: TestClient) -> None:
    answer = client.post("/api/v3/extracts", json={"template_id": "one", "accounts": "1",
                                                   "colour": "red"})

    details = answer.json()["details"]
    assert answer.status_code == 422
    for part in ("data_table_title: is required", "template_id: must be a whole number",
                 "accounts: must be a list", "colour: is not a known field"):
        assert part in details


def test_a_body_that_is_not_json_is_422(client: TestClient) -> None:
    answer = client.post("/api/v3/extracts", content=b"{not json",
                         headers={"Content-Type": "application/json"})

    assert answer.status_code == 422
    assert "is not valid JSON" in answer.json()["details"]


def test_unknown_ids_are_404(client: TestClient) -> None:
    for method, path in [("GET", "/api/v3/extracts/42"), ("PUT", "/api/v3/extracts/42"),
                         ("PATCH", "/api/v3/extracts/42"), ("DELETE", "/api/v3/extracts/42"),
                         ("POST", "/api/v3/extracts/42/run"),
                         ("POST", "/api/v3/extracts/42/pause"),
                         ("POST", "/api/v3/extracts/42/unpause"),
                         ("GET", "/api/v3/extracts/42/runs"), ("GET", "/api/v3/runs/42"),
                         ("POST", "/api/v3/runs/42/cancel")]:
        body = {"fields": ["date", "campaign_id"]} if method in ("PUT", "PATCH") else None
        answer = client.request(method, path, json=body)
        assert answer.status_code == 404, (method, path)
        assert answer.json()["details"] in ("extract 42 does not exist", "run 42 does not exist")


def test_ids_too_large_for_the_database_are_422_not_500(client: TestClient) -> None:
    answer = client.get(f"/api/v3/extracts/{2**63}")

    assert answer.status_code == 422
    assert answer.json()["details"].startswith("extract_id: ")


def test_deleting_an_extract_with_a_running_run_is_409(client: TestClient, db: Database) -> None:
    [made] = create(client, accounts=[1])
    [run_id] = client.post(f"/api/v3/extracts/{made['id']}/run").json()["run_ids"]
    with db.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE runs SET status = 'running' WHERE id = {run_id}")

    answer = client.delete(f"/api/v3/extracts/{made['id']}")

    assert answer.status_code == 409
    assert answer.json()["details"].startswith(f"extract {made['id']} has run {run_id} in "
                                               "progress")


HUGE = 2**70


def test_numbers_too_large_for_the_database_are_bad_input_not_500(client: TestClient) -> None:
    [made] = create(client, accounts=[1])
    huge_schedule = {"frequency": "daily", "hour": HUGE, "minute": HUGE, "every_hours": HUGE,
                     "day_of_month": HUGE, "weekday": HUGE, "lookback": HUGE}
    attempts = [
        ("POST", "/api/v3/extracts", extract_body(template_id=HUGE)),
        ("POST", "/api/v3/extracts", extract_body(accounts=[HUGE])),
        ("POST", "/api/v3/extracts", extract_body(schedules=[huge_schedule])),
        ("PATCH", f"/api/v3/extracts/{made['id']}", {"schedules": [huge_schedule]}),
        ("POST", "/api/v3/connections", {"datasource": "sample_ads", "title": "x",
                                         "max_concurrent_runs": HUGE,
                                         "config": {"rows_per_day": HUGE}}),
        ("GET", "/api/v3/extracts?page=1000000&page_size=1000", None),
        ("GET", f"/api/v3/extracts?connection_id={HUGE}", None),
        ("GET", f"/api/v3/extracts/{made['id']}/runs?page=1000000&page_size=1000", None),
    ]
    for method, url, body in attempts:
        answer = client.request(method, url, json=body)
        assert answer.status_code < 500, (method, url, answer.text)
