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

from botocore.model import OperationModel, ServiceModel


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
    status: int  # of a success: 200, or 202 for Bedrock's asynchronous-looking creates


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
        status=int(model.http.get("responseCode", 200)),
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
