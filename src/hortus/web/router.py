"""Pages for people: sign up, sign in, sign out, and the API key settings page.

Thin handlers: they check the CSRF token, call the accounts services, and render a template.
Every form POST is refused (403 page, nothing saved) when its CSRF token does not belong to the
visitor's session.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from hortus.accounts import passwords, quotas, service, sessions, signin
from hortus.accounts.keys import secret_matches
from hortus.accounts.models import Account
from hortus.accounts.throttle import ThrottlePolicy
from hortus.deps import DatabaseDep, SettingsDep
from hortus.errors import HortusError, InvalidInput
from hortus.ops.metrics import SIGN_IN_THROTTLED
from hortus.web import i18n, key_flash, security, vocabulary
from hortus.web.i18n import N_
from hortus.web.i18n import gettext as _
from hortus.web.limits import client_address, minutes, password_limiter, throttled
from hortus.web.service_messages import translated

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
# Templates mark text for translation with {{ _("...") }}, in the language of the request being
# rendered (hortus.web.i18n: a context variable, so concurrent requests keep their own).
TEMPLATES.env.add_extension("jinja2.ext.i18n")
TEMPLATES.env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=i18n.gettext, ngettext=i18n.ngettext, pgettext=i18n.pgettext, newstyle=True)
TEMPLATES.env.globals.update(current_language=i18n.current_language,
                             page_languages=i18n.own_names(),
                             language_label=i18n.language_name, **vocabulary.TEMPLATE_HELPERS)
SETTINGS_PATH = "/settings/api-key"
HANDLE_PATH = "/settings/handle"
NOTICES = {
    "handle-saved": N_("Your public name was saved."),
    "revoked": N_("The key was revoked: it no longer works for any API."),
    "exposure-saved": N_("The exposure settings were saved."),
    "welcome": N_("Your account is ready. Generate a key to start using the APIs."),
}
LOGIN_NOTICES = {
    "signed-up": N_("Thank you. If this address had no account yet, your account is ready: sign "
                    "in with it. (If it had one, sign in with that account's password.)"),
}
# The APIs' names in the usage table (hortus.accounts.quotas.TITLES).
QUOTA_TITLES = (N_("Identification"), N_("Image analysis"), N_("Plant database"))


def notice_text(notices: dict[str, str], key: str | None) -> str | None:
    """The notice a redirect asked for (``?notice=...``), in the visitor's language."""
    text = notices.get(key or "")
    return _(text) if text else None

router = APIRouter(include_in_schema=False)


@dataclass
class Visit:
    """The visitor of one page: their session token, and their account when signed in."""

    request: Request
    secret: bytes
    token: str
    account: Account | None
    set_cookie: bool = False

    @property
    def csrf(self) -> str:
        return security.csrf_token(self.secret, self.token)

    def switch_token(self, token: str) -> None:
        """Use a new session token from now on (sign-in, sign-out)."""
        self.token = token
        self.set_cookie = True


def visit(request: Request, db: DatabaseDep) -> Visit:
    secret = security.secret_for(request)
    token = security.unsign_token(secret, request.cookies.get(security.COOKIE_NAME))
    if token is None:
        return Visit(request=request, secret=secret, token=sessions.new_token(), account=None,
                     set_cookie=True)
    with db.read() as session:
        account = sessions.account_for_token(session=session, token=token)
    return Visit(request=request, secret=secret, token=token, account=account)


VisitDep = Annotated[Visit, Depends(visit)]


async def form_visit(request: Request) -> Visit:
    """The visitor of a sign-in or sign-up form: the session token without the account lookup
    (those forms act the same for anyone), so a refused try costs no database read."""
    secret = security.secret_for(request)
    token = security.unsign_token(secret, request.cookies.get(security.COOKIE_NAME))
    if token is None:
        return Visit(request=request, secret=secret, token=sessions.new_token(), account=None,
                     set_cookie=True)
    return Visit(request=request, secret=secret, token=token, account=None)


FormVisitDep = Annotated[Visit, Depends(form_visit)]


def _finish(visit: Visit, response: Response) -> Response:
    if visit.set_cookie:
        security.set_session_cookie(visit.request, response, visit.secret, visit.token)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Language"] = i18n.current_language()
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


def render(visit: Visit, template: str, status: int = 200, **context: Any) -> Response:
    context.update(account=visit.account, csrf_token=visit.csrf)
    response = TEMPLATES.TemplateResponse(visit.request, template, context, status_code=status)
    return _finish(visit, response)


def redirect(visit: Visit, url: str) -> Response:
    return _finish(visit, RedirectResponse(url, status_code=303))


def _safe_next(value: str | None) -> str:
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/identify"  # where people land after signing in (not the developers' keys page)


def _csrf_refused(visit: Visit, presented: str) -> Response | None:
    if security.csrf_valid(visit.secret, visit.token, presented):
        return None
    return render(visit, "error.html", status=403, title=_("Form expired"),
                  message=_("This form could not be verified: it has expired, was opened in "
                            "another session, or did not come from this site. Nothing was saved. "
                            "Reload the page and try again."))


Text = Annotated[str, Form()]


@router.get("/signup")
def signup_page(visit: VisitDep) -> Response:
    if visit.account is not None:
        return redirect(visit, "/identify")
    return render(visit, "signup.html", email="", errors=[])


@router.post("/signup")
async def signup(visit: FormVisitDep, db: DatabaseDep, settings: SettingsDep, email: Text = "",
                 password: Text = "", password_confirm: Text = "",
                 csrf_token: Text = "") -> Response:
    """Create an account. Whether the address was free or not, the answer is the same: the
    sign-in page saying the account is ready if the address was new (no page may tell anyone
    which addresses have accounts)."""
    if (refused := _csrf_refused(visit, csrf_token)) is not None:
        return refused
    try:
        if password != password_confirm:
            raise InvalidInput(_("The two passwords differ."), error="password mismatch")
        passwords.check_strength(password, email=service.normalise_email(email))
    except HortusError as exc:
        return render(visit, "signup.html", status=400, email=email[:320],
                      errors=[translated(exc.message)])
    policy = ThrottlePolicy.from_settings(settings)
    wait = await run_in_threadpool(lambda: signin.take_sign_up(
        database=db, policy=policy, address=client_address(visit.request)))
    if wait:
        SIGN_IN_THROTTLED.labels("sign-up").inc()
        return throttled(render(visit, "signup.html", status=429, email=email[:320], errors=[
            _("Too many accounts were created from your address: try again in %(wait)s.")
            % {"wait": minutes(wait)}]), wait)
    await anyio.to_thread.run_sync(
        lambda: signin.sign_up(database=db, email=email, password=password),
        limiter=password_limiter(visit.request))
    return redirect(visit, "/login?notice=signed-up")


@router.get("/login")
def login_page(visit: VisitDep, next: str | None = None, notice: str | None = None) -> Response:
    if visit.account is not None:
        return redirect(visit, _safe_next(next))
    return render(visit, "login.html", email="", errors=[], next=_safe_next(next),
                  notice=notice_text(LOGIN_NOTICES, notice))


@router.post("/login")
async def login(visit: FormVisitDep, db: DatabaseDep, settings: SettingsDep, email: Text = "",
                password: Text = "", next: Text = "", csrf_token: Text = "") -> Response:
    """Sign in. Failed sign-ins are throttled per account and per address
    (:mod:`hortus.accounts.throttle`); a throttled try is refused before any hashing."""
    if (refused := _csrf_refused(visit, csrf_token)) is not None:
        return refused
    address = client_address(visit.request)
    wait = signin.known_wait(email=email, address=address)  # no database read while blocked
    if not wait:
        wait = await run_in_threadpool(lambda: signin.sign_in_wait(database=db, email=email,
                                                                   address=address))
    signed_in: signin.SignedIn | signin.Throttled | None = signin.Throttled(wait)
    if not wait:
        policy = ThrottlePolicy.from_settings(settings)
        signed_in = await anyio.to_thread.run_sync(
            lambda: signin.sign_in(database=db, policy=policy, email=email, password=password,
                                   address=address, old_token=visit.token),
            limiter=password_limiter(visit.request))
    if isinstance(signed_in, signin.Throttled):
        SIGN_IN_THROTTLED.labels("sign-in").inc()
        return throttled(render(visit, "login.html", status=429, email=email[:320],
                                next=_safe_next(next), errors=[
            _("Too many failed sign-ins: try again in %(wait)s.")
            % {"wait": minutes(signed_in.wait)}]),
            signed_in.wait)
    if signed_in is None:
        return render(visit, "login.html", status=400, email=email[:320], next=_safe_next(next),
                      errors=[_("The e-mail address or the password is wrong.")])
    visit.switch_token(signed_in.token)
    return redirect(visit, _safe_next(next))


@router.post("/logout")
def logout(visit: VisitDep, db: DatabaseDep, csrf_token: Text = "") -> Response:
    if (refused := _csrf_refused(visit, csrf_token)) is not None:
        return refused
    with db.write() as session:
        sessions.close_session(session=session, token=visit.token)
    visit.switch_token(sessions.new_token())
    return redirect(visit, "/login")


def _settings_page(visit: Visit, db: DatabaseDep, settings: SettingsDep, *, status: int = 200,
                   flash: key_flash.KeyFlash | None = None, notice: str | None = None,
                   errors: dict[str, list[str]] | None = None,
                   drafts: dict[str, dict[str, Any]] | None = None) -> Response:
    assert visit.account is not None
    with db.read() as session:
        keys = service.list_keys(session=session, account=visit.account)
        usage = quotas.usage_summary(session=session, settings=settings,
                                     account_id=visit.account.id)
    # A flash shows a secret only while it is still the key's secret (not revoked or rotated
    # again since).
    if flash is not None and not any(
            k.key_id == flash.key.key_id and secret_matches(flash.key.key_secret, k.secret_hash)
            for k in keys):
        flash = None
    return render(visit, "api_key.html", status=status, keys=keys, usage=usage,
                  new_key=flash.key if flash else None, flash_kind=flash.kind if flash else None,
                  notice=notice, errors=errors or {},
                  drafts=drafts or {}, exposure=service.key_exposure,
                  public_name=translated(service.public_name(account_id=visit.account.id,
                                                             handle=visit.account.handle) or ""),
                  handle_help=translated(service.HANDLE_HELP))


def _login_first(visit: Visit) -> Response:
    return redirect(visit, f"/login?next={SETTINGS_PATH}")


def _key_form_account(visit: Visit, csrf_token: str) -> Account | Response:
    """The account a key form acts for, or the answer when it may not act (sign in first, or
    a bad CSRF token)."""
    if visit.account is None:
        return _login_first(visit)
    refused = _csrf_refused(visit, csrf_token)
    return visit.account if refused is None else refused


@router.get("/settings")
@router.get(f"{SETTINGS_PATH}/generate")
@router.get(HANDLE_PATH)
def settings_root(visit: VisitDep) -> Response:
    """``/settings`` is the keys page (the only settings page); so are the addresses of its
    forms when typed or reloaded."""
    return redirect(visit, SETTINGS_PATH)


@router.get(SETTINGS_PATH)
def settings_page(visit: VisitDep, db: DatabaseDep, settings: SettingsDep,
                  notice: str | None = None) -> Response:
    if visit.account is None:
        return _login_first(visit)
    flash = key_flash.opened(visit.request, server_key=visit.secret, token=visit.token)
    response = _settings_page(visit, db, settings, flash=flash,
                              notice=notice_text(NOTICES, notice))
    key_flash.forget(visit.request, response, path=SETTINGS_PATH)  # shown once
    return response


def _show_once(visit: Visit, flash: key_flash.KeyFlash) -> Response:
    """Redirect to the keys page, which shows the new secret once (post/redirect/get: reloading
    it makes no other key)."""
    response = redirect(visit, f"{SETTINGS_PATH}#new-key")
    key_flash.give(visit.request, response, server_key=visit.secret, token=visit.token,
                   path=SETTINGS_PATH, flash=flash)
    return response


@router.post(f"{SETTINGS_PATH}/generate")
def generate_key(visit: VisitDep, db: DatabaseDep, label: Text = "",
                 csrf_token: Text = "") -> Response:
    if isinstance(account := _key_form_account(visit, csrf_token), Response):
        return account
    with db.write() as session:
        new = service.create_key(session=session, account=account,
                                 label=label.strip()[:200] or None)
    return _show_once(visit, key_flash.KeyFlash(kind="generated", key=new))


# The actions that ask first, without JavaScript: the keys page links to a confirmation page
# (GET), whose form posts with confirm=yes. A POST without it shows that page again.
KEY_ACTIONS = ("rotate", "revoke")


def _key_not_found(visit: Visit, exc: HortusError) -> Response:
    return render(visit, "error.html", status=exc.status, title=_("No such key"),
                  message=translated(exc.message),
                  back={"href": SETTINGS_PATH, "text": _("Your API keys")})


def _confirm_page(visit: Visit, db: DatabaseDep, key_id: str, action: str) -> Response:
    assert visit.account is not None
    try:
        with db.read() as session:
            key = service.get_own_key(session=session, account=visit.account, key_id=key_id)
    except HortusError as exc:
        return _key_not_found(visit, exc)
    return render(visit, "api_key_confirm.html", key=key, action=action,
                  exposure=service.key_exposure(key))


@router.get(SETTINGS_PATH + "/{key_id}/{action}")
def confirm_key_action(key_id: str, action: str, visit: VisitDep, db: DatabaseDep) -> Response:
    """The page that asks before a key's secret is rotated or the key revoked."""
    if visit.account is None:
        return _login_first(visit)
    if action == "exposure":  # the exposure form's address, typed or reloaded
        return redirect(visit, SETTINGS_PATH)
    if action not in KEY_ACTIONS:
        return render(visit, "error.html", status=404, title=_("Page not found"),
                      message=_("There is no such page for API keys."),
                      back={"href": SETTINGS_PATH, "text": _("Your API keys")})
    return _confirm_page(visit, db, key_id, action)


@router.post(SETTINGS_PATH + "/{key_id}/rotate")
def rotate_key(key_id: str, visit: VisitDep, db: DatabaseDep, confirm: Text = "",
               csrf_token: Text = "") -> Response:
    """Give the key a new secret (same id, label and exposure); the old one stops working."""
    if isinstance(account := _key_form_account(visit, csrf_token), Response):
        return account
    if confirm != "yes":
        return _confirm_page(visit, db, key_id, "rotate")
    try:
        with db.write() as session:
            new = service.rotate_key(session=session, account=account, key_id=key_id)
    except HortusError as exc:
        return _key_not_found(visit, exc)
    return _show_once(visit, key_flash.KeyFlash(kind="rotated", key=new))


@router.post(SETTINGS_PATH + "/{key_id}/revoke")
def revoke_key(key_id: str, visit: VisitDep, db: DatabaseDep, confirm: Text = "",
               csrf_token: Text = "") -> Response:
    if isinstance(account := _key_form_account(visit, csrf_token), Response):
        return account
    if confirm != "yes":
        return _confirm_page(visit, db, key_id, "revoke")
    try:
        with db.write() as session:
            service.revoke_key(session=session, account=account, key_id=key_id)
    except HortusError as exc:
        return _key_not_found(visit, exc)
    return redirect(visit, f"{SETTINGS_PATH}?notice=revoked")


@router.post(SETTINGS_PATH + "/{key_id}/exposure")
def save_exposure(key_id: str, visit: VisitDep, db: DatabaseDep, settings: SettingsDep,
                  expose: Text = "", domains: Text = "", ips: Text = "",
                  csrf_token: Text = "") -> Response:
    if isinstance(account := _key_form_account(visit, csrf_token), Response):
        return account
    try:
        with db.write() as session:
            service.set_exposure(session=session, account=account, key_id=key_id,
                                 expose=expose == "on", domains=domains, ips=ips)
    except HortusError as exc:
        draft = {"expose": expose == "on", "domains": domains, "ips": ips}
        return _settings_page(visit, db, settings, status=exc.status,
                              errors={key_id: [translated(exc.message)]},
                              drafts={key_id: draft})
    return redirect(visit, f"{SETTINGS_PATH}?notice=exposure-saved#key-{key_id}")


@router.post(HANDLE_PATH)
def save_handle(visit: VisitDep, db: DatabaseDep, settings: SettingsDep, handle: Text = "",
                csrf_token: Text = "") -> Response:
    """Choose the public handle others see as the author of one's plant edits."""
    if isinstance(account := _key_form_account(visit, csrf_token), Response):
        return account
    try:
        with db.write() as session:
            service.set_handle(session=session, account=account, handle=handle)
    except HortusError as exc:
        return _settings_page(visit, db, settings, status=exc.status,
                              errors={"handle": [translated(exc.message)]},
                              drafts={"handle": {"handle": handle[:64]}})
    return redirect(visit, f"{SETTINGS_PATH}?notice=handle-saved#public-name")
