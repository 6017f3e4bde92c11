"""Count what ``/openapi.json`` describes: operations, parameters, bodies, responses, schemas.

    python tools/openapi_stats.py            # JSON on stdout

Used for the before/after figures of the API contract work; builds the app without starting it.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter

from hortus.app import create_app
from hortus.config import Settings

METHODS = ("get", "post", "put", "patch", "delete")


def stats(document: dict) -> dict[str, object]:
    operations = [(path, method, op) for path, item in document["paths"].items()
                  for method, op in item.items() if method in METHODS]
    by_family: Counter[str] = Counter()
    parameters = bodies = responses = typed_responses = untyped_ok = 0
    for path, _method, op in operations:
        by_family["/" + path.strip("/").split("/")[0]] += 1
        parameters += len(op.get("parameters", []))
        bodies += "requestBody" in op
        for status, answer in op.get("responses", {}).items():
            responses += 1
            schemas = [c.get("schema") for c in (answer.get("content") or {}).values()]
            if any(schema and schema != {} for schema in schemas):
                typed_responses += 1
            elif status.startswith("2"):
                untyped_ok += 1
    return {
        "operations": len(operations),
        "operations_by_prefix": dict(sorted(by_family.items())),
        "parameters": parameters,
        "request_bodies": bodies,
        "responses": responses,
        "responses_with_a_schema": typed_responses,
        "success_responses_without_a_schema": untyped_ok,
        "component_schemas": len(document.get("components", {}).get("schemas", {})),
    }


def main() -> None:
    settings = Settings(data_dir=tempfile.mkdtemp(), environment="test", warm_up_engine=False)
    print(json.dumps(stats(create_app(settings).openapi()), indent=2))


if __name__ == "__main__":
    main()
