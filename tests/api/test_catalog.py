"""Datasources, templates, connections, accounts and data tables over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient

from core import runner
from core.db import Database
from tests.conftest import extract_body


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
