"""The seed's Java and Ruby clients against a live server (skipped without java / ruby, failed
instead when HORTUS_REQUIRE names them: tests/required.py)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from diagnose_support import EXPECTED, unseen_photos
from tests.required import need_program

CLIENTS = Path(__file__).with_name("clients")


def test_java_example(diag_server, diag_key, shared_data):
    java = need_program("java")
    photo = unseen_photos(shared_data, "angular_leaf_spot", 1)[0]
    run = subprocess.run(
        [java, str(CLIENTS / "ImageAPIMinimal.java"), f"{diag_server.url}/v1/image_analysis",
         diag_key.api_key, str(photo)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["code"] == 200 and answer["plant_net"][0]["name"] == "BEAN"
    peat_ids = {e["peat_id"] for e in answer["image_analysis"]}
    assert peat_ids == {v["peat_id"] for v in EXPECTED.values()}


def test_ruby_example(diag_server, diag_key, shared_data):
    ruby = need_program("ruby")
    photo = unseen_photos(shared_data, "bean_rust", 1)[0]
    env = {**os.environ, "PEAT_HOST": diag_server.url.removeprefix("http://"),
           "PEAT_API_KEY": diag_key.api_key, "PEAT_FILE": str(photo)}
    run = subprocess.run([ruby, str(CLIENTS / "peat_example.rb")], capture_output=True,
                         text=True, timeout=60, env=env)
    assert run.returncode == 0, run.stderr
    line = next(x for x in run.stdout.splitlines() if x.startswith("response "))
    answer = json.loads(line.removeprefix("response "))
    assert answer["code"] == 200 and answer["recognized"] in ("True", "False")
    assert {e["peat_id"] for e in answer["image_analysis"]} == {100025, 100026}
