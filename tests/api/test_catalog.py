"""Datasources, templates, connections, accounts and data tables over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from core import runner
from core.db import Database
from tests.conftest import extract_body
from tests.core.connectors.conftest import PG_URL, require_server


def test_datasources(client: TestClient) -> None:
    answer = client.get("/api/v3/datasources")

    assert answer.status_code == 200
    assert "sample_ads" in [d["name"] for d in answer.json()]


def test_extract_templates_of_a_datasource_and_one_template(client: TestClient) -> None:
    templates = client.get("/api/v3/datasources/sample_ads/extract-templates").json()
    one = client.get(f"/api/v3/extract-template/{templates[0]['id']}/")

    assert [t["title"] for t in templates][:1] == ["Campaign performance (daily)"]
    assert one.status_code == 200
    assert one.json() == templates[0]
    assert "clicks" in [f["name"] for f in one.json()["fields"]]


def test_unknown_datasource_and_template_are_404(client: TestClient) -> None:
    for path in ("/api/v3/datasources/nope/extract-templates",
                 "/api/v3/datasources/nope/connections"):
        answer = client.get(path)
        assert answer.status_code == 404
        assert answer.json()["details"].startswith("datasource 'nope' does not exist; known: ")
    answer = client.get("/api/v3/extract-template/999/")
    assert answer.status_code == 404
    assert answer.json() == {"details": "template 999 does not exist"}


def test_connections_of_a_datasource_with_accounts_and_never_secrets(client: TestClient) -> None:
    [demo] = client.get("/api/v3/datasources/sample_ads/connections").json()
    accounts = client.get(f"/api/v3/connections/{demo['id']}/accounts")

    assert demo["title"] == "Sample Ads"
    assert [a["name"] for a in accounts.json()] == [a["name"] for a in demo["accounts"]]
    assert len(accounts.json()) == 3
    assert client.get("/api/v3/connections/999/accounts").status_code == 404


def test_create_connection_answers_201_and_hides_secrets(client: TestClient) -> None:
    answer = client.post("/api/v3/connections", json={
        "datasource": "sample_ads", "title": "Second demo", "config": {"rows_per_day": 5}})

    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["title"] == "Second demo" and made["config"]["rows_per_day"] == 5
    assert len(made["accounts"]) == 3
    assert "secrets" not in made


def test_create_connection_with_bad_input_is_400_naming_the_field(client: TestClient) -> None:
    unknown = client.post("/api/v3/connections", json={"datasource": "nope", "title": "x"})
    empty = client.post("/api/v3/connections", json={"datasource": "sample_ads", "title": " "})

    assert unknown.status_code == 400
    assert unknown.json()["details"].startswith("datasource: unknown datasource 'nope'")
    assert empty.status_code == 400
    assert empty.json()["details"] == "title: must not be empty; name the connection"


def test_data_tables_and_their_rows_paged(client: TestClient, db: Database) -> None:
    [made] = client.post("/api/v3/extracts", json=extract_body(accounts=[1])).json()
    run_ids = client.post(f"/api/v3/extracts/{made['id']}/run",
                          json={"date_from": "2026-11-20", "date_to": "2026-11-21"}
                          ).json()["run_ids"]
    for run_id in run_ids:
        runner.execute_run(db=db, run_id=run_id)

    [table] = client.get("/api/v3/data-tables").json()
    one = client.get(f"/api/v3/data-tables/{table['id']}").json()
    first = client.get(f"/api/v3/data-tables/{table['id']}/rows",
                       params={"page_size": 3}).json()
    second = client.get(first["next"]).json()

    assert table == one
    assert table["title"] == "Campaign stats" and table["extract_ids"] == [made["id"]]
    assert table["row_count"] > 3 and first["count"] == table["row_count"]
    assert len(first["results"]) == 3 and first["previous"] is None
    assert {"date", "campaign_id", "clicks", "spend", "account_id", "__extract_id"} <= set(
        first["results"][0])
    assert first["results"] != second["results"]
    assert {r["__extract_id"] for r in first["results"]} == {made["id"]}
    assert {r["date"] for r in first["results"] + second["results"]} <= {"2026-11-20",
                                                                          "2026-11-21"}
    assert client.get("/api/v3/data-tables/999").status_code == 404
    assert client.get("/api/v3/data-tables/999/rows").status_code == 404


def test_docs_are_served_without_a_token_and_the_root_points_to_them(
        anonymous: TestClient) -> None:
    docs = anonymous.get("/api/docs")
    schema = anonymous.get("/api/openapi.json")
    root = anonymous.get("/", follow_redirects=False)

    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert schema.json()["servers"] == [{"url": "/api"}]
    assert "/v3/extracts/{extract_id}/run" in schema.json()["paths"]
    assert (root.status_code, root.headers["location"]) == (307, "/api/docs")


# -- edit, delete, refresh -----------------------------------------------------------------


def pg_connection(client: TestClient) -> dict[str, Any]:
    """A sql connection to the test PostgreSQL server (trust: the password is not needed,
    but it is stored as a secret)."""
    require_server("PostgreSQL", PG_URL)
    answer = client.post("/api/v3/connections", json={
        "datasource": "sql", "title": "Local PostgreSQL",
        "config": {"url": PG_URL, "password": "hunter2-secret"}})
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def test_patch_connection_keeps_the_secret_and_refuses_an_edit_that_fails_its_test(
        client: TestClient) -> None:
    made = pg_connection(client)
    assert made["secrets_set"] == ["password"]

    renamed = client.patch(f"/api/v3/connections/{made['id']}", json={
        "title": "Renamed", "max_concurrent_runs": 4, "config": {"password": ""}})
    assert renamed.status_code == 200, renamed.text
    assert (renamed.json()["title"], renamed.json()["max_concurrent_runs"],
            renamed.json()["secrets_set"]) == ("Renamed", 4, ["password"])
    assert "hunter2-secret" not in renamed.text

    broken = client.patch(f"/api/v3/connections/{made['id']}", json={
        "title": "Broken", "config": {"url": PG_URL.rsplit("/", 1)[0] + "/no_such_db_14"}})
    assert broken.status_code == 400
    assert broken.json()["details"].startswith(
        "config: the test of the changed settings failed, nothing was saved: ")
    assert "no_such_db_14" in broken.json()["details"]
    assert "hunter2" not in broken.text
    now = client.get(f"/api/v3/connections/{made['id']}").json()
    assert (now["title"], now["config"]["url"]) == ("Renamed", PG_URL)

    unknown = client.patch(f"/api/v3/connections/{made['id']}", json={"colour": "blue"})
    assert unknown.status_code == 422
    for method, path in (("PATCH", "/api/v3/connections/999"),
                         ("DELETE", "/api/v3/connections/999"),
                         ("POST", "/api/v3/connections/999/refresh")):
        answer = client.request(method, path, json={} if method == "PATCH" else None)
        assert (answer.status_code, answer.json()) == (
            404, {"details": "connection 999 does not exist"})


def write_stats(folder: Path, columns: dict[str, list[Any]]) -> None:
    folder.mkdir(exist_ok=True)
    names = list(columns)
    lines = [",".join(names)] + [",".join(str(columns[n][i]) for n in names)
                                 for i in range(len(columns[names[0]]))]
    (folder / "stats.csv").write_text("\n".join(lines) + "\n")


def test_refresh_delete_and_schema_changed_over_http(client: TestClient, db: Database,
                                                     tmp_path: Path) -> None:
    folder = tmp_path / "csv"
    days = ["2026-11-20", "2026-11-21"]
    write_stats(folder, {"day": days, "clicks": [3, 4], "spend": [1.5, 2.5]})
    connection = client.post("/api/v3/connections", json={
        "datasource": "files", "title": "Stats CSV", "config": {"path": str(folder)}}).json()
    [template] = client.get("/api/v3/datasources/files/extract-templates",
                            params={"connection_id": connection["id"]}).json()
    [extract] = client.post("/api/v3/extracts", json={
        "data_table_title": "CSV stats", "template_id": template["id"],
        "accounts": [connection["accounts"][0]["id"]],
        "template_settings": {"fields": ["day", "clicks", "spend"]}}).json()

    write_stats(folder, {"day": days, "spend": [1.5, 2.5], "visits": [7, 8]})
    [run_id] = client.post(f"/api/v3/extracts/{extract['id']}/run",
                           json={"date_from": days[0], "date_to": days[1]}).json()["run_ids"]
    failed = runner.execute_run(db=db, run_id=run_id)
    assert failed.status == "failed"
    shown = client.get(f"/api/v3/extracts/{extract['id']}").json()
    assert shown["schema_changed"] == failed.error
    assert shown["schema_changed"].startswith("schema changed: field clicks is missing at "
                                              "the source")

    refreshed = client.post(f"/api/v3/connections/{connection['id']}/refresh")
    assert refreshed.status_code == 200, refreshed.text
    [change] = refreshed.json()["templates"]
    assert (change["change"], change["fields_added"], change["fields_gone"],
            change["extract_ids"]) == ("changed", ["visits"], ["clicks"], [extract["id"]])
    fields = client.get(f"/api/v3/extract-template/{template['id']}/").json()["fields"]
    assert {f["name"]: f["gone"] for f in fields} == {
        "day": False, "spend": False, "visits": False, "clicks": True}

    refused = client.delete(f"/api/v3/connections/{connection['id']}")
    assert refused.status_code == 409
    assert refused.json()["details"].startswith(
        f"connection 'Stats CSV' is used by 1 extract(s): {extract['id']} ")

    deleted = client.delete(f"/api/v3/connections/{connection['id']}",
                            params={"delete_extracts": "true"})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"id": connection["id"], "deleted_extract_ids": [extract["id"]]}
    assert client.get(f"/api/v3/connections/{connection['id']}").status_code == 404
    assert client.get(f"/api/v3/extracts/{extract['id']}").status_code == 404
    # The data table stays readable: its template is kept, no longer offered.
    [table] = [t for t in client.get("/api/v3/data-tables").json() if t["title"] == "CSV stats"]
    assert client.get(f"/api/v3/data-tables/{table['id']}/rows").status_code == 200
    assert client.get("/api/v3/datasources/files/extract-templates").json() == []
