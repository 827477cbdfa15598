"""Commands that set things up: init (a project), auth (a seller token), schema export (for
editors), sandbox serve (the local TOP emulator)."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import build_settings, check_outputs, errors_reported, fail, project_of
from reconciler.cli.root import cli
from reconciler.connect import Clients
from reconciler.i18n import _
from reconciler.manifest import load_manifests
from reconciler.settings import Clock, connections_of


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Start a project in DIRECTORY (default: here): reconciler.toml, which marks the project root
    (the state store and token file live under it, whatever directory later commands run from),
    and a starter campaigns/ with a Shop profile and one example per kind. Never overwrites a file."""
    from reconciler.starter import write_starter

    check_outputs({}, {"DIRECTORY": str(directory)})  # before anything is written
    with errors_reported():
        written = write_starter(directory, Clock.read().now)
    for path in written:
        click.echo(f"wrote {path}")
    campaigns = directory / "campaigns"
    click.echo(f"next: reconciler validate {campaigns}; the Shop profile points at the local sandbox "
               f"(reconciler sandbox serve) until you change its gateway")


@cli.command()
@click.option("--shop", required=True, help="The Shop profile (metadata.name) the token is for.")
@click.option("--code", prompt=True, hide_input=True, help="The authorisation code from TOP's OAuth page (asked for when omitted).")
@click.option("--uuid", default=None, help="The uuid the code was issued with, if any.")
@click.argument("paths", nargs=-1)
def auth(shop: str, code: str, uuid: str | None, paths: tuple[str, ...]) -> None:
    """Exchange an authorisation code for a seller token (taobao.top.auth.token.create) and keep it
    in the token file (TOP_TOKEN_FILE, default .reconciler/token.json, mode 0600). Later runs send
    it, and refresh it before it expires, whenever the shop's session variable is unset."""
    settings = build_settings(project_of(paths))
    token_file = settings.client.token_file
    check_outputs({}, {"the token file's directory": str(token_file.path.parent)})  # before the code is spent
    with Clients(read_only=True, env=settings.env, settings=settings.client) as clients, errors_reported([clients]):
        manifests = load_manifests(list(paths))
        if shop not in manifests.shops:
            fail(_("no Shop profile named '{shop}' in the manifests; known: {known}").format(
                shop=shop, known=", ".join(sorted(manifests.shops)) or _("none")))
        clients.use_profiles(connections_of(manifests.shops))
        store = clients.token_store(shop)  # the token file, or the state store (spec.credentials: store)
        client = clients.seller(shop)
        token = client.exchange_code(code, uuid)
        store.save(shop, token)
    expires = datetime.fromtimestamp(token.expires_at, timezone.utc).isoformat() if token.expires_at else "unknown"
    click.echo(f"authorised shop '{shop}' (seller {token.user_nick or 'unknown'}); token saved to {store.where}, "
               f"valid until {expires}{', refreshable' if token.refresh_token else ''}")
    session_var = manifests.shops[shop].env["session"]
    if manifests.shops[shop].credentials == "env" and os.environ.get(session_var):
        click.echo(f"note: {session_var} is set and wins over the token file; unset it to use this token", err=True)


_FAULT_OPTIONS = (
    click.option("--latency", default=None, metavar="SECONDS|MIN-MAX", help="Delay every gateway call."),
    click.option("--error-rate", "error_rates", multiple=True, metavar="[METHOD=]P",
                 help="Answer a transient isp.* error instead of running a call, with probability P."),
    click.option("--qps-limit", type=float, default=None, help="Ban the app (code 7) above this many calls per second."),
    click.option("--ban-seconds", type=float, default=None, help="How long a call-limit ban lasts (default 1)."),
    click.option("--expire-sessions-after", type=int, default=None, metavar="N",
                 help="Expire every session after N more calls (code 27)."),
    click.option("--token-ttl", type=float, default=None, metavar="SECONDS", help="Lifetime of issued tokens."),
    click.option("--drop-answer", multiple=True, metavar="METHOD|writes", help="Run the call, then lose its answer."),
    click.option("--drop-mode", type=click.Choice(["close", "502", "timeout"]), default=None,
                 help="How an answer is lost (default close)."),
    click.option("--hang-rate", type=float, default=None, metavar="P",
                 help="Run nothing and answer nothing for --hang-seconds, with probability P."),
    click.option("--hang-seconds", type=float, default=None, help="How long a hung call says nothing (default 5)."),
    click.option("--clock-offset", type=float, default=None, metavar="SECONDS", help="Run the sandbox clock ahead (or behind)."),
    click.option("--fault-seed", "seed", type=int, default=None, help="Repeat the same random faults."),
    click.option("--faults", "faults_json", default=None, metavar="JSON", help="Faults as JSON (see POST /_sandbox/faults)."),
)


def _fault_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_FAULT_OPTIONS):
        command = option(command)
    return command


@cli.group()
def schema() -> None:
    """The JSON Schemas of manifests and of machine output."""


@schema.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schema_export(directory: Path) -> None:
    """Write the schemas into DIRECTORY, for editors (e.g. VS Code's yaml.schemas; see README)."""
    from reconciler.schemas import export

    check_outputs({}, {"DIRECTORY": str(directory)})
    for path in export(directory):
        click.echo(str(path))


@cli.group()
def sandbox() -> None:
    """The local TOP emulator."""


@sandbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8999, show_default=True, type=int)
@click.option("--data", "data_file", default=None, help="Keep the sandbox's shops in this JSON file.")
@_fault_options
def sandbox_serve(host: str, port: int, data_file: str | None, **faults: Any) -> None:
    """Serve /router/rest like TOP, with fixed demo credentials (see README) and optional faults."""
    from reconciler.sandbox.faults import FaultError, settings_from_flags
    from reconciler.sandbox.server import serve

    check_outputs({"--data": data_file})  # the shops are kept there: a bad path fails now, not at the first write
    try:
        settings = settings_from_flags(**faults)
    except FaultError as exc:
        raise click.UsageError(str(exc)) from exc
    serve(host, port, data_file, settings)
