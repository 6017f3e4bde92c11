"""The seed's client examples, unchanged but for URL and key, against a live server on loopback;
the quota under concurrent clients. (Identification by URL: test_identify_by_url.py.)"""

from __future__ import annotations

import json
import runpy
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from identify_openapi import check_shape, properties
from identify_support import PROJECT, flora_settings, node_available
from tests.conftest import REPO, LiveServer, make_key
from tests.required import need

SEED = REPO.parent / "shared" / "seeds" / "000_ec2312222fd54300.txt"


def _seed_block(first: str, last: str) -> str:
    if not SEED.exists():
        pytest.skip(f"{SEED} is absent")
    lines = SEED.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(last))
    return "\n".join(lines[start:end + 1]) + "\n"


@pytest.fixture
def photos_dir(tmp_path: Path, flora) -> Path:
    """``work/`` to run from, with ``../data/image_{1,2}.jpeg`` (a daffodil flower and leaf)."""
    root = tmp_path / "client"
    (root / "data").mkdir(parents=True)
    (root / "work").mkdir()
    shutil.copy(flora.photo("daffodil", 2), root / "data" / "image_1.jpeg")
    shutil.copy(flora.photo("daffodil", 3), root / "data" / "image_2.jpeg")
    return root


def _check_answer(answer: dict) -> None:
    check_shape(answer, "Identification result")
    assert properties("Identification result") - set(answer) <= {"switchToProject",
                                                                  "otherResults"}
    assert answer["query"]["project"] == "all"
    assert answer["query"]["organs"] == ["flower", "leaf"]
    assert answer["results"][0]["species"]["scientificNameWithoutAuthor"] == (
        "Narcissus pseudonarcissus")


def test_seed_python_example(settings, flora, photos_dir, monkeypatch, capsys):
    live_settings = flora_settings(settings, flora)
    key = make_key(live_settings)
    code = _seed_block("import requests", "pprint(json_result)")
    code = code.replace("https://my-api.plantnet.org", "{HORTUS_URL}").replace(
        "YOUR-PRIVATE-API-KEY-HERE", key.api_key)
    assert code.count("{HORTUS_URL}") == 1
    with LiveServer(live_settings) as server:
        script = photos_dir / "work" / "example.py"
        script.write_text(code.replace("{HORTUS_URL}", server.url))
        monkeypatch.chdir(photos_dir / "work")
        namespace = runpy.run_path(str(script))
    assert namespace["response"].status_code == 200
    _check_answer(namespace["json_result"])
    assert "Narcissus pseudonarcissus" in capsys.readouterr().out


@pytest.fixture(scope="session")
def node_modules(tmp_path_factory) -> Path:
    """form-data (and node-fetch 2) from npm, or a skip when node or the registry is absent
    (a failure when HORTUS_REQUIRE names node: tests/required.py)."""
    need("node", node_available() and shutil.which("npm") is not None, "node/npm not installed")
    root = tmp_path_factory.mktemp("node")
    try:
        done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent",
                               "form-data@4", "node-fetch@2"], cwd=root, timeout=90,
                              capture_output=True)
    except subprocess.TimeoutExpired:
        need("node", False, "the npm registry did not answer")
    need("node", done.returncode == 0,
         "the npm registry did not answer: " + done.stderr.decode()[-200:])
    return root


def test_seed_node_example(settings, flora, photos_dir, node_modules):
    """The seed's Node code with two documented fixes: ``async`` on the arrow function (the seed
    uses ``await`` in a plain function, a SyntaxError), and node-fetch 2, because Node's
    built-in fetch cannot send a form-data stream (it sends "[object FormData]" as text — which
    Hortus answers with a clean 415, checked here too)."""
    live_settings = flora_settings(settings, flora)
    key = make_key(live_settings)
    code = _seed_block("import fs from", "identify()")
    code = code.replace("const identify = () => {", "const identify = async () => {").replace(
        "YOUR-PRIVATE-API-KEY-HERE", key.api_key).replace(
        "/data/media/", str(photos_dir / "data") + "/").replace(
        "console.log('json', json)", "console.log('json', JSON.stringify(json))")
    with LiveServer(live_settings) as server:
        code = code.replace("https://my-api.plantnet.org", server.url)
        builtin = node_modules / "builtin.mjs"
        builtin.write_text(code)
        patched = node_modules / "example.mjs"
        patched.write_text("import fetch from 'node-fetch'\n" + code)
        outputs = [subprocess.run(["node", str(p)], cwd=node_modules, capture_output=True,
                                  timeout=60, text=True).stdout for p in (patched, builtin)]
    status, body = outputs[0].split("\n", 1)
    assert status == "status 200", outputs[0][:500]
    _check_answer(json.loads(body.removeprefix("json ")))
    assert outputs[1].startswith("status 415")


@pytest.mark.both_databases
def test_quota_is_atomic_under_concurrent_clients(settings, flora):
    limited = flora_settings(settings, flora, identify_per_day=3)
    key = make_key(limited)
    photo = flora.photo("sunflower").read_bytes()
    with LiveServer(limited) as server:
        def post(_: int) -> int:
            return requests.post(f"{server.url}/v2/identify/{PROJECT}",
                                 params={"api-key": key.api_key},
                                 files=[("images", ("s.jpg", photo))],
                                 data={"organs": "flower"}, timeout=60).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = sorted(pool.map(post, range(8)))
        quota = requests.get(f"{server.url}/v2/quota", params={"api-key": key.api_key}).json()
    assert statuses == [200] * 3 + [429] * 5
    assert quota["quota"]["identify"]["count"] == 3
