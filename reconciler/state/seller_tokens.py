"""Seller tokens in the PostgreSQL state store, sealed, for a fleet of workers (Shop profile
`spec.credentials: store`, reconciler/top/providers.py).

Why here: the token file is one machine's; an Indexed Job's pods or a CI matrix's jobs share
nothing but the state store. TOP rotates a refresh token on every refresh, so the workers must
also refresh *once*: `locked(app_key, shop)` is a session-level advisory lock (released by the
server if the holder dies), and its holder re-reads the row before deciding to refresh
(reconciler/top/tokens.py, SellerSession.refresh).

Sealing: AES-256-GCM (the `cryptography` package) with a key from RECONCILER_TOKEN_KEY (32 bytes,
URL-safe base64; several comma-separated keys: the first seals, each opens, so a key can be
rotated). The row's app key and shop are the associated data, so a sealed token copied onto
another shop's row does not open. A database dump alone yields no token.

A row is keyed by (app key, shop): the seller authorised that app, and two projects that manage
the same shop with the same app must share its one token (each refresh kills the other's copy).
The table is created on first use, apart from the store's numbered migrations, so that a store
without sealed tokens never carries the table.

This module works on the token's JSON form: state/ does not import top/ (.importlinter).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import psycopg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from reconciler.errors import StateError
from reconciler.state.base import lock_holder_label, lock_key
from reconciler.state.postgres import CONNECT_TIMEOUT_SECONDS, is_postgres_url, safe_url

TOKEN_KEY_ENV = "RECONCILER_TOKEN_KEY"
STATE_ENV = "RECONCILER_STATE"
SEALED_VERSION = "v1"
NONCE_BYTES = 12  # GCM's standard nonce, random per seal (NIST SP 800-38D)
LOCK_TIMEOUT_SECONDS = 60.0  # a refresh is one TOP call; a holder this long is stuck

_TABLE = """CREATE TABLE IF NOT EXISTS seller_tokens (
    app_key TEXT NOT NULL, shop TEXT NOT NULL, sealed TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (app_key, shop))"""
_TABLE_LOCK = lock_key("(seller tokens table)")
KEY_HINT = "make a key with `openssl rand -base64 32 | tr '+/' '-_'`"


def new_key() -> str:
    """A fresh key for RECONCILER_TOKEN_KEY."""
    return base64.urlsafe_b64encode(AESGCM.generate_key(bit_length=256)).decode("ascii")


class Sealer:
    """Seals and opens token JSON with AES-256-GCM; the first key seals, any key opens."""

    def __init__(self, keys_text: str) -> None:
        keys = [part.strip() for part in keys_text.split(",") if part.strip()]
        if not keys:
            raise StateError(f"{TOKEN_KEY_ENV} is empty; {KEY_HINT}")
        self._keys = [AESGCM(_decode_key(number, key)) for number, key in enumerate(keys, 1)]

    def seal(self, data: Mapping[str, Any], *, app_key: str, shop: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[0].encrypt(nonce, json.dumps(dict(data), sort_keys=True).encode(), _bound(app_key, shop))
        return f"{SEALED_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, text: str, *, app_key: str, shop: str) -> dict[str, Any]:
        version, _, body = text.partition(":")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
        except (binascii.Error, ValueError):
            raw = b""
        if version != SEALED_VERSION or len(raw) <= NONCE_BYTES:
            raise StateError(f"the sealed token of shop '{shop}' is damaged; run `reconciler auth --shop {shop}` again")
        for key in self._keys:
            try:
                data = json.loads(key.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _bound(app_key, shop)))
            except InvalidTag:
                continue
            if isinstance(data, dict):
                return data
        raise StateError(
            f"the sealed token of shop '{shop}' does not open with {TOKEN_KEY_ENV} (another key, or a row copied "
            f"from another shop or app); set the key it was sealed with, or run `reconciler auth --shop {shop}` again"
        )


def _bound(app_key: str, shop: str) -> bytes:
    return json.dumps([app_key, shop]).encode()


def _decode_key(number: int, text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.encode("ascii") + b"=" * (-len(text) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != 32:
        raise StateError(f"{TOKEN_KEY_ENV}: key {number} is not 32 bytes in URL-safe base64; "
                         f"{KEY_HINT}")
    return key


class SealedTokens:
    """The seller_tokens table of one PostgreSQL store, on a connection of its own (so its lock
    is independent of the shop locks the state store's connection holds)."""

    def __init__(self, url: str, sealer: Sealer) -> None:
        self.where = f"the state store {safe_url(url)}"
        self._url = url
        self._sealer = sealer
        self._db: psycopg.Connection[Any] | None = None
        self._lock = threading.RLock()  # one connection, many client threads

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SealedTokens:
        url = env.get(STATE_ENV, "")
        if not is_postgres_url(url):
            raise StateError(
                "a Shop profile names spec.credentials: store, which keeps seller tokens in the PostgreSQL state "
                f"store: set {STATE_ENV}=postgresql://… (the SQLite store is one machine's; use the token file there)"
            )
        keys = env.get(TOKEN_KEY_ENV)
        if not keys:
            raise StateError(f"a Shop profile names spec.credentials: store, and {TOKEN_KEY_ENV} (the key that seals "
                             "seller tokens in the state store) is not set")
        return cls(url, Sealer(keys))

    def load(self, app_key: str, shop: str) -> dict[str, Any] | None:
        with self._lock, self._translated():
            row = self._connection().execute(
                "SELECT sealed FROM seller_tokens WHERE app_key = %s AND shop = %s", (app_key, shop)
            ).fetchone()
        return None if row is None else self._sealer.open(str(row[0]), app_key=app_key, shop=shop)

    def save(self, app_key: str, shop: str, data: Mapping[str, Any]) -> None:
        sealed = self._sealer.seal(data, app_key=app_key, shop=shop)
        with self._lock, self._translated():
            self._connection().execute(
                "INSERT INTO seller_tokens (app_key, shop, sealed, updated_at) VALUES (%s, %s, %s, now()) "
                "ON CONFLICT (app_key, shop) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
                (app_key, shop, sealed),
            )

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """A database failure (permission denied, connection lost) as a StateError with the server's words."""
        try:
            yield
        except psycopg.Error as exc:
            raise StateError(f"{self.where}: {str(exc).strip()}") from None

    @contextmanager
    def locked(self, app_key: str, shop: str) -> Iterator[None]:
        """Hold the (app key, shop) token against every other worker of every machine."""
        key = lock_key(f"(seller token) {app_key} {shop}")
        with self._lock:
            with self._translated():
                db = self._connection()
            db.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(LOCK_TIMEOUT_SECONDS * 1000)}ms",))
            try:
                db.execute("SELECT pg_advisory_lock(%s)", (key,))
            except psycopg.errors.LockNotAvailable:
                raise StateError(f"the seller token of shop '{shop}' stayed locked by another worker for "
                                 f"{LOCK_TIMEOUT_SECONDS:g} s") from None
            finally:
                db.execute("SELECT set_config('lock_timeout', '0', false)")
            try:
                yield
            finally:
                if not db.closed:
                    db.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _connection(self) -> psycopg.Connection[Any]:
        if self._db is None:
            try:
                db = psycopg.connect(self._url, autocommit=True, application_name=lock_holder_label(),
                                     connect_timeout=CONNECT_TIMEOUT_SECONDS)
            except psycopg.Error as exc:
                password = urlsplit(self._url).password
                message = str(exc).strip()
                if password:
                    message = message.replace(password, "***")
                raise StateError(f"cannot connect to {self.where}: {message}") from None
            try:
                self._create_table(db)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def _create_table(self, db: psycopg.Connection[Any]) -> None:
        # Only when missing: a role that may not create tables (the plan job's) can use an existing one.
        row = db.execute("SELECT to_regclass('seller_tokens') IS NOT NULL").fetchone()
        if row and row[0]:
            return
        try:
            with db.transaction():
                db.execute("SELECT pg_advisory_xact_lock(%s)", (_TABLE_LOCK,))
                db.execute(_TABLE)
        except psycopg.Error as exc:
            raise StateError(f"cannot create the table seller_tokens in {self.where}: {str(exc).strip()}") from None
