"""Seller access tokens: the token file, and the session a client sends (refreshed before expiry).

Where the session comes from, first match wins:
  1. the session the shop's credentials provider gives (reconciler/top/providers.py; with `env`,
     the profile's session variable, TOP_SESSION by default): sent as is, cannot be refreshed;
  2. the shop's entry in its TokenStore, written by `reconciler auth`: the token file
     (TOP_TOKEN_FILE, default .reconciler/token.json), or with `spec.credentials: store` the
     PostgreSQL state store. Refreshed with taobao.top.auth.token.refresh shortly before it
     expires, or once when TOP answers code 27, under the store's lock, and written back.

The token file holds secrets: it is written atomically with mode 0600, and nothing in this module
logs or formats a token (Token's repr masks them).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote

from filelock import FileLock, Timeout

from reconciler.errors import TopError, TopSessionError

logger = logging.getLogger("reconciler.top.tokens")

TOKEN_FILE_ENV = "TOP_TOKEN_FILE"
DEFAULT_TOKEN_FILE = ".reconciler/token.json"
CREATE_METHOD = "taobao.top.auth.token.create"
REFRESH_METHOD = "taobao.top.auth.token.refresh"
SESSION_CODES = frozenset({26, 27})  # missing / invalid session
REFRESH_MARGIN_SECONDS = 300.0  # refresh this long before expiry (or a tenth of a short lifetime)
FILE_VERSION = 1
MASK = "***"
# A refresh is one TOP call; another process holding the file this long is stuck, not busy.
FILE_LOCK_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Token:
    """One seller authorisation. Times are epoch seconds on TOP's clock."""

    access_token: str
    refresh_token: str | None = None
    expires_at: float | None = None
    refresh_expires_at: float | None = None
    issued_at: float | None = None
    user_nick: str | None = None
    user_id: str | None = None

    def __repr__(self) -> str:
        return (
            f"Token(access_token={MASK!r}, refresh_token={MASK if self.refresh_token else None!r}, "
            f"expires_at={self.expires_at!r}, user_nick={self.user_nick!r})"
        )

    __str__ = __repr__

    def secret_values(self) -> tuple[str, ...]:
        return tuple(value for value in (self.access_token, self.refresh_token) if value)

    def can_refresh(self, now: float) -> bool:
        if not self.refresh_token:
            return False
        return self.refresh_expires_at is None or now < self.refresh_expires_at

    def refresh_due(self, now: float) -> bool:
        """True shortly before expiry: a call sent now might arrive after the token died."""
        if self.expires_at is None:
            return False
        margin = REFRESH_MARGIN_SECONDS
        if self.issued_at is not None:
            margin = min(margin, (self.expires_at - self.issued_at) / 10)
        return now >= self.expires_at - margin

    def to_json(self) -> dict[str, Any]:
        return {key: value for key, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Token:
        access_token = data.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("no access_token")
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def from_token_result(cls, result: Mapping[str, Any], now: float) -> Token:
        """The fields of TOP's token_result (already decoded from its JSON string)."""
        access_token = result.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise ValueError("token_result has no access_token")
        refresh_token = result.get("refresh_token") or None
        refresh_expires_at = _epoch_seconds(result.get("refresh_token_valid_time"))
        if refresh_expires_at is None:
            refresh_expires_at = _after(now, result.get("re_expires_in"))
        if _number(result.get("re_expires_in")) == 0:
            refresh_token = None  # TOP's way of saying this token cannot be refreshed
        expires_at = _epoch_seconds(result.get("expire_time"))
        if expires_at is None:
            expires_at = _after(now, result.get("expires_in"))
        nick = result.get("taobao_user_nick")
        user_id = result.get("taobao_user_id")
        return cls(
            access_token=access_token,
            refresh_token=str(refresh_token) if refresh_token else None,
            expires_at=expires_at,
            refresh_expires_at=refresh_expires_at if refresh_token else None,
            issued_at=now,
            user_nick=unquote(str(nick)) if nick else None,
            user_id=str(user_id) if user_id is not None else None,
        )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _epoch_seconds(epoch_ms: Any) -> float | None:
    number = _number(epoch_ms)
    return None if number is None or number <= 0 else number / 1000


def _after(now: float, seconds: Any) -> float | None:
    number = _number(seconds)
    return None if number is None or number <= 0 else now + number


def token_result_of(method: str, answer: Mapping[str, Any]) -> dict[str, Any]:
    """token_result arrives as a JSON *string* inside the envelope: decode it a second time."""
    raw = answer.get("token_result")
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if not isinstance(raw, dict):
        raise TopSessionError(method, msg="TOP's answer has no readable token_result")
    return raw


# ---- where refreshable tokens are kept ---------------------------------------------------------


class TokenStore(Protocol):
    """Where a shop's refreshable token is kept and refreshed once, whoever needs it.

    TOP rotates the refresh token on every refresh, so the holder of `locked(shop)` re-reads the
    token, and only when it is still the one it failed with does it refresh and save: every other
    worker, thread or process, waits on the lock and then takes the saved one. The token file is
    one store (one machine); the PostgreSQL store's sealed tokens are another (a fleet of workers,
    reconciler/state/seller_tokens.py, wired in reconciler/connect.py).
    """

    @property
    def where(self) -> str:
        """Named in messages and errors (a path or a store URL without its password)."""
        ...

    def load(self, shop: str) -> Token | None: ...

    def locked(self, shop: str = "") -> AbstractContextManager[None]: ...

    def save_while_locked(self, shop: str, token: Token) -> None: ...


# ---- the token file -------------------------------------------------------------------------


class TokenFile:
    """{"version": 1, "shops": {"<shop>": {access_token, refresh_token, expires_at, ...}}}"""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> TokenFile:
        return cls(env.get(TOKEN_FILE_ENV) or DEFAULT_TOKEN_FILE)

    @property
    def where(self) -> str:
        return str(self.path)

    def load(self, shop: str) -> Token | None:
        entry = self._read().get(shop)
        if entry is None:
            return None
        try:
            return Token.from_json(entry)
        except (TypeError, ValueError) as exc:
            raise TopSessionError(
                "token file", msg=f"{self.path}: the entry of shop '{shop}' is unusable ({exc}); run `reconciler auth` again"
            ) from None

    @contextmanager
    def locked(self, shop: str = "") -> Iterator[None]:
        """Hold the file (every shop's entry: it is one file) against other processes (a CI plan and a local apply share one file).

        TOP rotates the refresh token on every refresh, so two processes refreshing the same
        token at once would leave one with a dead token: the second must see the first's result
        instead. filelock gives a lock file that works the same on every OS and dies with its holder.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.path.with_name(self.path.name + ".lock")), timeout=FILE_LOCK_TIMEOUT_SECONDS)
        try:
            with self._lock, lock:
                yield
        except Timeout:
            raise TopSessionError(
                "token file", msg=f"{self.path} stayed locked by another reconciler for {FILE_LOCK_TIMEOUT_SECONDS:g} s"
            ) from None

    def save(self, shop: str, token: Token) -> None:
        with self.locked():
            self.save_while_locked(shop, token)

    def save_while_locked(self, shop: str, token: Token) -> None:
        """save(), for a caller already inside `locked()` (the lock is not reentrant across calls)."""
        shops = self._read()
        shops[shop] = token.to_json()
        self._write({"version": FILE_VERSION, "shops": shops})

    def _read(self) -> dict[str, Any]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        try:
            document = json.loads(text)
        except ValueError:
            raise TopSessionError("token file", msg=f"{self.path} is not valid JSON; delete it and run `reconciler auth`") from None
        shops = document.get("shops") if isinstance(document, dict) else None
        return dict(shops) if isinstance(shops, dict) else {}

    def _write(self, document: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file 0600, and os.replace keeps that mode: the secret is never readable by others.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as tmp:
                json.dump(document, tmp, ensure_ascii=False, indent=2, sort_keys=True)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp_name, 0o600)
            os.replace(tmp_name, self.path)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise


# ---- the session a client sends -------------------------------------------------------------

Exchange = Callable[[str], Mapping[str, Any]]  # refresh_token -> token_result


@dataclass
class SellerSession:
    """The access token one client sends, and how to get a new one when it runs out."""

    token: Token | None
    shop: str = ""
    source: str = "TOP_SESSION"  # where the token came from, named in errors (never its value)
    store: TokenStore | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _seen: list[str] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.token is not None:
            self._seen.extend(self.token.secret_values())

    def __repr__(self) -> str:
        return f"SellerSession(shop={self.shop!r}, source={self.source!r}, token={self.token!r})"

    @classmethod
    def fixed(cls, session: str | None, *, shop: str = "", source: str = "TOP_SESSION") -> SellerSession:
        return cls(Token(session) if session else None, shop=shop, source=source)

    @classmethod
    def from_file(cls, store: TokenStore, shop: str) -> SellerSession | None:
        token = store.load(shop)
        return None if token is None else cls(token, shop=shop, source=store.where, store=store)

    @property
    def current(self) -> str | None:
        return self.token.access_token if self.token else None

    def secret_values(self) -> tuple[str, ...]:
        """Every token this session has held, old ones too: they may still sit in an error text."""
        with self._lock:
            return tuple(self._seen)

    def refresh_due(self, now: float) -> bool:
        token = self.token
        return token is not None and token.refresh_due(now) and token.can_refresh(now)

    def refresh(self, used: str | None, exchange: Exchange, now: Callable[[], float]) -> None:
        """Replace the token that `used` was; a no-op when another thread already replaced it."""
        with self._lock:
            token = self.token
            if token is None or token.access_token != used:
                return
            if self.store is None:
                self._take(self._exchange(token, exchange, now))
            else:
                with self.store.locked(self.shop):
                    on_file = self.store.load(self.shop)
                    if on_file is not None and on_file.access_token != token.access_token:
                        # Another process refreshed it meanwhile (and so used up our refresh token).
                        self._take(on_file)
                        logger.info("took the access token of shop '%s' another run refreshed", self.shop)
                        return
                    fresh = self._exchange(token, exchange, now)
                    self._take(fresh)
                    self.store.save_while_locked(self.shop, fresh)
        logger.info("refreshed the access token of shop '%s' (saved to %s)", self.shop, self.store.where if self.store else "memory")

    def _exchange(self, token: Token, exchange: Exchange, now: Callable[[], float]) -> Token:
        if token.refresh_token is None or not token.can_refresh(now()):
            raise self.rejected()
        try:
            return Token.from_token_result(exchange(token.refresh_token), now())
        except (TopError, ValueError) as exc:
            raise self.refresh_failed(exc) from exc

    def _take(self, token: Token) -> None:
        self.token = token
        self._seen.extend(token.secret_values())

    # ---- errors that tell the user what to do ---------------------------------------------

    def _auth_hint(self) -> str:
        shop = f" --shop {self.shop}" if self.shop else ""
        return f"run `reconciler auth{shop} --code CODE` with a new authorisation code"

    def rejected(self, cause: TopError | None = None) -> TopSessionError:
        what = f"the session of shop '{self.shop}'" if self.shop else "the session"
        if self.token is None:
            whose = f" for shop '{self.shop}'" if self.shop else ""
            msg = f"no session{whose}: set {self.source} or {self._auth_hint()}"
        elif self.store is None:
            msg = (
                f"TOP refuses {what} from {self.source} (invalid or expired) and it cannot be refreshed: "
                f"set a new {self.source}, or {self._auth_hint()} and unset {self.source}"
            )
        else:
            msg = f"TOP refuses {what} even after refreshing it: {self._auth_hint()}"
        return _session_error(cause, msg)

    def refresh_failed(self, cause: BaseException) -> TopSessionError:
        reason = cause.sub_code or cause.msg if isinstance(cause, TopError) else type(cause).__name__
        return _session_error(
            cause if isinstance(cause, TopError) else None,
            f"could not refresh the access token of shop '{self.shop}' ({reason}): {self._auth_hint()}",
        )


def _session_error(cause: TopError | None, msg: str) -> TopSessionError:
    if cause is None:
        return TopSessionError("session", msg=msg)
    return TopSessionError(cause.method, code=cause.code, msg=msg, sub_code=cause.sub_code, request_id=cause.request_id)


def session_for(shop: str, env_session: str | None, *, session_var: str, token_file: TokenStore) -> SellerSession:
    """The session a shop's client sends: the environment's if set (it wins, as environment settings
    do), else the token file's entry for the shop, else none (TOP will answer code 26)."""
    if env_session:
        return SellerSession.fixed(env_session, shop=shop, source=session_var)
    from_file = SellerSession.from_file(token_file, shop)
    return from_file or SellerSession.fixed(None, shop=shop, source=session_var)
