"""Schemas in fake requests: where a request puts the JSON schema it asks for, and a
minimal valid instance of it (the fake endpoint's ``schema`` replies).

The subset of JSON Schema pydantic emits: ``$ref``, ``const``, ``enum``,
``anyOf``/``oneOf``/``allOf``, objects, arrays (``minItems``), strings
(``format``, ``minLength``), numbers (bounds), booleans, null.
"""

from __future__ import annotations

import json
from typing import Any


def forced_tool(body: dict[str, Any]) -> str | None:
    tools = body.get("tools")
    if not tools:
        return None
    choice = body.get("tool_choice")
    if isinstance(choice, dict):
        return str(choice.get("function", {}).get("name"))
    return str(tools[0].get("function", {}).get("name"))


def request_schema(body: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON schema a request asks the answer to follow, wherever it was put."""
    tools = body.get("tools")
    if tools:
        name = forced_tool(body)
        for tool in tools:
            function = tool.get("function", {})
            if function.get("name") == name:
                params = function.get("parameters")
                return params if isinstance(params, dict) else None
    fmt = body.get("response_format")
    if isinstance(fmt, dict):
        if isinstance(fmt.get("schema"), dict):
            return fmt["schema"]
        json_schema = fmt.get("json_schema")
        if isinstance(json_schema, dict) and isinstance(json_schema.get("schema"), dict):
            return json_schema["schema"]
    return _schema_in_system_message(body)


def _schema_in_system_message(body: dict[str, Any]) -> dict[str, Any] | None:
    """The first JSON object schema pasted into a system message (md_json mode)."""
    decoder = json.JSONDecoder()
    for message in body.get("messages", []):
        content = message.get("content") if isinstance(message, dict) else None
        if message.get("role") != "system" or not isinstance(content, str):
            continue
        start = content.find("{")
        while start != -1:
            try:
                found, _ = decoder.raw_decode(content, start)
            except ValueError:
                found = None
            if isinstance(found, dict) and "properties" in found:
                return found
            start = content.find("{", start + 1)
    return None


_FORMAT_EXAMPLES = {
    "date": "2020-01-01",
    "date-time": "2020-01-01T00:00:00Z",
    "time": "00:00:00",
    "email": "a@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-0000-0000-000000000000",
}


def minimal_instance(
    schema: dict[str, Any], root: dict[str, Any] | None = None, depth: int = 0
) -> Any:
    """A small value that validates against ``schema`` (the subset pydantic emits)."""
    root = root if root is not None else schema
    if depth > 12:
        return None
    if "$ref" in schema:
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return minimal_instance(target, root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "default" in schema and depth > 0 and schema["default"] is not None:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = schema[key]
            concrete = [o for o in options if o.get("type") != "null"]
            if concrete and depth < 6:
                return minimal_instance(concrete[0], root, depth + 1)
            return (
                None
                if len(concrete) < len(options)
                else minimal_instance(options[0], root, depth + 1)
            )
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(part)
        return minimal_instance(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties", {})
        return {name: minimal_instance(sub, root, depth + 1) for name, sub in props.items()}
    if kind == "array":
        items = schema.get("items", {})
        count = int(schema.get("minItems", 0))
        return [minimal_instance(items, root, depth + 1) for _ in range(count)]
    if kind == "string":
        if schema.get("format") in _FORMAT_EXAMPLES:
            return _FORMAT_EXAMPLES[schema["format"]]
        return "x" * max(1, int(schema.get("minLength", 1)))
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        value = max(0, low + (1 if "exclusiveMinimum" in schema else 0))
        high = schema.get("maximum")
        if high is not None:
            value = min(value, high)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return None
