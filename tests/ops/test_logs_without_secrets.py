"""A real server with access logs on: every line is JSON with a request id, and no key, password
or session cookie appears in any line."""

from __future__ import annotations

import http.client
import json
import urllib.parse

from tests.conftest import make_key

from hortus.config import Settings
from hortus.ops.logs import redact


def _request(port: int, method: str, path: str, *, headers: dict[str, str] | None = None,
             body: str | None = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(method, path, body=body, headers=headers or {})
    answer = connection.getresponse()
    answer.read()
    connection.close()
    return answer


def test_access_log_lines_are_json_with_request_ids_and_no_secrets(serve) -> None:
    served = serve(log_level="info", log_format="json")
    key = make_key(Settings(data_dir=served.data_dir, environment="test"))
    password = "Secret-Garden-Password-42"
    cookie = "hortus_session=abcdefghijklmnopqrstuvwxyz0123456789.SIGNATURExyz"
    port = served.port

    quota = _request(port, "GET", f"/v2/quota?api-key={urllib.parse.quote(key.api_key)}",
                     headers={"X-Request-ID": "trace-42"})
    assert quota.status == 200 and quota.headers["X-Request-ID"] == "trace-42"
    wrong = _request(port, "GET", f"/v2/projects?lang=en&api-key={key.key_id}.{password}")
    assert wrong.status == 401
    generated = wrong.headers["X-Request-ID"]
    assert generated and generated != "trace-42"
    assert _request(port, "GET", "/v1/diseases",
                    headers={"Api-Key": key.api_key}).status == 200
    assert _request(port, "GET", "/api/plants", headers={
        "x-permapeople-key-id": key.key_id, "x-permapeople-key-secret": key.key_secret}
    ).status == 200
    form = urllib.parse.urlencode({"email": "a@example.org", "password": password,
                                   "csrf_token": "forged"})
    _request(port, "POST", f"/login?password={password}", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie})
    # A path with a key in it (a client's mistake) is masked too.
    _request(port, "GET", f"/v2/species/{key.api_key}")
    served.stop()

    log = served.log()
    for secret in (key.key_secret, password, "SIGNATURExyz", "abcdefghijklmnopqrstuvwxyz"):
        assert secret not in log, secret
    entries = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert len(access) >= 6
    by_id = {e["request_id"]: e for e in access}
    assert by_id["trace-42"]["path"] == "/v2/quota?api-key=" + key.key_id + ".[redacted]"
    assert by_id["trace-42"]["status"] == 200
    assert by_id[generated]["path"].startswith("/v2/projects?lang=en&api-key=")
    assert key.key_id in log  # the public key id stays, to trace a client


def test_redaction_of_the_usual_places() -> None:
    secret = "s3cr3t-VALUE_xyz"
    for text in (f"GET /v2/identify/all?api-key={secret}&lang=fr",
                 f"GET /x?api_key={secret}", f"Cookie: hortus_session={secret}; other=1",
                 f"{{'Api-Key': '{secret}'}}", f"x-permapeople-key-secret: {secret}",
                 f"Authorization: Bearer {secret}", f"password={secret}&csrf_token=abc",
                 f"key hk0123456789abcdef0123.{secret}"):
        masked = redact(text)
        assert secret not in masked and "[redacted]" in masked, (text, masked)
    assert redact("GET /api/plants?q=rose&page=2") == "GET /api/plants?q=rose&page=2"
