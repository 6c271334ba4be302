"""The JSON Schema of every output record, shipped with the package.

``sensor/outputs/schema/egress-records.schema.json`` (draft 2020-12) holds one definition per
record type, selected by ``record_type``; docs/alerts.md documents it with examples. Validation
needs the ``jsonschema`` package (a test extra): the sensor itself only writes records, the tests
and consumers validate them.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from sensor.errors import EgressError

SCHEMA_FILE = "egress-records.schema.json"


@cache
def record_schema() -> dict[str, Any]:
    """The schema document (parsed once)."""
    text = resources.files("sensor.outputs").joinpath("schema", SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def schema_errors(record: dict[str, Any]) -> list[str]:
    """Every way ``record`` breaks the schema, as ``path: message`` lines (empty: valid)."""
    try:
        from jsonschema import Draft202012Validator
    except ImportError:
        raise EgressError("validating records needs jsonschema: pip install jsonschema") from None
    validator = Draft202012Validator(
        record_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '(record)'}: {error.message}"
        for error in sorted(validator.iter_errors(record), key=lambda e: list(e.absolute_path))
    ]
