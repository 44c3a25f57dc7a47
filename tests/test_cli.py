"""The `kepu` CLI end to end on a temporary SQLite store: exit codes, error messages, output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {"KEPU_VAR_DIR": str(tmp_path / "var"), "KEPU_STORE_URL": ""}


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


GOOD = [
    {
        "id": "t-1",
        "title": "水稻稻飞虱的绿色防控",
        "summary": "用灯光诱杀和生物农药控制稻飞虱。",
        "topics": ["agri_tech"],
        "audiences": ["farmers"],
    },
    {"id": "t-2", "title": "老人防跌倒五个小动作", "summary": "在家就能练的平衡训练。", "topics": ["health"]},
]


def test_ingest_then_stats(tmp_path: Path, env: dict[str, str]) -> None:
    path = _jsonl(tmp_path / "items.jsonl", GOOD)
    result = runner.invoke(app, ["catalog", "ingest", str(path)], env=env)
    assert result.exit_code == 0, result.output
    assert "2 created" in result.output
    result = runner.invoke(app, ["catalog", "stats", "--json"], env=env)
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output)
    assert stats["items"] == 2
    assert stats["by_audience"]["farmers"] == 1
    assert stats["untagged"] == 1


def test_bad_row_names_file_line_field_and_writes_nothing(tmp_path: Path, env: dict[str, str]) -> None:
    bad = [*GOOD, {"id": "t-3", "title": "x", "topics": ["astrology"]}]
    path = _jsonl(tmp_path / "bad.jsonl", bad)
    result = runner.invoke(app, ["catalog", "ingest", str(path)], env=env)
    assert result.exit_code != 0
    assert f"{path}:3: topics" in result.output
    stats = json.loads(runner.invoke(app, ["catalog", "stats", "--json"], env=env).output)
    assert stats["items"] == 0


def test_missing_file_exits_nonzero(tmp_path: Path, env: dict[str, str]) -> None:
    result = runner.invoke(app, ["catalog", "ingest", str(tmp_path / "nope.csv")], env=env)
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_tag_keeps_fields_and_adds_audiences(tmp_path: Path, env: dict[str, str]) -> None:
    rows = [{**row, "custom_note": "keep me"} for row in GOOD]
    # `custom_note` is not an Item field: tagging must reject it with file and line.
    path = _jsonl(tmp_path / "in.jsonl", rows)
    result = runner.invoke(app, ["tag", "--input", str(path), "--output", str(tmp_path / "out.jsonl")], env=env)
    assert result.exit_code != 0
    assert f"{path}:1" in result.output
    path = _jsonl(tmp_path / "in.jsonl", GOOD)
    result = runner.invoke(app, ["tag", "--input", str(path), "--output", str(tmp_path / "out.jsonl")], env=env)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [o["id"] for o in out] == ["t-1", "t-2"]
    assert out[0]["audiences"] == ["farmers"]  # editor label wins
    assert out[1]["summary"] == GOOD[1]["summary"]
    assert "seniors" in out[1]["audiences"]
    assert set(out[1]["audience_scores"]) == set(out[1]["audiences"])


def test_evaluate_lists_protocols_and_rejects_unknown_one() -> None:
    result = runner.invoke(app, ["evaluate", "--list"])
    assert result.exit_code == 0
    assert "movielens-recbole" in result.output
    result = runner.invoke(app, ["evaluate", "--protocol", "nope"])
    assert result.exit_code == 2
    assert "unknown protocol" in result.output


@pytest.mark.dataset
def test_evaluate_recbole_json_from_the_dataset_folder(data_dir: Path) -> None:
    args = ["evaluate", "--protocol", "movielens-recbole", "--data-dir", str(data_dir / "movielens-100k")]
    result = runner.invoke(app, [*args, "--json", "--fast"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["protocol"] == "movielens-recbole"
    assert payload["summary"]["EASE"]["ndcg"]["mean"] >= 0.29


def test_embed_search_train_activate_on_a_small_catalog(tmp_path: Path, env: dict[str, str]) -> None:
    from content_catalog.demo_catalog import load_demo_items
    from content_catalog.store import Store
    from features.simulator import simulate

    items = load_demo_items()[::6]
    store = Store(f"sqlite:///{tmp_path / 'var' / 'kepu.db'}")
    try:
        store.upsert_items(items)
        users, events = simulate(items, n_users_per_audience=3, days=5, seed=1)
        for user in users:
            store.upsert_user(user)
        store.add_events(events)
    finally:
        store.close()
    result = runner.invoke(app, ["catalog", "embed"], env=env)
    assert result.exit_code == 0, result.output
    assert f"built: {len(items)} items" in result.output
    assert "synced (+0 ~0 -0)" not in result.output
    result = runner.invoke(app, ["catalog", "search", items[0].title, "-k", "3"], env=env)
    assert result.exit_code == 0, result.output
    assert items[0].id in result.output
    result = runner.invoke(app, ["catalog", "search", "x", "--audience", "martians"], env=env)
    assert result.exit_code == 2 and "unknown audience" in result.output
    result = runner.invoke(app, ["train", "--model", "word2rec"], env=env)
    assert result.exit_code == 1 and "unknown model 'word2rec'" in result.output
    result = runner.invoke(app, ["train", "--activate", "--seed", "3"], env=env)
    assert result.exit_code == 0, result.output
    version = result.output.split()[1]
    assert f"data: items {len(items)}, users " in result.output and f"events {len(events):,}," in result.output
    assert "served NDCG@10" in result.output
    assert "serving lightfm: too few validation users" in result.output  # 2 users cannot pick a model
    result = runner.invoke(app, ["models", "list"], env=env)
    assert result.exit_code == 0 and version in result.output and "✓" in result.output
    result = runner.invoke(app, ["models", "activate", "no-such-version"], env=env)
    assert result.exit_code == 1 and "not registered" in result.output


def test_train_without_events_fails_cleanly(tmp_path: Path, env: dict[str, str]) -> None:
    path = _jsonl(tmp_path / "items.jsonl", GOOD)
    assert runner.invoke(app, ["catalog", "ingest", str(path)], env=env).exit_code == 0
    result = runner.invoke(app, ["train"], env=env)
    assert result.exit_code == 1
    assert "no events" in result.output
