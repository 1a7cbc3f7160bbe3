"""A service's wire contract, read from its botocore service model.

botocore's model of a service (``s3vectors``, ``sts``, ``bedrock-agent``...) is the
authoritative description of its protocol: paths, methods, members and their locations,
required members, shapes. Reading it here instead of re-typing it keeps vetor's routes exactly
in step with the clients that talk to it. Every adapter takes the model by service name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import botocore.session
import numpy as np
from botocore.model import OperationModel, ServiceModel, Shape

from ...errors import ValidationException


@dataclass(frozen=True)
class Operation:
    name: str  # e.g. "QueryVectors"
    method: str  # HTTP method
    path: str  # request URI template, e.g. "/tags/{resourceArn}"
    function: str  # the handler's method, e.g. "query_vectors"
    body_members: frozenset[str]
    uri_members: dict[str, str]  # member -> URI label
    query_members: dict[str, str]  # member -> query-string name
    list_query_members: frozenset[str]  # query members that repeat (lists)
    required: frozenset[str]


@cache
def service_model(name: str) -> ServiceModel:
    """botocore's model of the service ``name`` (its botocore client name, e.g. "s3vectors")."""
    return botocore.session.get_session().get_service_model(name)


@cache
def operations(model: ServiceModel) -> dict[str, Operation]:
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
        method=model.http.get("method", "POST"),
        path=model.http.get("requestUri", "/").split("?")[0],
        function=_snake(model.name),
        body_members=frozenset(body),
        uri_members=uri,
        query_members=query,
        list_query_members=frozenset(lists),
        required=frozenset(shape.required_members if shape is not None else ()),
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def check_types(model: ServiceModel, operation: str, params: dict[str, Any]) -> None:
    """Reject members of the wrong JSON type or unknown to the model (AWS-style messages).

    Vector data (lists of floats) is not walked here: it is converted and checked as a whole
    by numpy in the service layer, never float by float.
    """
    shape = model.operation_model(operation).input_shape
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
        member = shape.member
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
            _check(shape.value, item, f"{path}/{key}")
        return
    if kind in ("integer", "long") and isinstance(value, float) and value.is_integer():
        return  # an integral JSON number in exponent form (1e3): the range check judges it
    allowed = _JSON_TYPES.get(kind)
    if allowed and (
        not isinstance(value, allowed) or (bool not in allowed and isinstance(value, bool))
    ):
        raise _wrong_type(path, kind)


def _wrong_type(path: str, kind: str) -> Exception:
    return ValidationException.field(path or "/", f"Member must be of type {kind}")
