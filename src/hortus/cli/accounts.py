"""``hortus accounts ...``: people's accounts, for operators."""

from __future__ import annotations

import json
import sys

import typer

from hortus.config import get_settings

accounts_app = typer.Typer(help="Accounts (the people who own API keys).", no_args_is_help=True)


def _read_password(password_stdin: bool) -> str:
    if not password_stdin:
        typer.echo("Pass the password on standard input with --password-stdin.", err=True)
        raise typer.Exit(2)
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


@accounts_app.command("create")
def create_command(
    email: str = typer.Argument(..., help="The account's e-mail address."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from the first line of stdin."),
) -> None:
    """Create an account that can sign in to the web pages."""
    from hortus.accounts import service
    from hortus.bootstrap import prepare_database
    from hortus.errors import HortusError

    password = _read_password(password_stdin)
    database = prepare_database(get_settings())
    try:
        # Hashed before the transaction: a running server's writers never wait for it.
        password_hash = service.new_password_hash(email=email, password=password)
        with database.write() as session:
            account = service.sign_up(session=session, email=email, password_hash=password_hash)
            address = account.email
    except HortusError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    typer.echo(f"Created account {address}")


@accounts_app.command("set-password")
def set_password_command(
    email: str = typer.Argument(..., help="The account's e-mail address."),
    password_stdin: bool = typer.Option(False, "--password-stdin",
                                        help="Read the password from the first line of stdin."),
) -> None:
    """Set an account's password (and sign it out of every browser)."""
    from hortus.accounts import service, sessions
    from hortus.bootstrap import prepare_database
    from hortus.errors import HortusError

    password = _read_password(password_stdin)
    database = prepare_database(get_settings())
    try:
        password_hash = service.new_password_hash(email=email, password=password)
        with database.write() as session:
            account = service.require_account(session=session, email=email)
            service.set_password(session=session, account=account, password_hash=password_hash)
            sessions.close_all_sessions(session=session, account_id=account.id)
    except HortusError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    typer.echo(f"Password set for {email.strip().lower()}")


@accounts_app.command("set-handle")
def set_handle_command(
    email: str = typer.Argument(..., help="The account's e-mail address."),
    handle: str = typer.Argument("", help="The public handle, shown to others as the author of "
                                          "plant edits (3-32 letters, digits, . _ -)."),
    clear: bool = typer.Option(False, "--clear", help="Remove the handle: others see "
                                                      "'anonymous #<id>' instead."),
) -> None:
    """Set the public handle others see instead of the e-mail (plant revisions)."""
    from hortus.accounts import service
    from hortus.bootstrap import prepare_database
    from hortus.errors import HortusError

    if bool(handle.strip()) == clear:
        typer.echo("Give a handle, or --clear to remove it.", err=True)
        raise typer.Exit(2)
    database = prepare_database(get_settings())
    try:
        with database.write() as session:
            account = service.require_account(session=session, email=email)
            service.set_handle(session=session, account=account, handle=None if clear else handle)
            shown = service.public_name(account_id=account.id, handle=account.handle)
    except HortusError as exc:
        typer.echo(f"Error: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        database.dispose()
    typer.echo(f"Others now see {email.strip().lower()} as {shown}")


@accounts_app.command("list")
def list_command(as_json: bool = typer.Option(False, "--json", help="Print JSON lines.")) -> None:
    """List accounts with their number of live keys."""
    from hortus.accounts import service
    from hortus.bootstrap import prepare_database

    database = prepare_database(get_settings())
    with database.read() as session:
        rows = [(a.id, a.email, a.handle, a.password_hash is not None,
                 len(service.list_keys(session=session, account=a)))
                for a in service.list_accounts(session=session)]
    database.dispose()
    for account_id, email, handle, can_sign_in, keys in rows:
        if as_json:
            typer.echo(json.dumps({"id": account_id, "email": email, "handle": handle,
                                   "can_sign_in": can_sign_in, "keys": keys}))
        else:
            typer.echo(f"{account_id:>6}  {email}  handle={handle or '-'}  keys={keys}"
                       f"{'' if can_sign_in else '  (no password)'}")


def register(app: typer.Typer) -> None:
    app.add_typer(accounts_app, name="accounts")
