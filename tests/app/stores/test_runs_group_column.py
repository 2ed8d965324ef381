"""The runs table's `group_id` column (seed groups) came after the first databases: a database made
without it gains it on first use, keeps its runs, and stores groups, on SQLite and on PostgreSQL."""

from __future__ import annotations

from sqlalchemy import Column, MetaData, Table, create_engine, insert, inspect

from app.runs import store as runs_store
from app.runs.store import RunStore, runs


def _old_database(url: str) -> None:
    """The runs table as RL Dojo created it before seed groups, with one run in it."""
    old = MetaData()
    columns = [
        Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
        for c in runs.columns
        if c.name != "group_id"
    ]
    table = Table("runs", old, *columns)
    engine = create_engine(url)
    try:
        old.create_all(engine)
        with engine.begin() as conn:
            conn.execute(
                insert(table).values(
                    id="20200101-000000-aaaaaa",
                    algorithm="fake-count",
                    config="{}",
                    status="finished",
                    created_at=1.0,
                    progress=1.0,
                    stop_requested=False,
                )
            )
        assert "group_id" not in {c["name"] for c in inspect(engine).get_columns("runs")}
    finally:
        engine.dispose()


def test_an_older_database_gains_the_group_column_and_keeps_its_runs(database) -> None:
    database.data_dir.mkdir(parents=True, exist_ok=True)
    url = database.url or f"sqlite:///{database.data_dir / runs_store.FILE_NAME}"
    _old_database(url)
    runs_store.dispose_all()

    store = RunStore(database.data_dir, url=database.url)
    old = store.get("20200101-000000-aaaaaa")
    assert old is not None and old.status == "finished" and old.group_id is None
    store.create("20200101-000000-bbbbbb", "fake-count", {}, session="cli", label="seed 0", group="seeds-x")
    store.create("20200101-000000-cccccc", "fake-count", {}, session="cli", label=None)
    assert [r.id for r in store.list(group="seeds-x")] == ["20200101-000000-bbbbbb"]
    assert store.get("20200101-000000-bbbbbb").group_id == "seeds-x"

    runs_store.dispose_all()  # a second process opening it: nothing left to change, nothing lost
    again = RunStore(database.data_dir, url=database.url)
    assert len(again.list()) == 3
    indexes = {index["name"] for index in inspect(again.engine).get_indexes("runs")}
    assert "runs_group" in indexes
