"""Settings from EXTRACTS_* variables, and the secret key generated on first use."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import errors
from core.config import SETTINGS, Settings, get_settings, secret_key
from core.crypto import Cipher


def test_defaults_work_on_a_laptop() -> None:
    settings = get_settings({})

    assert settings.var_dir == Path("var")
    assert settings.database_url == "sqlite:///./var/extracts.db"
    assert settings.warehouse_url == "sqlite:///./var/warehouse.db"
    assert settings.secret_key == ""
    assert (settings.schedules_limit, settings.max_workers, settings.backfill_chunk_days) == (
        3, 4, 31)
    assert settings.seed_demo is True


def test_the_sqlite_files_follow_var_dir(tmp_path: Path) -> None:
    settings = get_settings({"EXTRACTS_VAR_DIR": str(tmp_path / "data")})

    assert settings.var_dir == tmp_path / "data"
    assert settings.database_url == f"sqlite:///{tmp_path}/data/extracts.db"
    assert settings.warehouse_url == f"sqlite:///{tmp_path}/data/warehouse.db"


def test_values_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXTRACTS_DATABASE_URL", "postgresql://db.example/extracts")
    monkeypatch.setenv("EXTRACTS_SCHEDULES_LIMIT", " 5 ")
    monkeypatch.setenv("EXTRACTS_SEED_DEMO", "off")
    monkeypatch.setenv("EXTRACTS_MAX_WORKERS", "")  # empty means the default

    settings = get_settings()

    assert settings.database_url == "postgresql://db.example/extracts"
    assert settings.schedules_limit == 5
    assert settings.seed_demo is False
    assert settings.max_workers == 4


def test_every_setting_has_a_help_text() -> None:
    assert all(s.help.strip() for s in SETTINGS)
    names = {s.name.lower() for s in SETTINGS}
    assert names == set(Settings.__dataclass_fields__)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("SCHEDULES_LIMIT", "three", "EXTRACTS_SCHEDULES_LIMIT='three' must be a whole number, "
                                 "1 or more"),
    ("MAX_WORKERS", "0", "EXTRACTS_MAX_WORKERS='0' must be 1 or more"),
    ("BACKFILL_CHUNK_DAYS", "-7", "EXTRACTS_BACKFILL_CHUNK_DAYS='-7' must be 1 or more"),
    ("SEED_DEMO", "maybe", "EXTRACTS_SEED_DEMO='maybe' must be true or false"),
    ("DUCKDB_MEMORY_LIMIT", "lots", "EXTRACTS_DUCKDB_MEMORY_LIMIT='lots' must be an amount "
                                    "of memory such as 128MB or 2GB"),
    ("DUCKDB_MEMORY_LIMIT", "128", "EXTRACTS_DUCKDB_MEMORY_LIMIT='128' must be an amount "
                                   "of memory such as 128MB or 2GB"),
    ("DUCKDB_THREADS", "0", "EXTRACTS_DUCKDB_THREADS='0' must be 1 or more"),
])
def test_a_bad_value_names_the_variable_and_what_would_be_right(name: str, value: str,
                                                                 message: str) -> None:
    with pytest.raises(errors.Invalid) as info:
        get_settings({f"EXTRACTS_{name}": value})

    assert str(info.value) == message


def test_every_bad_value_is_reported_at_once() -> None:
    with pytest.raises(errors.Invalid) as info:
        get_settings({"EXTRACTS_MAX_WORKERS": "many", "EXTRACTS_EMBEDDED_WORKER": "perhaps"})

    assert "EXTRACTS_MAX_WORKERS='many'" in str(info.value)
    assert "EXTRACTS_EMBEDDED_WORKER='perhaps'" in str(info.value)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would let anyone read new files, so only the code keeps them private."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def test_the_generated_secret_key_is_private_and_reused(tmp_path: Path,
                                                        open_umask: None) -> None:
    settings = get_settings({"EXTRACTS_VAR_DIR": str(tmp_path / "var")})
    path = tmp_path / "var" / "secret.key"
    assert not path.exists()

    key = secret_key(settings)

    assert len(key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text().strip() == key
    # A later start (a new Settings, as another process would build) reads the same key,
    # so secrets saved before can still be decrypted.
    again = secret_key(get_settings({"EXTRACTS_VAR_DIR": str(tmp_path / "var")}))
    assert again == key
    token = Cipher(key).encrypt({"api_key": "abc"})
    assert Cipher(again).decrypt(token) == {"api_key": "abc"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_configured_secret_key_is_used_and_nothing_is_written(tmp_path: Path) -> None:
    settings = get_settings({"EXTRACTS_VAR_DIR": str(tmp_path / "var"),
                             "EXTRACTS_SECRET_KEY": "from-the-environment"})

    assert secret_key(settings) == "from-the-environment"
    assert not (tmp_path / "var" / "secret.key").exists()


def test_a_different_key_cannot_read_old_secrets(tmp_path: Path) -> None:
    token = Cipher("first key").encrypt({"api_key": "abc"})

    with pytest.raises(errors.Conflict, match="not the key they were saved with"):
        Cipher("second key").decrypt(token)
