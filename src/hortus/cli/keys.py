"""``hortus keys ...``: API keys, their exposure rules and quotas, for operators.

Scripts depend on these forms: ``hortus keys create --account EMAIL --json`` prints
``{"api_key", "key_id", "key_secret"}``, and ``hortus keys quota --account EMAIL
[--identify-per-day N] [--analysis-per-month N] [--plants-per-day N]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from hortus.config import get_settings

keys_app = typer.Typer(help="API keys (one key works for all three APIs).", no_args_is_help=True)

ACCOUNT_OPTION = typer.Option(..., "--account", help="The account's e-mail address.")
DOMAIN_OPTION = typer.Option(None, "--domain",
                             help="An authorized domain (repeat); replaces the list.")
IP_OPTION = typer.Option(None, "--ip",
                         help="An authorized IPv4 or CIDR range (repeat); replaces the list.")


@contextmanager
def _database() -> Iterator[Any]:
    """The migrated database; domain errors become a message on stderr and exit code 1."""
    from hortus.bootstrap import prepare_database
    from hortus.errors import HortusError

    settings = get_settings()
    database = prepare_database(settings)
    try:
        yield database
    except HortusError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()


def _print_new_key(new: Any, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"api_key": new.api_key, "key_id": new.key_id,
                               "key_secret": new.key_secret}))
    else:
        typer.echo(f"api_key:    {new.api_key}\nkey_id:     {new.key_id}\n"
                   f"key_secret: {new.key_secret}\n(the secret is not shown again)")


@keys_app.command("create")
def create_command(
    account: str = typer.Option(..., "--account", help="Account e-mail (created if missing)."),
    label: str = typer.Option(None, help="A note to recognise the key by."),
    as_json: bool = typer.Option(False, "--json", help="Print the key as JSON."),
) -> None:
    """Create a key. The secret is shown once and never again."""
    from hortus.accounts import service

    with _database() as database, database.write() as session:
        owner = service.get_or_create_account(session=session, email=account)
        new = service.create_key(session=session, account=owner, label=label)
    _print_new_key(new, as_json)


@keys_app.command("list")
def list_command(
    account: str = ACCOUNT_OPTION,
    revoked: bool = typer.Option(False, "--revoked", help="Include revoked keys."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines."),
) -> None:
    """List an account's keys (ids and settings; secrets are never shown again)."""
    from hortus.accounts import service

    with _database() as database, database.read() as session:
        owner = service.require_account(session=session, email=account)
        keys = service.list_keys(session=session, account=owner, include_revoked=revoked)
        rows = [_key_row(key) for key in keys]
    for row in rows:
        if as_json:
            typer.echo(json.dumps(row))
        else:
            state = "revoked" if row["revoked_at"] else ("exposed" if row["expose"] else "private")
            domains, ips = ",".join(row["domains"]) or "-", ",".join(row["ips"]) or "-"
            typer.echo(f"{row['key_id']}  {state:<8} {row['label'] or ''}  "
                       f"domains={domains}  ips={ips}")


def _key_row(key: Any) -> dict[str, Any]:
    from hortus.accounts import service

    exposure = service.key_exposure(key)
    return {"key_id": key.key_id, "label": key.label, "created_at": key.created_at.isoformat(),
            "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
            "expose": exposure["expose"], "domains": exposure["domains"], "ips": exposure["ips"]}


@keys_app.command("revoke")
def revoke_command(key_id: str = typer.Argument(..., help="The key id (hk...)."),
                   account: str = ACCOUNT_OPTION) -> None:
    """Revoke a key: it stops working at once, for every API."""
    from hortus.accounts import service

    with _database() as database, database.write() as session:
        owner = service.require_account(session=session, email=account)
        service.revoke_key(session=session, account=owner, key_id=key_id)
    typer.echo(f"Revoked {key_id}")


@keys_app.command("rotate")
def rotate_command(
    key_id: str = typer.Argument(..., help="The key id (hk...)."),
    account: str = ACCOUNT_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the new key as JSON."),
) -> None:
    """Give a key a new secret (same id and settings); the old secret stops working."""
    from hortus.accounts import service

    with _database() as database, database.write() as session:
        owner = service.require_account(session=session, email=account)
        new = service.rotate_key(session=session, account=owner, key_id=key_id)
    _print_new_key(new, as_json)


@keys_app.command("expose")
def expose_command(
    key_id: str = typer.Argument(..., help="The key id (hk...)."),
    account: str = ACCOUNT_OPTION,
    expose: bool = typer.Option(None, "--on/--off", help="Expose the key to browsers, or not."),
    domains: list[str] = DOMAIN_OPTION,
    ips: list[str] = IP_OPTION,
    clear_domains: bool = typer.Option(False, "--clear-domains", help="Empty the domain list."),
    clear_ips: bool = typer.Option(False, "--clear-ips", help="Empty the IP list."),
) -> None:
    """Set a key's "expose my API key" switch, authorized domains and authorized IPs."""
    from hortus.accounts import service

    with _database() as database, database.write() as session:
        owner = service.require_account(session=session, email=account)
        key = service.get_own_key(session=session, account=owner, key_id=key_id)
        current = service.key_exposure(key)
        new_domains = [] if clear_domains else (domains or current["domains"])
        new_ips = [] if clear_ips else (ips or current["ips"])
        key = service.set_exposure(
            session=session, account=owner, key_id=key_id,
            expose=current["expose"] if expose is None else expose,
            domains="\n".join(new_domains), ips="\n".join(new_ips),  # type: ignore[arg-type]
        )
        row = _key_row(key)
    typer.echo(json.dumps({k: row[k] for k in ("key_id", "expose", "domains", "ips")}))


@keys_app.command("quota")
def quota_command(
    account: str = ACCOUNT_OPTION,
    identify_per_day: int = typer.Option(None, "--identify-per-day", min=0,
                                         help="Identifications a day (UTC)."),
    analysis_per_month: int = typer.Option(None, "--analysis-per-month", min=0,
                                           help="Image analyses a month (UTC)."),
    plants_per_day: int = typer.Option(None, "--plants-per-day", min=0,
                                       help="Plant database requests a day (UTC)."),
    reset: bool = typer.Option(False, "--reset",
                               help="Drop the account's overrides first (back to the defaults)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show an account's quotas and usage; set per-account limits with the options."""
    from hortus.accounts import quotas, service

    limits: dict[str, int | None] = dict.fromkeys(quotas.APIS) if reset else {}
    for api, value in ((quotas.API_IDENTIFY, identify_per_day),
                       (quotas.API_ANALYSIS, analysis_per_month),
                       (quotas.API_PLANTS, plants_per_day)):
        if value is not None:
            limits[api] = value
    settings = get_settings()
    with _database() as database, database.write() as session:
        owner = service.require_account(session=session, email=account)
        if limits:
            quotas.set_limits(session=session, account_id=owner.id, limits=limits)
        rows = quotas.usage_summary(session=session, settings=settings, account_id=owner.id)
    report = {row.api: {"period": row.state.period, "limit": row.state.limit,
                        "used": row.state.used, "remaining": row.state.remaining,
                        "reset_at": row.state.reset_at.isoformat()} for row in rows}
    if as_json:
        typer.echo(json.dumps(report))
        return
    for api, item in report.items():
        typer.echo(f"{api:<9} {item['limit']:>8} per {item['period']:<5}  used {item['used']:>8}  "
                   f"remaining {item['remaining']:>8}  resets {item['reset_at']}")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
