"""Exposure lines, origin/IP matching, password rules and key hashing (pure functions)."""

from __future__ import annotations

import pytest

from hortus.accounts import exposure, passwords
from hortus.accounts.keys import generate_key, hash_secret, secret_matches, split_api_key
from hortus.accounts.models import ApiKey
from hortus.errors import Forbidden, InvalidInput


def test_domain_lines_are_normalised() -> None:
    text = ("app.example.org\nhttps://App.Example.org/\n\n# a comment\n"
            "http://localhost:5173\n*.garden.test\n192.168.1.10:8080\n")
    assert exposure.parse_domains(text) == [
        "app.example.org", "localhost:5173", "*.garden.test", "192.168.1.10:8080"]


@pytest.mark.parametrize("line", [
    "not a domain", "https://app.example.org/path", "ftp://example.org", "example..org",
    "-bad.example.org", "example.org:99999", "*.org", "user@example.org", "https://",
])
def test_garbage_domain_lines_are_refused_with_their_line_number(line: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        exposure.parse_domains(f"good.example.org\n{line}")
    assert "line 2" in caught.value.message


def test_ip_lines() -> None:
    assert exposure.parse_ips("192.0.2.7\n10.1.2.3/8\n2001:db8::/32\n192.0.2.7") == [
        "192.0.2.7/32", "10.0.0.0/8", "2001:db8::/32"]
    with pytest.raises(InvalidInput) as caught:
        exposure.parse_ips("192.0.2.7\n300.1.1.1\n10.0.0.0/33\nlocalhost")
    message = caught.value.message
    assert "line 2" in message and "line 3" in message and "line 4" in message


def test_origin_and_ip_matching() -> None:
    domains = ["app.example.org", "localhost:5173", "*.garden.test"]
    assert exposure.origin_allowed(domains, "https://app.example.org")
    assert exposure.origin_allowed(domains, "http://app.example.org:8080")  # no port: any port
    assert exposure.origin_allowed(domains, "http://localhost:5173")
    assert not exposure.origin_allowed(domains, "http://localhost:3000")
    assert exposure.origin_allowed(domains, "https://a.b.garden.test")
    assert not exposure.origin_allowed(domains, "https://garden.test")
    assert not exposure.origin_allowed(domains, "https://app.example.org.evil.test")
    assert not exposure.origin_allowed(domains, "null")
    ips = ["192.0.2.0/24", "2001:db8::/32"]
    assert exposure.ip_allowed(ips, "192.0.2.200")
    assert exposure.ip_allowed(ips, "::ffff:192.0.2.1")
    assert exposure.ip_allowed(ips, "2001:db8::1")
    assert not exposure.ip_allowed(ips, "198.51.100.1")
    assert not exposure.ip_allowed(ips, "testclient")


def test_check_exposure_rules() -> None:
    private = ApiKey(expose=False, authorized_domains="", authorized_ips="")
    exposure.check_exposure(key=private, origin=None, client_ip="198.51.100.1")
    with pytest.raises(Forbidden):
        exposure.check_exposure(key=private, origin="https://app.example.org", client_ip="::1")
    exposed = ApiKey(expose=True, authorized_domains="app.example.org", authorized_ips="")
    exposure.check_exposure(key=exposed, origin="https://app.example.org", client_ip="::1")
    with pytest.raises(Forbidden):  # exposed without IPs: no server-side use at all
        exposure.check_exposure(key=exposed, origin=None, client_ip="127.0.0.1")
    with pytest.raises(Forbidden):
        exposure.check_exposure(key=exposed, origin="https://other.org", client_ip="::1")


@pytest.mark.parametrize("password", [
    "", "short1A", "abcdefghijkl", "ABCDEFGHIJKL", "123456789012", "aaaaaaaaaa1", "password123",
    "Password123".lower(), "qwertyuiop",
])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        passwords.check_strength(password)
    assert caught.value.error == "weak password" and caught.value.message


def test_password_equal_to_the_email_is_refused() -> None:
    with pytest.raises(InvalidInput):
        passwords.check_strength("gardener42@example.org", email="Gardener42@example.org")


def test_password_hashing_is_argon2id() -> None:
    passwords.check_strength("Tomato-Basil-7")
    stored = passwords.hash_password("Tomato-Basil-7")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password("Tomato-Basil-7", stored)
    assert not passwords.verify_password("tomato-basil-7", stored)
    assert not passwords.verify_password("anything", None)


def test_key_material() -> None:
    new = generate_key()
    assert split_api_key(new.api_key) == (new.key_id, new.key_secret)
    assert secret_matches(new.key_secret, hash_secret(new.key_secret))
    assert not secret_matches(new.key_secret + "x", hash_secret(new.key_secret))
    assert hash_secret(new.key_secret) != new.key_secret
