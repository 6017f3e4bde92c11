"""``hortus keys ...``: API keys for operators."""

from __future__ import annotations

import json

import typer

from hortus.config import get_settings

keys_app = typer.Typer(help="API keys (one key works for all three APIs).", no_args_is_help=True)


@keys_app.command("create")
def create_command(
    account: str = typer.Option(..., "--account", help="Account e-mail (created if missing)."),
    label: str = typer.Option(None, help="A note to recognise the key by."),
    as_json: bool = typer.Option(False, "--json", help="Print the key as JSON."),
) -> None:
    """Create a key. The secret is shown once and never again."""
    from hortus.accounts import service
    from hortus.bootstrap import prepare_database
    from hortus.errors import HortusError

    database = prepare_database(get_settings())
    try:
        with database.write() as session:
            owner = service.get_or_create_account(session=session, email=account)
            new = service.create_key(session=session, account=owner, label=label)
    except HortusError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps({"api_key": new.api_key, "key_id": new.key_id,
                               "key_secret": new.key_secret}))
    else:
        typer.echo(f"api_key:    {new.api_key}\nkey_id:     {new.key_id}\n"
                   f"key_secret: {new.key_secret}\n(the secret is not shown again)")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
