"""The runs table's `group_id` column (seed groups) came after the first databases: a database made
without it gains it on first use, keeps its runs, and stores groups, on SQLite and on PostgreSQL;
also when 8 processes open a fresh folder, or an older database, at the same moment."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, Table, create_engine, insert, inspect

from app.runs import store as runs_store
from app.runs.store import RunStore, runs
from tests.app.stores.test_both_engines import _WAIT, _processes


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


# --- many processes at once -----------------------------------------------------------------------
_GROUPED = (
    _WAIT
    + """from app.runs.store import RunStore
me = sys.argv[1]
runs = RunStore()  # the first statement of every process: creating the tables or adding the column
runs.create("run-" + me, "fake-count", {}, "p" + me, "seed " + me, group="seeds-" + str(int(me) % 2))
runs.append_metrics("run-" + me, [{"i": i} for i in range(5)])
print(len(runs.list(group="seeds-" + str(int(me) % 2))) >= 1)
"""
)


def _check_grouped(database, before: list[str]) -> None:
    runs_store.dispose_all()
    store = RunStore(database.data_dir, url=database.url)
    assert sorted(r.id for r in store.list()) == sorted([*before, *(f"run-{i}" for i in range(8))])
    for parity in (0, 1):
        assert sorted(r.id for r in store.list(group=f"seeds-{parity}")) == [f"run-{i}" for i in range(parity, 8, 2)]
    assert all(len(store.metrics(f"run-{i}")) == 5 for i in range(8))
    columns = [c["name"] for c in inspect(store.engine).get_columns("runs")]
    assert columns.count("group_id") == 1
    assert "runs_group" in {index["name"] for index in inspect(store.engine).get_indexes("runs")}


@pytest.mark.parametrize("repeat", range(2))
def test_eight_processes_on_a_fresh_folder_store_their_groups(database, repeat: int) -> None:
    assert not database.data_dir.exists()  # fresh: every process's first statement races the others
    assert _processes(database, _GROUPED, 8) == ["True\n"] * 8
    _check_grouped(database, before=[])


@pytest.mark.parametrize("repeat", range(2))
def test_eight_processes_opening_an_older_database_add_the_column_once(database, repeat: int) -> None:
    """The migration itself raced: 8 processes open a database made before seed groups at the same
    moment; every one of them adds the column or finds it added, none fails, no run is lost."""
    database.data_dir.mkdir(parents=True, exist_ok=True)
    _old_database(database.url or f"sqlite:///{database.data_dir / runs_store.FILE_NAME}")
    runs_store.dispose_all()
    assert _processes(database, _GROUPED, 8) == ["True\n"] * 8
    _check_grouped(database, before=["20200101-000000-aaaaaa"])
