"""Validate request bodies against Discord's official OpenAPI spec (vendored in discord_openapi/).

The spec is OpenAPI 3.1, whose schemas are JSON Schema 2020-12, so jsonschema validates them
directly once `$ref`s resolve against the whole document.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_PATH = Path(__file__).parent / "discord_openapi" / "openapi.json"
_SPEC_URI = "urn:discord-openapi"

# Discord accepts snowflakes as JSON integers as well as strings, and discord.py sends integers
# (attachment ids, message_reference ids); the spec only allows strings.
_SNOWFLAKE = {
    "anyOf": [
        {"type": "string", "pattern": "^(0|[1-9][0-9]*)$"},
        {"type": "integer", "minimum": 0},
    ]
}


@cache
def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    spec["components"]["schemas"]["SnowflakeType"] = _SNOWFLAKE
    return spec


@cache
def _registry() -> Registry[Any]:
    resource: Resource[Any] = Resource.from_contents(_spec(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_SPEC_URI, resource)
    return registry


def _segments(path: str) -> list[str]:
    return path.strip("/").split("/")


def _is_param(segment: str) -> bool:
    return segment.startswith("{") and segment.endswith("}")


def find_spec_path(path: str) -> str | None:
    """Return the spec's path template matching `path`, which may be concrete or a template.

    Placeholders in `path` may have any name; literal segments must match exactly. When several
    templates fit (e.g. `messages/@original` vs `messages/{message_id}`), the most literal wins.
    """
    wanted = _segments(path)
    best: tuple[int, str] | None = None
    for candidate in _spec()["paths"]:
        segments = _segments(candidate)
        if len(segments) != len(wanted):
            continue
        literal_matches = 0
        for theirs, ours in zip(segments, wanted, strict=True):
            if _is_param(theirs):
                continue
            if theirs != ours:
                break
            literal_matches += 1
        else:
            if best is None or literal_matches > best[0]:
                best = (literal_matches, candidate)
    return best[1] if best else None


def _pointer_escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@cache
def _validator(method: str, spec_path: str) -> Draft202012Validator | None:
    operation = _spec()["paths"][spec_path].get(method.lower())
    if operation is None or "requestBody" not in operation:
        return None
    if "application/json" not in operation["requestBody"]["content"]:
        return None
    pointer = "/".join(
        _pointer_escape(token)
        for token in (
            "paths",
            spec_path,
            method.lower(),
            "requestBody",
            "content",
            "application/json",
            "schema",
        )
    )
    # A $ref into the registered document keeps the schema's own "#/components/..." refs
    # resolving against the spec rather than against this small wrapper.
    return Draft202012Validator({"$ref": f"{_SPEC_URI}#/{pointer}"}, registry=_registry())


def _depth(error: ValidationError) -> int:
    return max([len(error.absolute_path), *(_depth(sub) for sub in error.context)])


def _describe(error: ValidationError) -> str:
    # anyOf/oneOf failures only say "not valid under any of the given schemas"; the branch that
    # got deepest into the body before failing is the one the sender meant, and names the field.
    while error.context:
        error = max(error.context, key=_depth)
    message = error.message  # quotes the whole offending value, which may be huge
    if len(message) > 200:
        message = message[:100] + " ... " + message[-60:]
    return f"{error.json_path}: {message}"


def request_body_errors(method: str, path: str, body: Any) -> list[str]:
    """Validate a JSON request body (or a multipart `payload_json`) for `method path`.

    Returns human-readable error strings; a route the spec doesn't know is itself an error.
    """
    spec_path = find_spec_path(path)
    if spec_path is None:
        return [f"{method} {path}: no such path in the OpenAPI spec"]
    validator = _validator(method.upper(), spec_path)
    if validator is None:
        return [f"{method} {path}: the spec defines no JSON request body for this operation"]
    return sorted(_describe(error) for error in validator.iter_errors(body))
