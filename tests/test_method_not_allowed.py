"""A 405 names every method the path serves (not only the first route that matched it), in
the path's own API error format."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from hortus.app import create_app
from hortus.config import Settings

METHODS = ("get", "post", "put", "patch", "delete")


def test_405_allow_lists_every_method_of_the_path(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", environment="test", warm_up_engine=False,
                        load_starter_data=False)
    with TestClient(create_app(settings)) as client:
        document = client.get("/openapi.json").json()
        checked = 0
        for template, item in document["paths"].items():
            documented = {m.upper() for m in item if m in METHODS}
            missing = [m for m in ("PATCH", "DELETE", "PUT") if m not in documented]
            if not missing:
                continue
            path = re.sub(r"\{[^}]+\}", "1", template)
            answer = client.request(missing[0], path)
            assert answer.status_code == 405, (missing[0], path, answer.status_code)
            allowed = {m.strip() for m in answer.headers["allow"].split(",")}
            expected = documented | ({"HEAD"} if "GET" in documented else set())
            assert allowed == expected, (path, allowed, expected)
            assert answer.headers["content-type"].startswith("application/json")
            checked += 1
        assert checked >= 15
