"""The settings root on its own (issue 18.2): Scope parsed once and asked covers(key), one clock
per run, the groups built once from flags and the environment, and a Shop profile kept typed as
ShopConnection whose saved-plan form is the one plan files have always held."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler.errors import SettingsError
from reconciler.manifest.loader import load_manifest_texts
from reconciler.model import ResourceKey
from reconciler.project import Project
from reconciler.settings import (
    EVERYTHING,
    Clock,
    SafetySettings,
    Scope,
    Settings,
    ShopConnection,
    Target,
    connections_of,
    parse_moment,
)

REPO = Path(__file__).resolve().parents[1]
TEA = ResourceKey("demo-shop", "ItemDiscount", "tea")
COFFEE = ResourceKey("demo-shop", "ItemDiscount", "coffee")
OTHER_SHOP_TEA = ResourceKey("other-shop", "ItemDiscount", "tea")


def test_a_target_is_kind_name_or_shop_kind_name() -> None:
    assert Target.parse("ItemDiscount/tea") == Target("ItemDiscount", "tea")
    assert Target.parse("demo-shop/ItemDiscount/tea") == Target("ItemDiscount", "tea", shop="demo-shop")
    assert str(Target.parse("demo-shop/ItemDiscount/tea")) == "demo-shop/ItemDiscount/tea"
    for wrong in ("tea", "a/b/c/d", "ItemDiscount/", "/ItemDiscount/tea"):
        with pytest.raises(SettingsError, match="KIND/NAME or SHOP/KIND/NAME"):
            Target.parse(wrong)


def test_scope_covers_what_its_targets_and_shops_name() -> None:
    assert EVERYTHING.covers(TEA) and not EVERYTHING.limited
    by_kind_name = Scope.parse(["ItemDiscount/tea"])
    assert by_kind_name.covers(TEA) and by_kind_name.covers(OTHER_SHOP_TEA) and not by_kind_name.covers(COFFEE)
    in_one_shop = Scope.parse(["demo-shop/ItemDiscount/tea"])
    assert in_one_shop.covers(TEA) and not in_one_shop.covers(OTHER_SHOP_TEA)
    shops = Scope.parse(shops=["other-shop"])
    assert shops.limited and shops.covers(OTHER_SHOP_TEA) and not shops.covers(TEA)
    assert Scope.parse(prune=True).prune and not Scope.parse(prune=True).limited


def test_scope_of_keys_is_exactly_those_keys_and_reads_back_as_text() -> None:
    scope = Scope.of_keys([TEA, OTHER_SHOP_TEA])
    assert scope.covers(TEA) and scope.covers(OTHER_SHOP_TEA) and not scope.covers(COFFEE)
    assert scope.texts() == ("demo-shop/ItemDiscount/tea", "other-shop/ItemDiscount/tea")
    assert Scope.parse(scope.texts()) == scope  # a saved plan's targets parse back to the same scope


def test_one_clock_per_run() -> None:
    at = datetime(2027, 11, 11, tzinfo=timezone(timedelta(hours=8)))
    clock = Clock.read(at)
    assert clock.moment == at and clock.now != at and clock.now.tzinfo is not None
    plain = Clock.read()
    assert plain.moment is plain.now  # no --at: the moment planned is the moment read


def test_at_needs_an_iso_time_with_an_offset() -> None:
    assert parse_moment(None) is None
    assert parse_moment("2027-11-11T00:00+08:00") == datetime(2027, 11, 11, tzinfo=timezone(timedelta(hours=8)))
    with pytest.raises(SettingsError, match="not an ISO 8601 time"):
        parse_moment("tomorrow")
    with pytest.raises(SettingsError, match="needs a UTC offset"):
        parse_moment("2027-11-11T00:00")


def _project(tmp_path: Path) -> Project:
    return Project(tmp_path, "reconciler.toml", str(tmp_path / "state.db"), tmp_path / "token.json")


def test_settings_are_built_once_frozen_with_the_environment_resolved(tmp_path: Path) -> None:
    settings = Settings.build(_project(tmp_path), {"TOP_QPS": "25", "RECONCILER_STATE": "elsewhere.db"}, Clock.read(),
                              safety=SafetySettings(force=True), lock_timeout=5.0)
    assert settings.client.qps == 25
    assert settings.env["RECONCILER_STATE"] == str(tmp_path / "state.db")  # the project's decision
    assert settings.safety.force and settings.store.lock_timeout == 5.0 and settings.scope == EVERYTHING
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.safety = SafetySettings()  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.env["TOP_QPS"] = "1"  # type: ignore[index]


def test_a_bad_client_setting_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="TOP_SIMPLIFY"):
        Settings.build(_project(tmp_path), {"TOP_SIMPLIFY": "maybe"}, Clock.read())


def test_a_shop_profile_stays_typed_and_saves_as_plan_files_always_held_it() -> None:
    shops = (REPO / "campaigns" / "shops.yaml").read_text(encoding="utf-8")
    profiles = load_manifest_texts([("campaigns/shops.yaml", shops)]).shops
    connection = connections_of(profiles)["demo-shop"]
    assert connection.env["app_key"] == "TOP_APP_KEY" and connection.taoke is not None
    data = connection.to_data()
    # The format 1 saved plan's "shops" entry, as cli.profile_settings wrote it before this type.
    assert set(data) == {"gateway", "sign_method", "env", "taoke"}
    assert set(data["taoke"]) == {"env", "adzone_id", "where"}
    assert ShopConnection.from_data("demo-shop", data) == connection
    assert connection.secret_variables() == ["TOP_APP_SECRET", "TOP_SESSION", "ALIMAMA_APP_SECRET"]
    bare = ShopConnection.from_data("x", {"gateway": None, "sign_method": "md5", "env": dict(connection.env)})
    assert bare.taoke is None and bare.secret_variables() == ["TOP_APP_SECRET", "TOP_SESSION"]
