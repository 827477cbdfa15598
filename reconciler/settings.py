"""The settings root of one run: every choice a run is told, built ONCE by the CLI from its flags
and the environment, frozen, grouped, and passed explicitly (as kopf's OperatorSettings).

    Settings
     ├── clock     one moment per run: now, read once, and the moment planned for (--at)
     ├── scope     what the run may touch: --target (parsed once into Target values), --shop, --shard, --prune
     ├── safety    thresholds, --force, --allow-duplicates
     ├── outputs   --json, --out, --markdown, --link-base, --checksum-file, --detailed-exitcode
     ├── apply     --auto-approve, --parallelism, --checksum(-file), --reviewed-plan, --revision
     ├── client    how TOP clients behave (reconciler.top.settings.ClientSettings: TOP_QPS, …;
     │             TOP_QPS_SHARED: one budget for every worker of the app, kept in the state store)
     └── store     the project, its state store and token file (reconciler.project), lock timeout

How to reach each shop (`ShopConnection`) is not known from flags: it comes from the manifests'
Shop profiles or from a saved plan, and stays typed down to the client factory (reconciler.connect).
Nothing below the CLI reads the environment or parses a flag's text again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any

from reconciler.errors import SettingsError
from reconciler.i18n import _
from reconciler.manifest import ShopProfile
from reconciler.manifest.document import TaokeApp
from reconciler.model import ResourceKey
from reconciler.project import Project
from reconciler.top.settings import ClientSettings

# ---- scope -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One --target: KIND/NAME (in every shop) or SHOP/KIND/NAME."""

    kind: str
    name: str
    shop: str | None = None

    @classmethod
    def parse(cls, text: str) -> Target:
        parts = text.split("/")
        if len(parts) == 2 and all(parts):
            return cls(parts[0], parts[1])
        if len(parts) == 3 and all(parts):
            return cls(parts[1], parts[2], shop=parts[0])
        raise SettingsError(_("--target {text} is not KIND/NAME or SHOP/KIND/NAME, e.g. ItemDiscount/tea").format(text=repr(text)))

    @classmethod
    def of(cls, key: ResourceKey) -> Target:
        return cls(key.kind, key.name, shop=key.shop)

    def covers(self, key: ResourceKey) -> bool:
        return key.kind == self.kind and key.name == self.name and self.shop in (None, key.shop)

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}" if self.shop is None else f"{self.shop}/{self.kind}/{self.name}"


@dataclass(frozen=True)
class Shard:
    """One --shard I/N: the shops whose stable number mod N is I (0 ≤ I < N), so N jobs (a CI
    matrix, a Kubernetes Indexed Job's $JOB_COMPLETION_INDEX) each take a share and together
    take every shop exactly once. A shop's number is the first 8 bytes of SHA-256 of its name
    (UTF-8), big-endian: the same on every machine, Python version and run (Python's hash() is
    salted per process), and independent of which other shops exist, so adding a shop never
    moves another one to a different shard."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, slash, count = text.partition("/")
        if slash and index.isdigit() and count.isdigit() and 0 <= int(index) < int(count):
            return cls(int(index), int(count))
        raise SettingsError(_("--shard {text} is not I/N with 0 ≤ I < N, e.g. 0/4 (the first of four shards)").format(
            text=repr(text)))

    def covers(self, shop: str) -> bool:
        return shop_number(shop) % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shop_number(shop: str) -> int:
    """The stable number --shard divides shops by (see Shard)."""
    return int.from_bytes(hashlib.sha256(shop.encode("utf-8")).digest()[:8], "big")


@dataclass(frozen=True)
class Scope:
    """What a run may touch: asked `covers(key)` everywhere, so a target is matched in one place.
    `covers_shop` is the shop part (--shop, --shard): manifests, state rows, journal recovery and
    locks of other shops are left alone, as if they belonged to another run."""

    targets: tuple[Target, ...] = ()  # empty: every resource
    prune: bool = False  # delete managed objects whose manifest was removed
    shops: frozenset[str] | None = None  # --shop; None: every shop (a saved plan of no shop keeps an empty set)
    shard: Shard | None = None  # --shard I/N; None: every shop

    @classmethod
    def parse(
        cls, targets: Iterable[str] = (), *, prune: bool = False, shops: Iterable[str] = (), shard: str | None = None,
    ) -> Scope:
        named = frozenset(shops)
        return cls(tuple(Target.parse(text) for text in targets), prune, named or None, Shard.parse(shard) if shard else None)

    @classmethod
    def of_keys(cls, keys: Iterable[ResourceKey], *, prune: bool = False) -> Scope:
        return cls(tuple(Target.of(key) for key in sorted(keys)), prune)

    @property
    def limited(self) -> bool:
        """Whether the run is narrowed (--target, --shop, --shard): what it leaves out is 'not targeted'."""
        return bool(self.targets or self.shop_limited)

    @property
    def shop_limited(self) -> bool:
        return self.shops is not None or self.shard is not None

    def covers_shop(self, shop: str) -> bool:
        if self.shops is not None and shop not in self.shops:
            return False
        return self.shard is None or self.shard.covers(shop)

    def covers(self, key: ResourceKey) -> bool:
        if not self.covers_shop(key.shop):
            return False
        return not self.targets or any(target.covers(key) for target in self.targets)

    def texts(self) -> tuple[str, ...]:
        """The targets as written (a saved plan keeps them so; messages name them so)."""
        return tuple(str(target) for target in self.targets)


EVERYTHING = Scope()  # no --target, no shop limit, prune off


# ---- one clock per run ---------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    now: datetime  # read once when the run starts
    at: datetime | None = None  # --at: the moment planned (or priced) for, when not now

    @classmethod
    def read(cls, at: datetime | None = None) -> Clock:
        return cls(datetime.now(timezone.utc), at)

    @property
    def moment(self) -> datetime:
        return self.at or self.now


def parse_moment(text: str | None, option: str = "--at") -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(_("{option} {text} is not an ISO 8601 time like 2026-11-11T00:00+08:00").format(
            option=option, text=repr(text))) from None
    if moment.tzinfo is None:
        raise SettingsError(_("{option} {text} needs a UTC offset, e.g. 2026-11-11T00:00+08:00").format(
            option=option, text=repr(text)))
    return moment


# ---- the groups --------------------------------------------------------------------------


@dataclass(frozen=True)
class SafetySettings:
    # octoDNS's defaults: more than 30 % of a zone's records updated or deleted needs --force,
    # checked only when a zone holds at least 10 records (tiny shops change wholesale legitimately).
    update_threshold: float = 0.3
    delete_threshold: float = 0.3
    min_objects: int = 10
    force: bool = False
    allow_duplicates: bool = False  # engine/duplicates.py


@dataclass(frozen=True)
class OutputSettings:
    as_json: bool = False
    out_file: str | None = None  # plan --out: the saved plan
    markdown_dir: str | None = None
    link_base: str | None = None
    checksum_file: str | None = None  # plan --checksum-file: written
    detailed_exitcode: bool = False


@dataclass(frozen=True)
class ApplySettings:
    auto_approve: bool = False
    parallelism: int | None = None  # None: the client's TOP_CONCURRENCY
    checksum: str | None = None  # the reviewed plan's checksum (--checksum, or read from --checksum-file)
    reviewed_plan: str | None = None
    revision: str | None = None


@dataclass(frozen=True)
class StoreSettings:
    project: Project
    lock_timeout: float = 60.0


@dataclass(frozen=True)
class Settings:
    clock: Clock
    store: StoreSettings
    # The environment with the project's state store and token file resolved in it
    # (Project.env): what the client factory and the store read, read-only.
    env: Mapping[str, str]
    scope: Scope = Scope()
    safety: SafetySettings = SafetySettings()
    outputs: OutputSettings = OutputSettings()
    apply: ApplySettings = ApplySettings()
    client: ClientSettings = field(default_factory=ClientSettings)

    @classmethod
    def build(
        cls, project: Project, env: Mapping[str, str], clock: Clock, *, scope: Scope = Scope(),
        safety: SafetySettings = SafetySettings(), outputs: OutputSettings = OutputSettings(),
        apply: ApplySettings = ApplySettings(), lock_timeout: float = 60.0,
    ) -> Settings:
        """From the project and the process environment: TOP_* read once here (a bad value is a
        SettingError, reported like any other error)."""
        resolved = project.env(env)
        try:
            client = ClientSettings.from_env(resolved)
        except ValueError as exc:  # TOP_SIMPLIFY's own check; the others raise SettingError already
            raise SettingsError(str(exc)) from None
        return cls(clock=clock, store=StoreSettings(project, lock_timeout), env=MappingProxyType(resolved),
                   scope=scope, safety=safety, outputs=outputs, apply=apply, client=client)


# ---- how to reach a shop -------------------------------------------------------------------


@dataclass(frozen=True)
class ShopConnection:
    """The non-secret part of a Shop profile: how to reach TOP and which environment variables
    hold its secrets. A saved plan keeps these, so `apply plan.json` needs no manifests."""

    name: str
    gateway: str | None
    sign_method: str
    env: Mapping[str, str]  # role (app_key, app_secret, session, gateway) → variable name
    taoke: TaokeApp | None = None
    credentials: str = "env"  # the provider of its secrets: env | file | store (reconciler/top/providers.py)

    @classmethod
    def of(cls, profile: ShopProfile) -> ShopConnection:
        return cls(profile.name, profile.gateway, profile.sign_method, dict(profile.env), profile.taoke,
                   profile.credentials)

    def to_data(self) -> dict[str, Any]:
        """As a saved plan stores it (format 1: the dict the CLI built before this type existed)."""
        taoke = self.taoke
        data = {
            "gateway": self.gateway, "sign_method": self.sign_method, "env": dict(self.env),
            "taoke": None if taoke is None else {"env": dict(taoke.env), "adzone_id": taoke.adzone_id, "where": taoke.where},
        }
        # Only when not the default, so plans saved before providers existed stay byte-identical.
        return data if self.credentials == "env" else {**data, "credentials": self.credentials}

    @classmethod
    def from_data(cls, name: str, data: Mapping[str, Any]) -> ShopConnection:
        taoke = data.get("taoke")
        app = None if not taoke else TaokeApp(dict(taoke["env"]), taoke.get("adzone_id"), str(taoke.get("where", "")))
        return cls(name, data.get("gateway"), str(data["sign_method"]), dict(data["env"]), app,
                   str(data.get("credentials", "env")))

    def secret_variables(self) -> list[str]:
        """The variables that hold its app secrets and session."""
        return [self.env["app_secret"], self.env["session"], *([self.taoke.env["app_secret"]] if self.taoke else [])]


def connections_of(profiles: Mapping[str, ShopProfile]) -> dict[str, ShopConnection]:
    return {name: ShopConnection.of(profile) for name, profile in profiles.items()}
