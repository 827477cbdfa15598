"""The I/O edge: one TOP caller per shop, opened from the shop's typed connection settings
(reconciler.settings.ShopConnection) and the environment. The CLI builds one `Clients` per run
and hands it to the driver (engine/reconcile.py) as the function shop → Caller."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from reconciler.credential_providers import Providers, StoreTokens
from reconciler.errors import ReconcilerError
from reconciler.kinds.base import Caller
from reconciler.redaction import remember
from reconciler.settings import ShopConnection
from reconciler.state.budget import shared_slots
from reconciler.top import Credentials, TopClient
from reconciler.top.apps import ShopCaller
from reconciler.top.credentials import DEFAULT_GATEWAY, CredentialsError
from reconciler.top.env_names import read_only_gateway_problem, variable_problems
from reconciler.top.gateways import manifest_gateway_allowed
from reconciler.top.run import TopRun
from reconciler.top.settings import ClientSettings
from reconciler.top.tokens import TokenFile


class Clients:
    """One TOP caller per shop, built lazily from the shop's settings and the environment: the
    seller's app with the seller's session, and for Taoke cash gifts the shop's Taoke (Alimama)
    app without a session (reconciler.top.apps)."""

    def __init__(self, *, read_only: bool, env: Mapping[str, str], settings: ClientSettings | None = None) -> None:
        self.settings: Mapping[str, ShopConnection] = {}
        self._read_only = read_only
        self._env = env
        self._client_settings = settings
        self._callers: dict[str, ShopCaller] = {}
        self.credentials: list[Credentials] = []
        self._providers = Providers(env)  # spec.credentials: env | file | store (reconciler/credential_providers.py)
        self._run: TopRun | None = None  # built on first use, so a bad TOP_* setting is reported cleanly
        # Set by a watched command (reconciler.observe) to count each shop's calls for metrics.
        self.observe: Callable[[str, Caller], Caller] | None = None
        remember(self.secret_values)  # masked in everything printed (reconciler/redaction.py)

    def use_profiles(self, settings: Mapping[str, ShopConnection]) -> None:
        # Profiles come from the manifests (or a saved plan), so they are known only after
        # loading; until then no client can be opened, which keeps secrets out of manifest errors.
        # The variables they name must be the operator's credential variables (top/env_names.py).
        problems = [problem for shop, shop_settings in settings.items()
                    for problem in variable_problems(shop, shop_settings.to_data(), self._env)]
        if problems:
            raise ReconcilerError("\n".join(problems))
        self.settings = settings

    def __call__(self, shop: str) -> Caller:
        caller = self._caller(shop)
        return self.observe(shop, caller) if self.observe else caller

    def seller(self, shop: str) -> TopClient:
        """The client of the shop's own (seller's) app, e.g. to exchange an authorisation code."""
        return self._caller(shop).client("seller")

    def _caller(self, shop: str) -> ShopCaller:
        if shop not in self._callers:
            self._callers[shop] = ShopCaller(lambda: self._open(shop), lambda: self._open_taoke(shop))
        return self._callers[shop]

    def gateway(self, shop: str) -> str:
        """The gateway `shop`'s calls go to: its environment variable, else its profile, else TOP's."""
        settings = self._settings_of(shop)
        return self._env.get(settings.env["gateway"]) or settings.gateway or DEFAULT_GATEWAY

    def _settings_of(self, shop: str) -> ShopConnection:
        settings = self.settings.get(shop)
        if settings is None:
            raise ReconcilerError(
                f"shop '{shop}' has managed objects in the state store but no Shop profile in the manifests"
            )
        return settings

    def token_store(self, shop: str) -> TokenFile | StoreTokens:
        """Where `reconciler auth` keeps the shop's token: the store for spec.credentials: store,
        else the token file."""
        settings = self._settings_of(shop)
        if settings.credentials == "store":
            secrets = self._providers("store").secrets(shop, settings.env)
            assert isinstance(secrets.tokens, StoreTokens)
            return secrets.tokens
        return self._top_run().settings.token_file

    def _open(self, shop: str) -> TopClient:
        settings = self._settings_of(shop)
        names = settings.env
        secrets = self._providers(settings.credentials).secrets(shop, names)
        credentials = secrets.credentials
        if self._env.get(names["gateway"]):
            credentials = Credentials(credentials.app_key, credentials.app_secret, credentials.session,
                                      self._env[names["gateway"]])
        gateway = self._manifest_gateway(shop, settings)
        if gateway is not None:
            credentials = Credentials(credentials.app_key, credentials.app_secret, credentials.session, gateway)
        self._check_read_only_gateway(shop, credentials.gateway)
        self.credentials.append(credentials)
        return self._top_run().open(
            credentials, shop=shop, sign_method=settings.sign_method, read_only=self._read_only, tokens=secrets.tokens,
            # named in session errors: the variable, or the file or store the provider read
            session_var=names["session"] if settings.credentials == "env" else secrets.source,
        )

    def _manifest_gateway(self, shop: str, settings: ShopConnection) -> str | None:
        """The profile's spec.gateway when the environment names none, once it is known to be TOP's."""
        names = settings.env
        if self._env.get(names["gateway"]) or not settings.gateway:
            return None
        if not manifest_gateway_allowed(settings.gateway):  # manifests come from pull requests
            raise ReconcilerError(
                f"shop '{shop}': refusing to send credentials to {settings.gateway}, a gateway named in a "
                f"manifest that is not TOP's; set it through the environment variable {names['gateway']} instead"
            )
        return settings.gateway

    def _open_taoke(self, shop: str) -> TopClient:
        """The shop's Taoke (Alimama) app (spec.taoke): its own key and secret, the shop's gateway and
        sign method, and no session, so no token is read or refreshed for it."""
        settings = self._settings_of(shop)
        taoke = settings.taoke
        if taoke is None:
            raise ReconcilerError(
                f"shop '{shop}': Taoke cash gifts (taobao.tbk.dg.vegas.tlj.*) are sent with the shop's Alimama "
                "(Taoke) app, and its Shop profile has no spec.taoke; add spec.taoke: {env: {app_key: "
                "ALIMAMA_APP_KEY, app_secret: ALIMAMA_APP_SECRET}} to it (environment variable names)"
            )
        names = taoke.env
        missing = [var for var in (names["app_key"], names["app_secret"]) if not self._env.get(var)]
        if missing:
            raise CredentialsError(
                f"shop '{shop}': its Taoke cash gifts are sent with the Alimama (Taoke) app named at {taoke.where} "
                f"(spec.taoke.env); set the environment variable(s) {', '.join(missing)}"
            )
        gateway = self._env.get(settings.env["gateway"]) or self._manifest_gateway(shop, settings) or DEFAULT_GATEWAY
        credentials = Credentials(self._env[names["app_key"]], self._env[names["app_secret"]], None, gateway)
        self._check_read_only_gateway(shop, gateway)
        self.credentials.append(credentials)
        return self._top_run().open_app(credentials, sign_method=settings.sign_method, read_only=self._read_only)

    def _top_run(self) -> TopRun:
        if self._run is None:
            settings = self._client_settings if self._client_settings is not None else ClientSettings.from_env(self._env)
            # TOP_QPS_SHARED: the budget lives in the state store (a PostgreSQL row per app key) or,
            # with SQLite, in a file for the machine, so every worker of the app shares TOP_QPS.
            shared = shared_slots(self._env) if settings.qps_shared else None
            self._run = TopRun(self._env, settings, shared)
        return self._run

    def _check_read_only_gateway(self, shop: str, gateway: str) -> None:
        """Read-only runs are the ones a pull request triggers: TOP's gateways or loopback only."""
        problem = read_only_gateway_problem(shop, gateway) if self._read_only else None
        if problem:
            raise ReconcilerError(problem)

    def secret_values(self) -> list[str]:
        """App secrets, sessions and refresh tokens, including tokens refreshed during the run, and
        the values of the variables the Shop profiles name for secrets, before any client opens."""
        named = [self._env.get(var, "") for settings in self.settings.values() for var in settings.secret_variables()]
        values = named + self._providers.secret_values()
        values += [value for credentials in self.credentials for value in credentials.secret_values()]
        clients = [client for caller in self._callers.values() for client in caller.opened()]
        return values + [value for client in clients for value in client.secret_values()]

    def close(self) -> None:
        for client in (client for caller in self._callers.values() for client in caller.opened()):
            client.close()
        if self._run is not None:
            self._run.close()
        self._providers.close()

    def __enter__(self) -> "Clients":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

