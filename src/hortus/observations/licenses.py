"""The licences an author may choose for an observation's photos (Creative Commons 4.0).

Stored and sent as Pl@ntNet spells them (``cc-by-sa``), with the licence's URL beside them
(``licenseUrl``); the SPDX identifiers (``CC-BY-SA-4.0``) are accepted too.
"""

from __future__ import annotations

from hortus.errors import InvalidInput
from hortus.observations.models import DEFAULT_LICENSE

LICENSE_URLS = {
    "cc0": "https://creativecommons.org/publicdomain/zero/1.0/",
    "cc-by": "https://creativecommons.org/licenses/by/4.0/",
    "cc-by-sa": "https://creativecommons.org/licenses/by-sa/4.0/",
    "cc-by-nc": "https://creativecommons.org/licenses/by-nc/4.0/",
    "cc-by-nc-sa": "https://creativecommons.org/licenses/by-nc-sa/4.0/",
    "cc-by-nd": "https://creativecommons.org/licenses/by-nd/4.0/",
    "cc-by-nc-nd": "https://creativecommons.org/licenses/by-nc-nd/4.0/",
}
_SPDX = {"cc0-1.0": "cc0", **{f"{code}-4.0": code for code in LICENSE_URLS if code != "cc0"}}

__all__ = ["DEFAULT_LICENSE", "LICENSE_URLS", "license_code", "license_url"]


def license_code(value: str | None) -> str:
    """The stored code of a licence as sent (default ``cc-by-sa``); InvalidInput otherwise."""
    text = (value or "").strip().lower()
    if not text:
        return DEFAULT_LICENSE
    code = _SPDX.get(text, text)
    if code not in LICENSE_URLS:
        raise InvalidInput(f'"license" must be one of {", ".join(LICENSE_URLS)} (or its SPDX '
                           f"identifier, e.g. CC-BY-SA-4.0); {text[:40]!r} is not.",
                           error="unknown license")
    return code


def license_url(code: str) -> str:
    """The URL of a stored licence code ("" for a code this version does not know)."""
    return LICENSE_URLS.get(code, "")
