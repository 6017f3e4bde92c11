"""The first README command works with the runtime dependencies alone.

``scripts/serve`` installs ``pip install -e .`` — no ``test``, ``dev``, ``postgres`` or ``torch``
extra. The suite itself runs with the test extra installed, so an import of a test-only package
(``httpx`` once was one) would pass every other test and still crash a user's first start. This
test runs a subprocess whose import system refuses every distribution that only the extras bring
in (computed from pyproject.toml and the installed metadata, not a hand-kept list), imports every
module of ``src/hortus``, builds the app, serves it with uvicorn and asks ``/v2/_status`` over
real HTTP.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]
_NAME = re.compile(r"[-_.]+")


def _canonical(name: str) -> str:
    return _NAME.sub("-", name).lower()


def _closure(requirements: list[str]) -> set[str]:
    """Every installed distribution these requirements pull in (their extras included)."""
    seen: set[str] = set()
    todo = [(Requirement(text), ()) for text in requirements]
    while todo:
        requirement, _ = todo.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = _canonical(requirement.name)
        key = name + "[" + ",".join(sorted(requirement.extras)) + "]"
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for text in dist.requires or ():
            sub = Requirement(text)
            if sub.marker is None:
                todo.append((sub, ()))
                continue
            environments = [{"extra": ""}] + [{"extra": e} for e in requirement.extras]
            if any(sub.marker.evaluate(env) for env in environments):
                sub.marker = None
                todo.append((sub, ()))
    return {key.split("[", 1)[0] for key in seen}


def extras_only_modules(pyproject: Path) -> tuple[list[str], list[str]]:
    """(distributions, top-level import names) that only the optional extras install."""
    project = tomllib.loads(pyproject.read_text())["project"]
    runtime = _closure(project["dependencies"])
    extras = _closure([r for group in project["optional-dependencies"].values() for r in group])
    only_extras = sorted(extras - runtime)
    modules = sorted({
        module for module, dists in metadata.packages_distributions().items()
        if dists and all(_canonical(d) in only_extras for d in dists)
    })
    return only_extras, modules


CHILD = r"""
import importlib, importlib.abc, json, pkgutil, socket, sys, tempfile, threading, time
import urllib.request

import os
BLOCKED = set(json.loads(os.environ["REFUSED_MODULES"]))
refused = []

class RefuseExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            refused.append(name)
            raise ModuleNotFoundError(f"No module named {name!r} (only an optional extra "
                                      f"installs it)", name=name)
        return None

sys.meta_path.insert(0, RefuseExtras())

import hortus
failures = []
for info in pkgutil.walk_packages(hortus.__path__, "hortus."):
    if (".migrations.versions." in info.name or info.name.endswith(".migrations.env")
            or info.name.endswith(".__main__")):
        continue  # run by Alembic or as a program, not imported
    try:
        importlib.import_module(info.name)
    except Exception as exc:
        # Backbone fine-tuning (`hortus backbone tune`) is the torch extra's: its training
        # modules refuse to import without PyTorch, saying how to install it; serving and the
        # command itself must import without it.
        missing_torch = (info.name.startswith("hortus.vision.tuning.")
                         and type(exc).__name__ == "TuningError"
                         and "pip install 'hortus[torch]'" in str(exc)
                         and isinstance(exc.__cause__, ModuleNotFoundError)
                         and (exc.__cause__.name or "").partition(".")[0] == "torch")
        if not missing_torch:
            failures.append(f"{info.name}: {type(exc).__name__}: {exc}")
if failures:
    print(json.dumps({"import_failures": failures}))
    sys.exit(1)

import uvicorn
from hortus.app import create_app
from hortus.config import Settings

settings = Settings(data_dir=tempfile.mkdtemp(), environment="test", warm_up_engine=False)
with socket.socket() as probe:
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port,
                                       log_level="warning"))
thread = threading.Thread(target=server.run, daemon=True)
thread.start()
deadline = time.monotonic() + 120
while not server.started:
    if time.monotonic() > deadline or not thread.is_alive():
        print(json.dumps({"import_failures": ["the server did not start"]}))
        sys.exit(1)
    time.sleep(0.05)
with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/_status", timeout=30) as answer:
    status = answer.status
    body = json.loads(answer.read())
with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=30) as answer:
    paths = len(json.loads(answer.read())["paths"])
server.should_exit = True
thread.join(timeout=20)
print(json.dumps({"status": status, "body": body, "paths": paths,
                  "refused": sorted(set(refused))}))
"""


def run_runtime_only(blocked: list[str]) -> tuple[int, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HORTUS_")}
    env["REFUSED_MODULES"] = json.dumps(blocked)
    done = subprocess.run([sys.executable, "-c", CHILD], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else {"stderr": done.stderr[-3000:]}
    return done.returncode, report


def test_the_extras_are_refused_in_the_child() -> None:
    """The blocked set is real: it holds the test tools, so the check below can fail."""
    distributions, modules = extras_only_modules(REPO / "pyproject.toml")
    for tool in ("pytest", "playwright", "schemathesis"):
        assert tool in distributions
        assert tool in modules
    assert "fastapi" not in distributions and "numpy" not in modules


def test_every_module_imports_and_the_app_serves_with_runtime_dependencies_only() -> None:
    _, modules = extras_only_modules(REPO / "pyproject.toml")
    code, report = run_runtime_only(modules)
    assert code == 0, report
    assert report["status"] == 200 and report["body"] == {"status": "ok"}
    assert report["paths"] >= 20  # the three API families are routed


def test_an_import_of_a_test_only_package_is_caught(tmp_path: Path) -> None:
    """Before httpx was a runtime dependency, ``hortus.identify.remote`` imported it from the
    test extra. With that pyproject the same check fails, naming the module."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    project = pyproject["project"]
    project["dependencies"] = [d for d in project["dependencies"]
                               if _canonical(Requirement(d).name) != "httpx"]
    project["optional-dependencies"]["test"].append("httpx>=0.27")
    old = tmp_path / "pyproject.toml"
    old.write_text(_dump(pyproject))
    _, modules = extras_only_modules(old)
    if "httpx" not in modules:
        pytest.skip("a runtime dependency installs httpx itself")
    code, report = run_runtime_only(modules)
    assert code == 1
    assert any(f.startswith("hortus.identify.remote: ModuleNotFoundError")
               for f in report["import_failures"]), report


def _dump(pyproject: dict) -> str:
    """Just enough TOML for ``extras_only_modules`` (the [project] lists)."""
    project = pyproject["project"]
    lines = ["[project]", "dependencies = " + json.dumps(project["dependencies"]),
             "[project.optional-dependencies]"]
    lines += [f"{name} = {json.dumps(group)}"
              for name, group in project["optional-dependencies"].items()]
    return "\n".join(lines) + "\n"
