"""`kepu users erase|export` and `kepu maintenance purge` on SQLite and PostgreSQL: ids from arguments and
from a file (a bad line fails naming file and line, before anything is erased), the pepper applied
like the API applies it, exit codes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from content_catalog.pseudonyms import ClientIds
from content_catalog.schema import User
from content_catalog.store import Store
from content_catalog.store.types import utc_now
from tests.store_fixtures import (  # noqa: F401
    backend_fixture,
    make_event,
    make_item,
    pg_databases_fixture,
    pg_shared_database_fixture,
    store_fixture,
    store_url_fixture,
)

runner = CliRunner()


def _fill(store: Store, ids: ClientIds, users: list[str]) -> None:
    store.upsert_items([make_item("a")])
    for n, user in enumerate(users):
        store.upsert_user(User(id=ids.stored(user), town="璜泾镇"))
        store.add_events([make_event(f"e{n}", user_id=ids.stored(user), timestamp=utc_now())])


def test_erase_ids_and_file_then_export_fails(store: Store, store_url: str, tmp_path: Path) -> None:
    _fill(store, ClientIds(None), ["u-a", "u-b", "u-c", "u-keep"])
    env = {"KEPU_STORE_URL": store_url, "KEPU_ID_PEPPER": ""}
    exported = runner.invoke(app, ["users", "export", "u-a"], env=env)
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.output)["profile"]["town"] == "璜泾镇"

    listing = tmp_path / "erase.txt"
    listing.write_text("# requests of 2026-12\nu-b\n\nu-c\n", encoding="utf-8")
    result = runner.invoke(app, ["users", "erase", "u-a", "--file", str(listing), "--actor", "dpo"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [["u-a", "erased"], ["u-b", "erased"], ["u-c", "erased"]]
    assert {e.actor for e in store.audit_log(3)} == {"dpo"}
    assert [u for u in ("u-a", "u-b", "u-c", "u-keep") if store.get_user(u)] == ["u-keep"]

    missing = runner.invoke(app, ["users", "export", "u-a"], env=env)
    assert missing.exit_code == 1 and "nothing is held" in missing.output


def test_bad_line_in_the_file_erases_nothing(store: Store, store_url: str, tmp_path: Path) -> None:
    _fill(store, ClientIds(None), ["u-a"])
    listing = tmp_path / "erase.txt"
    listing.write_text("u-a\nnot an id!\n", encoding="utf-8")
    result = runner.invoke(app, ["users", "erase", "--file", str(listing)], env={"KEPU_STORE_URL": store_url})
    assert result.exit_code == 1
    assert f"{listing}:2: not a valid user id" in result.output
    assert store.get_user("u-a") is not None
    assert runner.invoke(app, ["users", "erase"], env={"KEPU_STORE_URL": store_url}).exit_code == 1


def test_pepper_finds_the_hashed_user(store: Store, store_url: str) -> None:
    ids = ClientIds("pepper-for-tests")
    _fill(store, ids, ["wx-openid-1"])
    env = {"KEPU_STORE_URL": store_url, "KEPU_ID_PEPPER": "pepper-for-tests"}
    result = runner.invoke(app, ["users", "erase", "wx-openid-1"], env=env)
    assert result.exit_code == 0 and "\terased\t" in result.output
    assert store.get_user(ids.stored("wx-openid-1")) is None


def test_maintenance_purge_uses_the_retention_setting(store: Store, store_url: str) -> None:
    store.upsert_items([make_item("a")])
    now = utc_now()
    store.add_events([make_event("old", timestamp=now - timedelta(days=40)), make_event("new", timestamp=now)])
    env = {"KEPU_STORE_URL": store_url, "KEPU_EVENT_RETENTION_DAYS": "30"}
    result = runner.invoke(app, ["maintenance", "purge"], env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("purged 1 events")
    assert list(store.events_frame()["event_id"]) == ["new"]
    off = runner.invoke(app, ["maintenance", "purge", "--days", "0"], env=env)
    assert off.exit_code == 0 and "nothing purged" in off.output


def test_models_delete_superseded_removes_old_bundle_folders(store: Store, store_url: str, tmp_path: Path) -> None:
    folders = {}
    for version in ("v1", "v2", "v3"):
        folders[version] = tmp_path / "models" / version
        folders[version].mkdir(parents=True)
        (folders[version] / "manifest.json").write_text("{}", encoding="utf-8")
        store.add_model_version(version, str(folders[version]))
    store.activate_model_version("v2")
    result = runner.invoke(app, ["models", "delete", "--superseded"], env={"KEPU_STORE_URL": store_url})
    assert result.exit_code == 0, result.output
    assert not folders["v1"].exists() and folders["v2"].exists() and folders["v3"].exists()
    assert sorted(v.version for v in store.list_model_versions()) == ["v2", "v3"]
    refused = runner.invoke(app, ["models", "delete", "v2"], env={"KEPU_STORE_URL": store_url})
    assert refused.exit_code == 1 and "active model version" in refused.output
