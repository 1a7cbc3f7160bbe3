"""The AWS embed CLI's form of ``vetor embed put|query``: its options and their rules.

awslabs' ``s3vectors-embed`` names the index with ``--vector-bucket-name``/``--index-name``
and the model with ``--model-id``; it prints JSON by default. Giving those options selects
this form (vetor's own form takes ``BUCKET INDEX`` and prints tables). Both run the same
pipeline; the ``s3vectors-embed`` command vetor installs is this form under AWS's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from ...embed import EmbeddingError, provider_of
from ..base import cli_defaults, parse_json

BucketNameOpt = Annotated[
    str | None, typer.Option("--vector-bucket-name", help="The vector bucket (AWS form).")
]
IndexNameOpt = Annotated[str | None, typer.Option("--index-name", help="The index (AWS form).")]
ModelIdOpt = Annotated[
    str | None,
    typer.Option(
        "--model-id",
        help="The model: all-MiniLM-L6-v2, multilingual-e5-small, amazon.titan-embed-text-v2:0, "
        "cohere.embed-english-v3, ... (instead of --provider/--model).",
    ),
]
VideoOpt = Annotated[
    str | None, typer.Option("--video", help="A video (no offline model embeds video yet).")
]
AudioOpt = Annotated[
    list[str] | None,
    typer.Option("--audio", help="Speech recording(s): transcribed, then embedded as text."),
]
InferenceParamsOpt = Annotated[
    str | None,
    typer.Option(
        "--bedrock-inference-params",
        help="JSON object merged into each Bedrock request (not the members set from inputs).",
    ),
]
SrcBucketOwnerOpt = Annotated[
    str | None,
    typer.Option("--src-bucket-owner", help="Account that must own s3:// source buckets."),
]
AsyncOutputOpt = Annotated[
    str | None,
    typer.Option(
        "--async-output-s3-uri",
        help="Output location of asynchronous models; vetor's models answer synchronously.",
    ),
]
RegionOpt = Annotated[
    str | None, typer.Option("--region", help="Region of the S3 Vectors and Bedrock clients.")
]


@dataclass(frozen=True)
class Target:
    bucket: str
    index: str
    aws: bool  # named the AWS way: print AWS's documents


def target(
    bucket: str | None, index: str | None, bucket_name: str | None, index_name: str | None
) -> Target:
    """The index a command names, positionally (vetor) or by option (AWS), not both."""
    aws = bucket_name is not None or index_name is not None
    if aws and (bucket is not None or index is not None):
        raise typer.BadParameter("give BUCKET INDEX or --vector-bucket-name and --index-name")
    name, inside = (bucket_name, index_name) if aws else (bucket, index)
    if not name or not inside:
        raise typer.BadParameter("name the index: BUCKET INDEX, or --vector-bucket-name and "
                                 "--index-name")  # fmt: skip
    return Target(name, inside, aws)


def model_choice(
    model_id: str | None, provider: str | None, model: str | None
) -> tuple[str | None, str | None]:
    """(provider, model) from ``--model-id``, or as given by ``--provider``/``--model``."""
    if model_id is None:
        return provider, model
    if provider is not None or model is not None:
        raise typer.BadParameter("--model-id names the model: leave out --provider and --model")
    found = provider_of(model_id)
    if found is None:
        raise EmbeddingError(f"Unsupported model: {model_id}")
    return found, model_id


def provider_options(
    provider: str | None,
    options: dict[str, Any],
    inference_params: str | None,
    region: str | None,
) -> dict[str, Any]:
    """The provider's options with the AWS form's ``--bedrock-inference-params`` and
    ``--region`` (a Bedrock model's region)."""
    if inference_params is not None:
        if provider != "bedrock":
            raise EmbeddingError("--bedrock-inference-params applies to Bedrock models only")
        value = parse_json(inference_params, "--bedrock-inference-params")
        if not isinstance(value, dict):
            raise typer.BadParameter(
                "must be a JSON object", param_hint="'--bedrock-inference-params'"
            )
        options = {**options, "inference_params": value}
    if provider == "bedrock":  # the command's --region, else the group's, and its profile
        defaults = {"region": region or cli_defaults.get("region")}
        defaults["profile"] = cli_defaults.get("profile")
        options = {**{k: v for k, v in defaults.items() if v}, **options}
    return options


def refuse_video(video: str | None, model: str) -> None:
    if video is not None:
        raise EmbeddingError(
            f"Model {model} does not support video input: no video model is available offline; "
            "extract frames (--image) or the sound track (--audio)"
        )
