"""The ``bedrock-converse`` provider: chat models on Amazon Bedrock through boto3's
``bedrock-runtime`` ``ConverseStream`` (one request shape for every Bedrock chat model).

Endpoint and credentials come from the usual AWS chain (``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``
too) or the ``endpoint_url`` and ``region`` options; every read waits at most the timeout and
botocore retries twice, so a Bedrock that is down or slow fails the call, never hangs it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from vetor.models.generator import (
    GenerationError,
    Generator,
    Inference,
    Message,
    TextStream,
    Usage,
)

STOP_REASONS = {"max_tokens": "max_tokens", "stop_sequence": "stop_sequence"}


class BedrockConverseGenerator(Generator):
    provider = "bedrock-converse"

    def __init__(
        self,
        model: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        timeout: float | str | None = None,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.model = model or "amazon.nova-lite-v1:0"
        seconds = float(timeout or os.environ.get("VETOR_LLM_TIMEOUT_SECONDS") or 60.0)
        config = Config(read_timeout=seconds, connect_timeout=min(seconds, 10.0),
                        retries={"max_attempts": 2, "mode": "standard"})  # fmt: skip
        options: dict[str, Any] = {"config": config}
        if endpoint_url:
            options["endpoint_url"] = endpoint_url
        region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        self._client = boto3.client("bedrock-runtime", region_name=region or "us-east-1",
                                    **options)  # fmt: skip

    def stream(
        self, messages: Sequence[Message], system: str = "", inference: Inference = Inference()
    ) -> TextStream:
        from botocore.exceptions import BotoCoreError, ClientError

        request: dict[str, Any] = {
            "modelId": self.model,
            "messages": [{"role": m.role, "content": [{"text": m.text}]} for m in messages],
            "inferenceConfig": {"maxTokens": inference.max_tokens,
                                "temperature": inference.temperature, "topP": inference.top_p,
                                **({"stopSequences": list(inference.stop)}
                                   if inference.stop else {})},
        }  # fmt: skip
        if system:
            request["system"] = [{"text": system}]
        usage = Usage()
        try:
            for event in self._client.converse_stream(**request)["stream"]:
                if "contentBlockDelta" in event:
                    piece = event["contentBlockDelta"]["delta"].get("text")
                    if piece:
                        yield piece
                elif "messageStop" in event:
                    reason = event["messageStop"].get("stopReason", "end_turn")
                    usage.stop_reason = STOP_REASONS.get(reason, "end_turn")
                elif "metadata" in event:
                    counted = event["metadata"].get("usage") or {}
                    usage.input_tokens = counted.get("inputTokens", 0)
                    usage.output_tokens = counted.get("outputTokens", 0)
        except ClientError as error:
            detail = error.response.get("Error", {})
            raise GenerationError(
                f"Bedrock {detail.get('Code')}: {detail.get('Message')}"
            ) from None
        except BotoCoreError as error:
            raise GenerationError(f"Bedrock: {error}") from None
        return usage
