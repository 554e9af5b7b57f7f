from __future__ import annotations

from pathlib import Path

from core import runner, service
from core.db import Database
from dashboard import navigation
from dashboard.connections_view import MASK, settings_caption
from dashboard.widgets import slot_key
from tests.conftest import make_extract
from tests.dashboard.conftest import open_page, shown, texts


def test_connections_list_the_demo_with_its_accounts_and_test_it(app_db: Database) -> None:
    at = open_page(navigation.CONNECTIONS)
    assert not at.exception
    card = at.get_by_key("connections_card_1")
    assert card.subheader[0].value == "Sample Ads"
    assert list(card.dataframe[0].value["account"]) == ["Acme Retail", "Globex Travel",
                                                        "Initech Software"]

    at.button(key="connections_test_1").click().run()
    assert "Sample Ads is reachable: 3 demo accounts" in texts(at)
    at.button(key="connections_refresh_1").click().run()
    assert not at.exception


def test_a_connection_is_added_from_its_config_form(app_db: Database) -> None:
    at = open_page(navigation.CONNECTIONS)
    at.selectbox(key="connections_datasource").select("sample_ads").run()
    at.text_input(key="connections_title").set_value("Big demo")
    at.number_input(key="connections_config_sample_ads_rows_per_day").set_value(500)
    at.button(key="FormSubmitter:connections_add_sample_ads-Add connection").click().run()

    assert not at.exception
    assert "Added 'Big demo' with 3 account(s)." in texts(at)
    with app_db.session() as s:
        [_, added] = service.list_connections(session=s)
    assert (added.title, added.config["rows_per_day"]) == ("Big demo", 500)


def test_an_empty_connection_title_is_shown_under_it(app_db: Database) -> None:
    at = open_page(navigation.CONNECTIONS)
    at.selectbox(key="connections_datasource").select("sample_ads").run()
    at.button(key="FormSubmitter:connections_add_sample_ads-Add connection").click().run()

    errors = [e.value for e in at.get_by_key(slot_key("connections", "title")).error]
    assert errors == ["must not be empty; name the connection"]
    with app_db.session() as s:
        assert len(service.list_connections(session=s)) == 1


def test_data_tables_empty_then_with_rows_and_a_preview(app_db: Database) -> None:
    at = open_page(navigation.DATA_TABLES)
    assert not at.exception
    assert "No data tables yet" in texts(at)

    with app_db.session() as s:
        extract = make_extract(s)
        [run] = service.run_extract(session=s, extract_id=extract.id)
    runner.execute_run(db=app_db, run_id=run.id)
    at.run()

    card = at.get_by_key(f"data_tables_card_{extract.data_table_id}")
    assert card.subheader[0].value == "Campaign stats"
    assert "140 rows" in card.caption[0].value
    at.toggle(key=f"data_tables_preview_{extract.data_table_id}").set_value(True).run()
    assert len(at.get_by_key(f"data_tables_card_{extract.data_table_id}").dataframe[0].value
               ) == 100


def test_a_data_table_links_to_its_extracts_by_title(app_db: Database) -> None:
    with app_db.session() as s:
        first = make_extract(s)
        make_extract(s, accounts=[2], title="Globex spend")

    at = open_page(navigation.DATA_TABLES)

    card = at.get_by_key(f"data_tables_card_{first.data_table_id}")
    assert not at.exception
    assert [link.label for link in card.get("page_link")] == [
        "Acme Retail · Campaign performance (daily)", "Globex spend"]


def test_every_datasource_has_a_config_form_and_the_new_extract_page_guides(
        app_db: Database) -> None:
    at = open_page(navigation.CONNECTIONS)
    for datasource in service.list_datasources():
        at.selectbox(key="connections_datasource").select(datasource.name).run()
        assert not at.exception, datasource.name

    at.switch_page(navigation.NEW_EXTRACT).run()
    for datasource in service.list_datasources():
        at.selectbox(key="new_datasource").select(datasource.name).run()
        assert not at.exception, datasource.name
        if datasource.name != "sample_ads":
            assert f"No {datasource.title} connection yet: add one first." in texts(at)


# -- edit, delete, refresh, masked secrets -------------------------------------------------


def test_a_secret_is_masked_only_when_one_is_set(app_db: Database, tmp_path: Path) -> None:
    (tmp_path / "s.db").touch()
    with app_db.session() as s:
        bare = service.create_connection(session=s, data={
            "datasource": "sql", "title": "No password",
            "config": {"url": f"sqlite:///{tmp_path}/s.db"}})

    at = open_page(navigation.CONNECTIONS)

    caption = at.get_by_key(f"connections_card_{bare.id}").caption[0].value
    assert "password" not in caption and MASK not in caption
    shown = bare.model_copy(update={"secrets_set": ["password"]})
    assert "password: " + MASK in settings_caption(shown)


def test_a_connection_is_edited_tested_and_saved(app_db: Database) -> None:
    at = open_page(navigation.CONNECTIONS)
    form = "connections_edit_1"
    at.text_input(key=f"{form}_title").set_value("Demo ads")
    at.number_input(key=f"{form}_config_rows_per_day").set_value(7)
    at.button(key=f"FormSubmitter:{form}-Test and save").click().run()

    assert not at.exception
    assert "Saved 'Demo ads': tested, accounts and templates refreshed." in texts(at)
    with app_db.session() as s:
        edited = service.get_connection(session=s, connection_id=1)
    assert (edited.title, edited.config["rows_per_day"]) == ("Demo ads", 7)

    at.text_input(key=f"{form}_title").set_value(" ")
    at.button(key=f"FormSubmitter:{form}-Test and save").click().run()
    errors = [e.value for e in at.get_by_key(slot_key(form, "title")).error]
    assert errors == ["must not be empty; name the connection"]
    assert "Nothing was saved: fix the problems marked above." in texts(at)


def test_delete_is_refused_while_an_extract_uses_it_then_deletes_both(app_db: Database
                                                                      ) -> None:
    with app_db.session() as s:
        extract = make_extract(s)
    at = open_page(navigation.CONNECTIONS)

    at.button(key="connections_delete_1").click().run()
    assert (f"connection 'Sample Ads' is used by 1 extract(s): {extract.id} "
            f"{extract.title!r}; delete those extracts first") in texts(at)

    at.checkbox(key="connections_delete_1_extracts").check().run()
    at.button(key="connections_delete_1").click().run()
    assert not at.exception
    assert "Deleted 'Sample Ads' and 1 extract(s)." in texts(at)
    assert "No connections yet" in texts(at)
    with app_db.session() as s:
        assert service.list_connections(session=s) == []


def test_refresh_shows_what_changed(app_db: Database) -> None:
    at = open_page(navigation.CONNECTIONS)
    at.button(key="connections_refresh_1").click().run()

    assert not at.exception
    assert "templates unchanged" in [i.value for i in at.info]


def test_an_extract_whose_source_changed_shows_schema_changed(app_db: Database,
                                                               tmp_path: Path) -> None:
    (tmp_path / "stats.csv").write_text("day,clicks\n2026-11-20,3\n")
    with app_db.session() as s:
        csv = service.create_connection(session=s, data={
            "datasource": "files", "title": "CSV", "config": {"path": str(tmp_path)}})
        [template] = service.list_templates(session=s, connection_id=csv.id, datasource="files")
        [extract] = service.create_extracts(session=s, data={
            "data_table_title": "CSV clicks", "template_id": template.id,
            "template_settings": {"fields": ["day", "clicks"]},
            "accounts": [csv.accounts[0].id]})
    (tmp_path / "stats.csv").write_text("day,visits\n2026-11-20,3\n")
    with app_db.session() as s:
        [run] = service.run_extract(session=s, extract_id=extract.id)
    assert runner.execute_run(db=app_db, run_id=run.id).status == "failed"

    at = open_page(navigation.EXTRACTS)
    [status] = list(at.dataframe[0].value["status"])
    assert status.endswith("error · schema changed")

    at = open_page(navigation.EXTRACT, extract_id=extract.id)
    assert not at.exception
    assert ":orange-badge[:material/schema: schema changed]" in texts(at)
    assert any("schema changed: field clicks is missing at the source" in shown(e.value)
               for e in at.error)

    # Refreshed: the edit page marks the gone field; saving without it clears the state.
    with app_db.session() as s:
        service.refresh_connection(session=s, connection_id=csv.id)
    page = f"edit_{extract.id}"
    at = open_page(navigation.EDIT_EXTRACT, extract_id=extract.id)
    box = at.checkbox(key=f"{page}_field_{template.id}_clicks")
    assert box.label == "clicks (gone from the source: untick it)"
    box.uncheck()
    at.checkbox(key=f"{page}_field_{template.id}_visits").check()
    at.button(key="edit_save").click().run()
    assert not at.exception
    with app_db.session() as s:
        edited = service.get_extract(session=s, extract_id=extract.id)
    assert (edited.fields, edited.schema_changed) == (["day", "visits"], None)
