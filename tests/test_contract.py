"""AWS's validation messages for every constrained field of the S3 Vectors model.

The cases are derived from botocore's model, not listed by hand: for each operation, a
minimal valid request (its required members), then, for each member that carries a length,
range, enum or pattern constraint (nested members included), a value that breaks it. boto3
sends each one with ``parameter_validation=False`` (the way such requests reach a server)
to a real ``vetor serve``; the answer must be AWS's ValidationException, word for word, with
its ``fieldList``. The expected sentences are written out here from AWS's templates.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import Shape
from conftest import Server

MODEL = botocore.session.get_session().get_service_model("s3vectors")
# vetor's limits where the model sets none (Settings.max_top_k): the message states them
LIMITS = {"TopK": (1, 10_000)}
VALID_EXAMPLES = {  # strings that satisfy a pattern the generic filler cannot
    "VectorBucketArn": "arn:aws:s3vectors:us-east-1:000000000000:bucket/some-bucket",
    "IndexArn": "arn:aws:s3vectors:us-east-1:000000000000:bucket/some-bucket/index/some-index",
    "KmsKeyArn": "arn:aws:kms:us-east-1:000000000000:key/some-key",
}


@dataclass(frozen=True)
class Case:
    operation: str
    path: tuple[str, ...]  # members (and list positions) down to the broken value
    value: Any
    expected: tuple[str, ...]  # AWS's sentence for each rule the value breaks, in order

    @property
    def pointer(self) -> str:
        return "/" + "/".join(self.path)

    def __str__(self) -> str:
        return f"{self.operation}{self.pointer}={str(self.value)[:20]!r}"


def _bounds(shape: Shape) -> tuple[Any, Any]:
    return LIMITS.get(shape.name, (shape.metadata.get("min"), shape.metadata.get("max")))


def _matches(pattern: str, value: str) -> bool:
    java = {r"\p{L}": r"\w", r"\p{N}": r"\d", r"\p{Z}": r"\s"}
    for name, python in java.items():
        pattern = pattern.replace(name, python)
    return re.search(pattern, value) is not None


def valid(shape: Shape) -> Any:
    """The smallest value the model accepts for ``shape``."""
    kind = shape.type_name
    if kind == "structure":
        if shape.metadata.get("document"):
            return {}
        if shape.is_union if hasattr(shape, "is_union") else shape.metadata.get("union"):
            name, member = next(iter(shape.members.items()))
            return {name: valid(member)}
        return {name: valid(shape.members[name]) for name in shape.required_members}
    low, _ = _bounds(shape)
    if kind == "list":
        if shape.member.type_name == "float":
            return [0.5]
        return [valid(shape.member) for _ in range(max(low or 0, 1))]
    if kind == "map":
        return {}
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        return VALID_EXAMPLES.get(shape.name, "a" * max(low or 0, 3))
    if kind in ("integer", "long"):
        return low if low is not None else 1
    if kind == "boolean":
        return False
    raise AssertionError(f"no valid {kind} for {shape.name}")


def broken_rules(shape: Shape, value: Any, pointer: str) -> tuple[str, ...]:
    """AWS's sentences for the rules ``value`` breaks: length or range, enum, pattern."""
    low, high = _bounds(shape)
    rules = []
    size = len(value) if isinstance(value, (str, list, dict)) else None
    measure = size if size is not None else value
    if (low is not None and measure < low) or (high is not None and measure > high):
        verb = "have length " if size is not None else "be "
        if low is None:
            rule = f"must {verb}less than or equal to {high}"
        elif high is None:
            rule = f"must {verb}greater than or equal to {low}"
        else:
            rule = f"must {verb}between {low} and {high}, inclusive"
        subject = f"Value with length {size}" if size is not None else "Value"
        rules.append((subject, rule))
    if shape.type_name == "string" and shape.enum and value not in shape.enum:
        rules.append(("Value", f"must satisfy enum value set: [{', '.join(shape.enum)}]"))
    pattern = shape.metadata.get("pattern")
    if pattern and not _matches(pattern, value):
        rules.append(("Value", f"must satisfy regular expression pattern: {pattern}"))
    return tuple(
        f"{subject} at '{pointer}' failed to satisfy constraint: Member {rule}"
        for subject, rule in rules
    )


def bad_values(shape: Shape) -> Iterator[Any]:
    """Values of the right type that break one of ``shape``'s constraints."""
    low, high = _bounds(shape)
    kind = shape.type_name
    if kind == "string":
        if low:
            yield "a" * (low - 1)
        if high is not None:
            yield "a" * (high + 1)
        if shape.enum:
            yield "NOT-A-VALUE"
        if shape.metadata.get("pattern"):
            yield "#" * max(low or 0, 3)
    elif kind in ("integer", "long"):
        if low is not None:
            yield low - 1
        if high is not None:
            yield high + 1
    elif kind == "list":
        if low:
            yield []
        if high is not None and high < 1000:
            yield [valid(shape.member) for _ in range(high + 1)]


def cases() -> Iterator[Case]:
    for operation in MODEL.operation_names:
        shape = MODEL.operation_model(operation).input_shape
        for member, member_shape in shape.members.items():
            uri = member_shape.serialization.get("location") == "uri"
            yield from _member_cases(operation, member_shape, (member,), uri)


def _member_cases(operation: str, shape: Shape, path: tuple[str, ...], uri: bool) -> Iterator[Case]:
    pointer = "/" + "/".join(path)
    for value in bad_values(shape):
        if uri and value == "":
            continue  # an empty URI label is another route, not a short value
        expected = broken_rules(shape, value, pointer)
        if expected:
            yield Case(operation, path, value, expected)
    if shape.type_name == "structure" and not shape.metadata.get("document"):
        for name, member in shape.members.items():
            yield from _member_cases(operation, member, (*path, name), uri)
    elif shape.type_name == "list" and shape.member.type_name == "structure":
        yield from _member_cases(operation, shape.member, (*path, "0"), uri)
    elif shape.type_name == "map":
        for key in bad_values(shape.key):  # a key's violations are reported at the map
            expected = broken_rules(shape.key, key, pointer)
            if expected:
                yield Case(operation, path, {key: valid(shape.value)}, expected)
        yield from _member_cases(operation, shape.value, (*path, "k"), uri)


def request(case: Case) -> dict[str, Any]:
    """The operation's minimal valid request, with the case's value set at its path."""
    shape = MODEL.operation_model(case.operation).input_shape
    params = valid(shape)
    holder, holder_shape = params, shape
    for step in case.path[:-1]:
        if holder_shape.type_name == "list":
            holder, holder_shape = holder[int(step)], holder_shape.member
            continue
        member = (
            holder_shape.value if holder_shape.type_name == "map" else holder_shape.members[step]
        )
        if step not in holder:
            holder[step] = valid(member) or ([] if member.type_name == "list" else {})
        if member.type_name == "list" and not holder[step]:
            holder[step] = [valid(member.member)]
        holder, holder_shape = holder[step], member
    last = case.path[-1]
    if holder_shape.type_name == "list":
        holder[int(last)] = case.value
    else:
        holder[last] = case.value
    return params


CASES = list(cases())


def test_the_model_yields_cases_for_every_kind_of_constraint() -> None:
    text = "\n".join(sentence for case in CASES for sentence in case.expected)
    for kind in ("have length between", "be between", "enum value set", "regular expression"):
        assert kind in text
    assert len({case.operation for case in CASES}) == len(MODEL.operation_names)


@pytest.fixture(scope="module")
def strict_client(server: Server) -> Any:
    return server.client(config=Config(parameter_validation=False, retries={"max_attempts": 1}))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_broken_constraint_gets_aws_validation_message(strict_client: Any, case: Case) -> None:
    method = getattr(strict_client, re.sub(r"(?<!^)(?=[A-Z])", "_", case.operation).lower())
    with pytest.raises(ClientError) as raised:
        method(**request(case))
    error = raised.value.response
    count = len(case.expected)
    summary = f"{count} validation error{'s' if count > 1 else ''} detected. "
    assert error["Error"]["Code"] == "ValidationException"
    assert error["Error"]["Message"] == summary + "; ".join(case.expected)
    assert error["fieldList"] == [{"path": case.pointer, "message": m} for m in case.expected]


def test_several_errors_are_counted_in_model_order(strict_client: Any) -> None:
    with pytest.raises(ClientError) as raised:
        strict_client.create_index(
            vectorBucketName="kb",
            indexName="ix",
            dataType="float16",
            dimension=5000,
            distanceMetric="dot",
        )
    message = raised.value.response["Error"]["Message"]
    fields = raised.value.response["fieldList"]
    assert message.startswith("5 validation errors detected. Value with length 2 at '/vectorB")
    assert message.endswith("; ".join(field["message"] for field in fields))
    paths = [field["path"] for field in fields]
    assert paths == [
        "/vectorBucketName",
        "/indexName",
        "/dataType",
        "/dimension",
        "/distanceMetric",
    ]


def test_an_index_in_a_missing_bucket_is_the_missing_resource(strict_client: Any) -> None:
    with pytest.raises(ClientError) as raised:
        strict_client.query_vectors(
            vectorBucketName="no-such-bucket",
            indexName="no-such-index",
            topK=1,
            queryVector={"float32": [0.5]},
        )
    assert raised.value.response["Error"]["Code"] == "NotFoundException"
    assert raised.value.response["Error"]["Message"] == "The specified index could not be found"


def test_null_members_are_absent_at_every_depth() -> None:
    """JSON null is "not given" (Smithy's rule), nested too: never a 500, never stored."""
    import vetor

    service = vetor.connect("memory://contract-nulls")
    service.create_vector_bucket(vectorBucketName="docs", encryptionConfiguration=None)
    address = {"vectorBucketName": "docs", "indexName": "idx"}
    service.create_index(
        **address,
        dataType="float32",
        dimension=2,
        distanceMetric="cosine",
        metadataConfiguration={"nonFilterableMetadataKeys": None},
        encryptionConfiguration={"sseType": None},
    )
    index = service.get_index(**address)["index"]
    assert index["encryptionConfiguration"] == {"sseType": "AES256"}
    assert index["metadataConfiguration"]["nonFilterableMetadataKeys"] == []
    with pytest.raises(vetor.ValidationException, match="'/add/textSearchConfigurations'"):
        service.update_metadata_configuration(**address, add={"textSearchConfigurations": None})
    arn = index["indexArn"]
    with pytest.raises(vetor.ValidationException, match="length between 1 and 50"):
        service.untag_resource(resourceArn=arn, tagKeys=[])


def test_every_pattern_of_the_served_models_compiles() -> None:
    """Java's Unicode classes (\\p{L}, \\P{C}...) are translated; none falls back to no check."""
    import botocore.session

    from vetor.contract import _compiled

    session = botocore.session.get_session()
    for service in ("s3vectors", "bedrock-agent", "bedrock-agent-runtime", "bedrock",
                    "bedrock-runtime", "sts"):  # fmt: skip
        model = session.get_service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern:
                assert _compiled(pattern).pattern, (service, name, pattern)
    assert _compiled("^\\P{C}*$").search("fine text")
    assert not _compiled("^\\P{C}*$").search("a control \x00 character")
