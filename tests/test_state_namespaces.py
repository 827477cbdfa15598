"""One store, many projects (issue 20 point 2): every row of the state store carries its project's
namespace, and migration 4 moves the rows of a store made by the previous schema (version 3) into
the default namespace, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from pathlib import Path

import psycopg
import pytest

from reconciler.model import Link, ResourceKey
from reconciler.project import find_project
from reconciler.state import DEFAULT_NAMESPACE, LockTimeoutError, StateStore, open_store
from reconciler.state import postgres as pg_backend
from reconciler.state.base import Migration
from reconciler.state import sqlite as sqlite_backend

KEY = ResourceKey("demo-shop", "ShopCoupon", "welcome")
OLD_ROWS = (
    "INSERT INTO links (shop, kind, name, remote_id, record, updated_at) "
    "VALUES ('demo-shop', 'ShopCoupon', 'welcome', '501', '{\"coupon_id\": 501}', 0)",
    "INSERT INTO applied_specs (shop, kind, name, resource, applied_at) "
    "VALUES ('demo-shop', 'ShopCoupon', 'welcome', '{\"spec\": {}}', 0)",
    "INSERT INTO journal (run_id, shop, kind, name, method, params, call, status, sent_at) "
    "VALUES ('run-1', 'demo-shop', 'ShopCoupon', 'welcome', 'taobao.promotion.coupon.add', '{}', '{}', 'sent', 0)",
    "INSERT INTO revisions (revision, command, recorded_at) VALUES ('abc123', 'apply', '2026-12-01')",
)
Opener = Callable[[str], StateStore]  # namespace → a new connection to the same store


def _schema_v3(run: Callable[[str], object], steps: Sequence[Migration], version_table: str, *, sqlite: bool) -> None:
    """The store as the previous release left it: migrations 1-3, then rows written without a namespace."""
    run(version_table)
    applied_at = "0" if sqlite else "now()"  # SQLite keeps epoch seconds, PostgreSQL timestamptz
    for step in steps[:3]:
        for statement in step.statements:
            run(statement)
        run(f"INSERT INTO schema_version (version, description, applied_at) VALUES ({step.version}, 'v', {applied_at})")
    for statement in OLD_ROWS:
        run(statement if sqlite else statement.replace(", 0)", ", now())"))


@pytest.fixture(params=["sqlite", "postgresql"])
def old_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """A version-3 store with one shop's rows, and a way to open it in a namespace."""
    if request.param == "sqlite":
        location = str(tmp_path / "old.db")
        with closing(sqlite3.connect(location)) as db, db:
            _schema_v3(db.execute, sqlite_backend.MIGRATIONS, sqlite_backend._VERSION_TABLE, sqlite=True)
    else:
        location = request.getfixturevalue("postgres_url")
        with psycopg.connect(location, autocommit=True) as db:
            _schema_v3(db.execute, pg_backend.MIGRATIONS, pg_backend._VERSION_TABLE, sqlite=False)
    opened: list[StateStore] = []

    def open_in(namespace: str) -> StateStore:
        store = open_store({"RECONCILER_STATE": location, "RECONCILER_PROJECT_ID": namespace})
        opened.append(store)
        return store

    yield open_in
    for store in opened:
        store.close()


def test_migration_keeps_every_row_in_the_default_namespace(old_store: Opener) -> None:
    store = old_store(DEFAULT_NAMESPACE)
    assert store.schema_version() >= 4
    assert store.get(KEY) == Link(KEY, "501", {"coupon_id": 501})
    assert list(store.applied_specs()) == [KEY]
    assert [(e.run_id, e.key) for e in store.journal(status="sent")] == [("run-1", KEY)]
    assert store.last_revision("apply") == "abc123"
    # The journal entry is settled from the default namespace only.
    other = old_store("alpha")
    other.journal_failed(store.journal()[0].id, "not mine")
    assert [e.status for e in store.journal()] == ["sent"]


def test_namespaces_never_see_each_others_rows(old_store: Opener) -> None:
    alpha, beta = old_store("alpha"), old_store("beta")
    assert alpha.links() == [] and alpha.applied_specs() == {} and alpha.journal() == []
    assert alpha.last_revision("apply") is None
    alpha.put(Link(KEY, "7", {}))  # the same shop/kind/name as the default namespace's row
    beta.put(Link(KEY, "8", {}))
    alpha.put_applied_spec(KEY, {"spec": {"a": 1}})
    alpha.record_revision("def456", "apply")
    assert [link.remote_id for link in old_store("alpha").links()] == ["7"]
    assert [link.remote_id for link in old_store("beta").links()] == ["8"]
    # The ids alone (plan reads item pools by them while the manifests load), namespaced too.
    assert old_store("alpha").link_ids() == [(KEY, "7")] and old_store(DEFAULT_NAMESPACE).link_ids() == [(KEY, "501")]
    assert old_store(DEFAULT_NAMESPACE).get(KEY) == Link(KEY, "501", {"coupon_id": 501})
    assert old_store("beta").applied_specs() == {} and old_store("beta").last_revision("apply") is None
    alpha.remove(KEY)
    assert old_store("beta").get(KEY) == Link(KEY, "8", {})


def test_a_shops_lock_is_per_namespace(old_store: Opener) -> None:
    alpha, beta, alpha_again = old_store("alpha"), old_store("beta"), old_store("alpha")
    with alpha.lock("demo-shop", timeout=1):
        with beta.lock("demo-shop", timeout=0.2):
            pass  # another project's shop of the same name is not waited for
        with pytest.raises(LockTimeoutError, match="shop demo-shop is locked"):
            with alpha_again.lock("demo-shop", timeout=0.2):
                pass


def test_the_project_file_names_the_namespace(tmp_path: Path) -> None:
    (tmp_path / "reconciler.toml").write_text('id = "acme-campaigns"\n', encoding="utf-8")
    project = find_project([str(tmp_path)], {})
    assert project.id == "acme-campaigns" and project.env({})["RECONCILER_PROJECT_ID"] == "acme-campaigns"
    (tmp_path / "reconciler.toml").write_text("# before ids\n", encoding="utf-8")
    assert find_project([str(tmp_path)], {}).id == DEFAULT_NAMESPACE
