"""Accounts for the people a Darwin Core Archive names (``recordedBy``, ``identifiedBy``).

An archive's names are text anyone can write, so they are never matched to this server's
people: an archive saying ``recordedBy: rosa`` must not hand observations (and the right to
delete them, and a voter's weight) to the local account whose handle is ``rosa``. Each distinct
name — compared with case and spacing folded — gets one account of its own, made by the first
import that names it and found again by later ones (``dwc_people``): it has no password and no
key, so nobody can sign in as it, and its e-mail address is a random one under the reserved
``.invalid`` domain. Its public handle is the name when the name can be one (letters, digits,
dots, hyphens: spaces become dots) and no account has it yet, with ``-2``, ``-3`` ... otherwise;
Darwin Core answers always carry the name as the archive wrote it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import uuid

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hortus.accounts.models import Account
from hortus.accounts.service import HANDLE_RULE
from hortus.observations.dwc_models import MAX_TEXT, DwcPerson

EMAIL_DOMAIN = "import.invalid"
MAX_HANDLE = 32
_NOT_HANDLE = re.compile(r"[^A-Za-z0-9._-]+")


def name_key(name: str) -> str:
    """The key of a person's name: the sha256 of the name with case and spacing folded."""
    folded = " ".join(unicodedata.normalize("NFKC", name).casefold().split())
    return hashlib.sha256(folded.encode("utf-8")).hexdigest()


def handle_for(name: str) -> str | None:
    """The handle a name would make (None when it makes none): accents dropped, anything
    else a handle cannot hold turned into dots."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    candidate = _NOT_HANDLE.sub(".", ascii_name).strip("._-")[:MAX_HANDLE].rstrip("._-")
    return candidate if HANDLE_RULE.fullmatch(candidate) else None


class PeopleBook:
    """Finds or makes the account of each name, inside one write transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.created = 0
        self._known: dict[str, int] = {}

    def account(self, name: str) -> int:
        """The account id of the person an archive calls ``name`` (made when new)."""
        key = name_key(name)
        if key in self._known:
            return self._known[key]
        found = self.session.scalar(select(DwcPerson.account_id).where(DwcPerson.name_key == key))
        if found is None:
            account = Account(email=f"dwca-{uuid.uuid4().hex}@{EMAIL_DOMAIN}",
                              handle=self._free_handle(name))
            self.session.add(account)
            self.session.flush()
            self.session.add(DwcPerson(account_id=account.id, name=name[:MAX_TEXT],
                                       name_key=key))
            self.session.flush()
            found = account.id
            self.created += 1
        self._known[key] = found
        return found

    def _free_handle(self, name: str) -> str | None:
        base = handle_for(name)
        if base is None:
            return None
        for suffix in ("", *(f"-{n}" for n in range(2, 100))):
            candidate = base[:MAX_HANDLE - len(suffix)] + suffix
            taken = self.session.scalar(select(Account.id).where(
                func.lower(Account.handle) == candidate.lower()).limit(1))
            if taken is None:
                return candidate
        return None
