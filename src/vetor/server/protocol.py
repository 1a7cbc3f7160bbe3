"""The S3 Vectors wire contract, read from botocore's service model.

botocore's ``s3vectors`` model is the authoritative description of the REST-JSON protocol
(paths, methods, members and their locations, required members). Reading it here instead of
re-typing it keeps vetor's routes exactly in step with the clients that talk to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
import numpy as np
from botocore.model import OperationModel, ServiceModel, Shape

from ..errors import ValidationException


@dataclass(frozen=True)
class Operation:
    name: str  # e.g. "QueryVectors"
    method: str  # HTTP method
    path: str  # request URI template, e.g. "/tags/{resourceArn}"
    function: str  # VectorService method, e.g. "query_vectors"
    body_members: frozenset[str]
    uri_members: dict[str, str]  # member -> URI label
    query_members: dict[str, str]  # member -> query-string name
    list_query_members: frozenset[str]  # query members that repeat (lists)
    required: frozenset[str]


@cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("s3vectors")


@cache
def operations() -> dict[str, Operation]:
    model = service_model()
    return {name: _operation(model.operation_model(name)) for name in model.operation_names}


def _operation(model: OperationModel) -> Operation:
    shape = model.input_shape
    members = shape.members if shape is not None else {}
    body, uri, query, lists = set(), {}, {}, set()
    for name, member in members.items():
        location = member.serialization.get("location")
        label = member.serialization.get("name", name)
        if location == "uri":
            uri[name] = label
        elif location == "querystring":
            query[name] = label
            if member.type_name == "list":
                lists.add(name)
        else:
            body.add(name)
    return Operation(
        name=model.name,
        method=model.http["method"],
        path=model.http["requestUri"].split("?")[0],
        function=_snake(model.name),
        body_members=frozenset(body),
        uri_members=uri,
        query_members=query,
        list_query_members=frozenset(lists),
        required=frozenset(shape.required_members if shape is not None else ()),
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def openapi() -> dict[str, Any]:
    """An OpenAPI 3.1 description of the API, generated from the same model."""
    model = service_model()
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    for op in operations().values():
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
            "title": "vetor — Amazon S3 Vectors API",
            "version": model.api_version,
            "description": "REST-JSON, AWS Signature Version 4 (signing name s3vectors).",
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
        return {"type": "array", "items": _member(shape.member, schemas)}  # type: ignore[attr-defined]
    if kind == "map":
        return {"type": "object", "additionalProperties": _member(shape.value, schemas)}  # type: ignore[attr-defined]
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
        schema["enum"] = list(shape.enum)  # type: ignore[attr-defined]
    if "min" in meta:
        schema["minLength" if shape.type_name == "string" else "minimum"] = meta["min"]
    if "max" in meta:
        schema["maxLength" if shape.type_name == "string" else "maximum"] = meta["max"]
    if shape.type_name == "timestamp":
        schema["description"] = "seconds since the epoch"
    return schema


def check_types(operation: str, params: dict[str, Any]) -> None:
    """Reject members of the wrong JSON type or unknown to the model (AWS-style messages).

    Vector data (lists of floats) is not walked here: it is converted and checked as a whole
    by numpy in the service layer, never float by float.
    """
    shape = service_model().operation_model(operation).input_shape
    if shape is not None:
        _check(shape, params, "")


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "boolean": (bool,),
    "float": (int, float),
    "double": (int, float),
}


def _check(shape: Shape, value: Any, path: str) -> None:
    kind = shape.type_name
    if kind == "structure" and shape.metadata.get("document"):
        return
    if kind == "structure":
        if not isinstance(value, dict):
            raise _wrong_type(path, "structure")
        for name, item in value.items():
            member = shape.members.get(name)
            if member is None:
                raise ValidationException(f"Unknown field '{path}/{name}' for this operation")
            _check(member, item, f"{path}/{name}")
        return
    if kind == "list":
        member = shape.member  # type: ignore[attr-defined]
        if member.type_name in ("float", "double") and isinstance(value, (list, np.ndarray)):
            return  # numeric arrays are validated vectorised downstream
        if not isinstance(value, list):
            raise _wrong_type(path, "list")
        for item in value:
            _check(member, item, path)
        return
    if kind == "map":
        if not isinstance(value, dict):
            raise _wrong_type(path, "map")
        for key, item in value.items():
            _check(shape.value, item, f"{path}/{key}")  # type: ignore[attr-defined]
        return
    allowed = _JSON_TYPES.get(kind)
    if allowed and (
        not isinstance(value, allowed) or (bool not in allowed and isinstance(value, bool))
    ):
        raise _wrong_type(path, kind)


def _wrong_type(path: str, kind: str) -> Exception:
    return ValidationException.field(path or "/", f"Member must be of type {kind}")
