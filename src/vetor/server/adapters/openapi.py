"""An OpenAPI 3.1 description of a rest-json service, generated from its botocore model."""

from __future__ import annotations

import re
from typing import Any

from botocore.model import ServiceModel, Shape

from .shapes import operations


def openapi(model: ServiceModel, title: str) -> dict[str, Any]:
    """The service's paths, operations and schemas, from the model its clients use."""
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for op in operations(model).values():
        op_model = model.operation_model(op.name)
        parameters = [
            {"name": label, "in": "path", "required": True, "schema": {"type": "string"}}
            for label in op.uri_members.values()
        ] + [
            {"name": label, "in": "query", "required": member in op.required, "schema": {}}
            for member, label in op.query_members.items()
        ]
        entry: dict[str, Any] = {
            "operationId": op.name,
            "summary": _summary(op_model.documentation),
            "parameters": parameters,
            "responses": {
                "200": _json_content(
                    "Success", _ref(op_model.output_shape, schemas, op.body_members)
                ),
                **{
                    str(error.metadata.get("error", {}).get("httpStatusCode", 400)): _json_content(
                        error.name, _ref(error, schemas)
                    )
                    for error in op_model.error_shapes
                },
            },
        }
        if op.body_members:
            body_shape = _ref(op_model.input_shape, schemas, op.body_members)
            entry["requestBody"] = {"required": True, **_json_content("", body_shape)}
        paths.setdefault(op.path, {})[op.method.lower()] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": model.api_version,
            "description": "REST-JSON, AWS Signature Version 4 "
            f"(signing name {model.signing_name}).",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "sigv4": {"type": "apiKey", "name": "Authorization", "in": "header"}
            },
        },
        "security": [{"sigv4": []}],
    }


def _json_content(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _summary(documentation: str) -> str:
    text = re.sub(r"<[^>]+>", "", documentation or "").strip()
    return text.split(". ")[0][:200]


def _ref(shape: Shape | None, schemas: dict[str, Any], only: frozenset[str] | None = None) -> Any:
    if shape is None:
        return {"type": "object"}
    if only is not None:  # inline: a body made of some of the members only
        return _schema(shape, schemas, only)
    if shape.name not in schemas:
        schemas[shape.name] = {}  # placeholder: recursive shapes terminate
        schemas[shape.name] = _schema(shape, schemas)
    return {"$ref": f"#/components/schemas/{shape.name}"}


def _schema(shape: Shape, schemas: dict[str, Any], only: frozenset[str] | None = None) -> Any:
    kind = shape.type_name
    if kind == "structure":
        members = {k: v for k, v in shape.members.items() if only is None or k in only}
        if shape.metadata.get("document"):
            return {"type": "object"}
        return {
            "type": "object",
            "properties": {k: _member(v, schemas) for k, v in members.items()},
            "required": [r for r in shape.required_members if r in members],
        }
    if kind == "list":
        return {"type": "array", "items": _member(shape.member, schemas)}
    if kind == "map":
        return {"type": "object", "additionalProperties": _member(shape.value, schemas)}
    return _scalar(shape)


def _member(shape: Shape, schemas: dict[str, Any]) -> Any:
    if shape.type_name == "structure" and not shape.metadata.get("document"):
        return _ref(shape, schemas)
    return _schema(shape, schemas)


def _scalar(shape: Shape) -> dict[str, Any]:
    kinds = {
        "string": "string",
        "integer": "integer",
        "long": "integer",
        "float": "number",
        "double": "number",
        "boolean": "boolean",
        "timestamp": "number",
    }
    schema: dict[str, Any] = {"type": kinds.get(shape.type_name, "string")}
    meta = shape.metadata
    if getattr(shape, "enum", None):
        schema["enum"] = list(shape.enum)
    if "min" in meta:
        schema["minLength" if shape.type_name == "string" else "minimum"] = meta["min"]
    if "max" in meta:
        schema["maxLength" if shape.type_name == "string" else "maximum"] = meta["max"]
    if shape.type_name == "timestamp":
        schema["description"] = "seconds since the epoch"
    return schema
