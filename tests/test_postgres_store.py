"""The PostgreSQL store behaves as the SQLite store does (same interface, same answers), against a
real server; plus what only a shared store needs: migrations, locks across connections."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from reconciler.errors import StateError
from reconciler.model import DropLink, Link, Ref, ResourceKey, SetLink, SetRecordEntry
from reconciler.state import LockTimeoutError, StateStore, open_store
from reconciler.state.postgres import MIGRATIONS as PG_MIGRATIONS
from reconciler.state.postgres import PostgresStateStore, safe_url
from reconciler.state.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from reconciler.state.sqlite import SqliteStateStore

KEY = ResourceKey("demo-shop", "ItemPoolActivity", "fresh")
Opener = Callable[[], StateStore]


@pytest.fixture(params=["sqlite", "postgresql"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens a new connection to one store each call, as separate processes would."""
    if request.param == "sqlite":
        location = str(tmp_path / "state.db")
    else:
        location = request.getfixturevalue("postgres_url")
    opened: list[StateStore] = []

    def open_one() -> StateStore:
        store = open_store({"RECONCILER_STATE": location})
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


def test_url_picks_the_backend(postgres_url: str, tmp_path: Path) -> None:
    with open_store({"RECONCILER_STATE": postgres_url}) as store:
        assert isinstance(store, PostgresStateStore)
    with open_store({"RECONCILER_STATE": f"sqlite:///{tmp_path}/s.db"}) as store:
        assert isinstance(store, SqliteStateStore)


def test_links_round_trip_with_exact_decimals(opener: Opener) -> None:
    store = opener()
    record = {"activity": {"amount": Decimal("12.50"), "title": "满30减12"}, "items": {"1001": {"fix_price": 990}}}
    store.put(Link(KEY, "501", record))
    assert store.get(KEY) == Link(KEY, "501", record)
    assert isinstance(store.get(KEY).record["activity"]["amount"], Decimal)  # type: ignore[union-attr]
    store.put(Link(KEY, "502", {}))
    assert [link.remote_id for link in opener().links("demo-shop")] == ["502"]
    assert store.links("other-shop") == []
    store.remove(KEY)
    assert store.get(KEY) is None


def test_journal_and_effects_commit_together(opener: Opener) -> None:
    store = opener()
    entry = store.journal_sent("run-1", KEY, "create", {"title": "x"}, {"binds": {"id": "result"}})
    assert [e.status for e in store.journal(status="sent")] == ["sent"]
    store.journal_answered(entry, KEY, {"result": 77}, [SetLink(Ref("id"), {"items": {}})], {"id": 77})
    store.journal_answered(
        store.journal_sent("run-1", KEY, "additem", {"sku": "1"}, {}), KEY, {}, [SetRecordEntry("items", "1", {"sku": "1"})], {}
    )
    failed = store.journal_sent("run-1", KEY, "additem", {"sku": "2"}, {})
    store.journal_failed(failed, "isv.item-not-found")

    other = opener()
    assert other.get(KEY) == Link(KEY, "77", {"items": {"1": {"sku": "1"}}})
    entries = other.journal(run_id="run-1")
    assert [(e.method, e.status) for e in entries] == [("create", "ok"), ("additem", "ok"), ("additem", "failed")]
    assert entries[0].call == {"binds": {"id": "result"}} and entries[2].error == "isv.item-not-found"

    store.journal_answered(store.journal_sent("run-2", KEY, "delete", {}, {}), KEY, {}, [DropLink()], {})
    assert other.get(KEY) is None


def test_applied_specs_go_with_their_link(opener: Opener) -> None:
    store = opener()
    store.put(Link(KEY, "1", {}))
    store.put_applied_spec(KEY, {"spec": {"amount": Decimal("0.10")}})
    assert opener().applied_specs("demo-shop") == {KEY: {"spec": {"amount": Decimal("0.10")}}}
    store.remove(KEY)
    assert store.applied_specs() == {}


def test_migrations_run_once_and_record_their_version(opener: Opener) -> None:
    first, second = opener(), opener()
    latest = (PG_MIGRATIONS if isinstance(first, PostgresStateStore) else SQLITE_MIGRATIONS)[-1].version
    assert first.schema_version() == second.schema_version() == latest
    assert PG_MIGRATIONS[-1].version == SQLITE_MIGRATIONS[-1].version  # both backends in step


def test_a_store_newer_than_the_code_is_refused(postgres_url: str) -> None:
    PostgresStateStore(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("INSERT INTO schema_version (version, description) VALUES (99, 'from the future')")
    with pytest.raises(StateError, match="schema version 99, newer than this reconciler knows"):
        PostgresStateStore(postgres_url)


def test_sqlite_store_from_before_versioning_is_adopted(tmp_path: Path) -> None:
    import sqlite3
    from contextlib import closing

    path = tmp_path / "old.db"
    # closing(): sqlite3's own `with` commits but leaves the connection open (Python 3.13 warns).
    with closing(sqlite3.connect(path)) as db, db:
        db.executescript(SQLITE_MIGRATIONS[0].statements[0] + ";")
        db.execute("INSERT INTO links VALUES ('demo-shop', 'ItemPoolActivity', 'fresh', '9', '{}', 0)")
    with SqliteStateStore(str(path)) as store:
        assert store.schema_version() == SQLITE_MIGRATIONS[-1].version
        assert store.get(KEY) == Link(KEY, "9", {})


def test_second_lock_waits_then_fails_naming_the_shop(opener: Opener) -> None:
    holder, waiter = opener(), opener()
    told: list[str] = []
    with holder.lock("demo-shop", timeout=1):
        started = time.monotonic()
        with pytest.raises(LockTimeoutError) as raised:
            with waiter.lock("demo-shop", timeout=0.3, on_wait=told.append):
                pass
        assert time.monotonic() - started >= 0.25
        with waiter.lock("other-shop", timeout=0.3):
            pass  # other shops are not blocked
    message = str(raised.value)
    assert "shop demo-shop is locked by another apply" in message and "--lock-timeout" in message
    assert told and "reconciler pid" in told[0]
    with waiter.lock("demo-shop", timeout=0.3):
        pass  # released with the block


def test_waiting_lock_is_granted_when_released(opener: Opener) -> None:
    holder, waiter = opener(), opener()
    order: list[str] = []
    holding = threading.Event()

    def hold() -> None:
        with holder.lock("demo-shop", timeout=1):
            holding.set()
            time.sleep(0.4)
            order.append("first done")

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(2)
    with waiter.lock("demo-shop", timeout=5):
        order.append("second in")
    thread.join()
    assert order == ["first done", "second in"]


def test_lock_dies_with_its_connection(postgres_url: str) -> None:
    holder = PostgresStateStore(postgres_url)
    waiter = PostgresStateStore(postgres_url)
    with holder.lock("demo-shop", timeout=1):
        holder.close()  # as when the process holding it crashes
        with waiter.lock("demo-shop", timeout=2):
            pass
    waiter.close()


def test_connection_errors_never_show_the_password(postgres_server: str) -> None:
    bad = postgres_server.replace("@", ":s3cret-pass@", 1).rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(StateError) as raised:
        PostgresStateStore(bad)
    assert "s3cret-pass" not in str(raised.value)
    assert "no_such_db" in str(raised.value)
    assert safe_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"


def test_a_role_that_may_only_select_can_open_and_read(postgres_url: str) -> None:
    with PostgresStateStore(postgres_url) as writer:  # creates the tables
        writer.put(Link(KEY, "5", {}))
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute("CREATE ROLE plan_reader LOGIN")
        admin.execute("GRANT SELECT ON ALL TABLES IN SCHEMA public TO plan_reader")
    reader_url = postgres_url.replace("postgres@", "plan_reader@", 1)
    try:
        with PostgresStateStore(reader_url) as reader:
            assert reader.get(KEY) == Link(KEY, "5", {})
            with pytest.raises(StateError, match="permission denied for table links"):
                reader.put(Link(KEY, "6", {}))
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM plan_reader")
            admin.execute("DROP ROLE plan_reader")


def test_the_revision_last_applied_is_remembered(opener: Opener) -> None:
    """`apply --revision` records it; the schedule reconciles it (reconcile.yml)."""
    store = opener()
    assert store.last_revision("apply") is None
    store.record_revision("a" * 40, "apply")
    store.record_revision("b" * 40, "apply")
    store.record_revision("c" * 40, "something else")
    assert store.last_revision("apply") == opener().last_revision("apply") == "b" * 40
