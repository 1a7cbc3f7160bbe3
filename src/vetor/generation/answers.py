"""RetrieveAndGenerate and RetrieveAndGenerateStream (``bedrock-agent-runtime``): an answer
to a question from a knowledge base's passages (``KNOWLEDGE_BASE``) or from documents sent
with the request (``EXTERNAL_SOURCES``), with citations, in a session of earlier turns.

A request becomes a ``Plan``: the passages (retrieved, or the documents' text), the prompt
(Bedrock's ``$search_results$``, ``$query$`` and ``$output_format_instructions$`` filled in;
the earlier turns of the session as chat history) and the model. The model's answer is read
through ``Citations`` as it streams, so the plain and the streamed call give the same text and
the same citations. A follow-up is retrieved with the previous question before it, so "and in
Portuguese?" finds what the conversation is about; ``QUERY_DECOMPOSITION`` asks the model for
sub-questions and retrieves each.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ValidationException
from ..kb import KnowledgeBaseService
from ..kb.documents import MIME_SUFFIXES
from ..kb.parsing import ParseError, parse
from ..kb.sources import s3_bucket
from ..models import Generator, Inference, Message, TextStream
from .citations import Citations, Part, bedrock_citations, cite, location_of
from .feedback import AnswerLog
from .models import generate, generator_for, inference_of
from .routing import PromptRouters
from .sessions import Sessions

DEFAULT_PROMPT = (
    "You are a question answering agent. I will provide you with a set of search results. "
    "The user will provide you with a question. Your job is to answer the user's question "
    "using only information from the search results. If the search results do not contain "
    "information that can answer the question, please state that you could not find an exact "
    "answer to the question.\n\nHere are the search results in numbered order:\n"
    "$search_results$\n\n$output_format_instructions$"
)
OUTPUT_FORMAT = (
    "Answer in a few plain sentences. After each sentence, write the number of the search "
    "result it comes from in square brackets, for example [1]."
)
# For a model too small to cite (SmolLM2-135M): the passages and the question in one message,
# no numbers (its answers were best so; citations then come from the words it shares).
PLAIN_SYSTEM = "You are a helpful assistant. Answer briefly from the context."
PLAIN_PROMPT = "Context:\n$search_results$\n\nQuestion: $query$"
DECOMPOSE = (
    "Split the question into at most three simpler questions that together answer it. Write "
    "one question per line and nothing else."
)
MAX_SUB_QUESTIONS = 3
MAX_EXTERNAL_BYTES = 10 << 20  # a document in the request, as Bedrock's ByteContentDoc limit


@dataclass
class Plan:
    question: str
    references: list[dict[str, Any]]  # Bedrock's retrievedReferences, in prompt order
    generator: Generator
    system: str
    messages: list[Message]
    inference: Inference
    session_id: str | None
    guardrail: dict[str, Any] | None = None  # generationConfiguration.guardrailConfiguration
    session_key: str | None = None  # sessionConfiguration.kmsKeyArn, for a new session
    blocked: str | None = None  # the guardrail's message when it blocked the question
    knowledge_base: str | None = None
    started: float = field(default_factory=time.perf_counter)


@dataclass
class Answer:
    text: str
    parts: list[Part]
    guardrail_action: str | None = None  # INTERVENED or NONE, with a guardrail


class Answers:
    def __init__(self, knowledge_bases: KnowledgeBaseService) -> None:
        self.knowledge_bases = knowledge_bases
        self.guardrails = knowledge_bases.guardrails
        self.settings = knowledge_bases.service.settings
        self.sessions = Sessions(knowledge_bases.service.store, self.settings.session_ttl_seconds)
        self.log = AnswerLog(knowledge_bases.service.store, self.settings)
        self.cached = self.settings.answer_cache_seconds
        self.routers = PromptRouters(knowledge_bases.service)

    def retrieve_and_generate(self, **request: Any) -> dict[str, Any]:
        plan = self.plan(**request)
        return self._answer(plan, plan.session_id)

    def _answer(self, plan: Plan, session_id: str | None) -> dict[str, Any]:
        citations = Citations(_passages(plan))
        parts: list[Part] = []
        if plan.blocked is None:
            for piece in self._stream(plan):
                parts += citations.feed(piece)[1]
            parts += citations.finish()[1]
        answer = self._guarded(plan, Answer(citations.text.rstrip(), parts))
        session = self.sessions.record(session_id, plan.question, answer.text, plan.session_key)
        body = {
            "sessionId": session,
            "output": {"text": answer.text},
            "citations": bedrock_citations(answer.text, answer.parts, plan.references),
        }
        if answer.guardrail_action is not None:
            body["guardrailAction"] = answer.guardrail_action
        self._log(plan, session, answer.text, len(answer.parts), answer.guardrail_action, False)
        return body

    def _log(self, plan: Plan, session_id: str, text: str, citations: int,
             guardrail_action: str | None, streamed: bool) -> None:  # fmt: skip
        self.log.record(
            sessionId=session_id, question=plan.question, model=plan.generator.model,
            knowledgeBaseId=plan.knowledge_base, answer=text, streamed=streamed,
            passages=[{"location": location_of(r), "text": r["content"]["text"]}
                      for r in plan.references],
            citations=citations, guardrailAction=guardrail_action or "",
            latencyMs=round((time.perf_counter() - plan.started) * 1000, 1),
        )  # fmt: skip

    def retrieve_and_generate_stream(self, **request: Any) -> dict[str, Any]:
        """boto3's shape: the ``sessionId`` (known before the stream starts) and the
        ``stream`` of events, each ``{type: payload}``: ``output`` as the model writes,
        ``citation`` as each sentence completes. With a guardrail the answer is judged whole
        before any of it is sent, then sent with a ``guardrail`` event."""
        plan = self.plan(**request)
        session_id = plan.session_id or self.sessions.open(plan.session_key)  # before the header
        if plan.guardrail is not None:
            reply = self._answer(plan, session_id)

            def judged() -> Iterator[tuple[str, dict[str, Any]]]:
                yield "output", {"text": reply["output"]["text"]}
                for cited in reply["citations"]:
                    yield "citation", {**cited, "citation": cited}
                yield "guardrail", {"action": reply["guardrailAction"]}

            return {"sessionId": session_id, "stream": _events(judged())}

        def events() -> Iterator[tuple[str, dict[str, Any]]]:
            citations = Citations(_passages(plan))
            cited_parts: list[dict[str, Any]] = []

            def emitted(shown: str, parts: list[Part]) -> Iterator[tuple[str, dict[str, Any]]]:
                if shown:
                    yield "output", {"text": shown}
                for cited in bedrock_citations(citations.text, parts, plan.references):
                    cited_parts.append(cited)
                    yield "citation", {**cited, "citation": cited}

            for piece in self._stream(plan):  # each piece out as soon as the model writes it
                yield from emitted(*citations.feed(piece))
            yield from emitted(*citations.finish())
            text = citations.text.rstrip()
            self.sessions.record(session_id, plan.question, text, plan.session_key)
            self._log(plan, session_id, text, len(cited_parts), None, True)

        return {"sessionId": session_id, "stream": _events(events())}

    def _stream(self, plan: Plan) -> TextStream:
        return generate(plan.generator, plan.messages, plan.system, plan.inference, self.cached)

    def _guarded(self, plan: Plan, answer: Answer) -> Answer:
        """The answer as the guardrail lets it out: blocked (its message, no citations),
        anonymized (cited again, so spans point into the text shown), or as it was."""
        if plan.guardrail is None:
            return answer
        if plan.blocked is not None:
            return Answer(plan.blocked, [], "INTERVENED")
        grounding = "\n\n".join(_passages(plan))
        verdict, shown = self.guardrails.check(plan.guardrail, "OUTPUT", answer.text,
                                               grounding, plan.question)  # fmt: skip
        if not verdict.intervened:
            return Answer(answer.text, answer.parts, "NONE")
        parts = [] if verdict.blocked else cite(shown, _passages(plan))[1]
        return Answer(shown, parts, "INTERVENED")

    def plan(
        self,
        *,
        input: dict[str, Any],
        retrieveAndGenerateConfiguration: dict[str, Any] | None = None,
        sessionConfiguration: dict[str, Any] | None = None,
        sessionId: str | None = None,
        userContext: dict[str, Any] | None = None,
    ) -> Plan:
        question = (input or {}).get("text", "")
        if not question.strip():
            raise ValidationException("input.text must not be empty")
        config = retrieveAndGenerateConfiguration or {}
        kind = config.get("type")
        if kind not in ("KNOWLEDGE_BASE", "EXTERNAL_SOURCES"):
            raise ValidationException(
                "retrieveAndGenerateConfiguration.type must be KNOWLEDGE_BASE or EXTERNAL_SOURCES"
            )
        source = config.get("knowledgeBaseConfiguration" if kind == "KNOWLEDGE_BASE"
                            else "externalSourcesConfiguration") or {}  # fmt: skip
        session_key = (sessionConfiguration or {}).get("kmsKeyArn")
        self.sessions.check_key(session_key)
        turns = self.sessions.turns(sessionId, session_key)
        model = self.routers.resolve(source.get("modelArn", ""), question, len(turns))
        generator = generator_for(model, self.settings)
        generation = source.get("generationConfiguration") or {}
        guardrail = generation.get("guardrailConfiguration")
        if guardrail is not None:  # the question first: a blocked one goes no further
            verdict, shown = self.guardrails.check(guardrail, "INPUT", question)
            if verdict.blocked:  # the question is not kept (session, log): only the refusal
                return Plan(shown, [], generator, "", [], Inference(), sessionId, guardrail,
                            session_key, shown)  # fmt: skip
            question = shown
        if kind == "KNOWLEDGE_BASE":
            query = " ".join([*(t["question"] for t in turns[-1:]), question])
            references = self._retrieve(source, query, generator)
        else:
            references = [self._external(s) for s in source.get("sources") or []]
        system, user = _prompt(generation, question, references, generator.cites_sources)
        history = [m for t in turns for m in (Message("user", t["question"]),
                                              Message("assistant", t["answer"]))]  # fmt: skip
        messages = [*history, Message("user", user)]
        return Plan(question, references, generator, system, messages, _inference(generation),
                    sessionId, guardrail, session_key,
                    knowledge_base=source.get("knowledgeBaseId"))  # fmt: skip

    def _retrieve(
        self, config: dict[str, Any], query: str, generator: Generator
    ) -> list[dict[str, Any]]:
        retrieval = config.get("retrievalConfiguration")
        queries = [query]
        orchestration = config.get("orchestrationConfiguration") or {}
        transform = orchestration.get("queryTransformationConfiguration") or {}
        if transform.get("type") == "QUERY_DECOMPOSITION":
            queries += _sub_questions(generator, query)
        found: dict[str, dict[str, Any]] = {}
        for text in queries:
            results = self.knowledge_bases.retrieve(
                knowledgeBaseId=config.get("knowledgeBaseId", ""),
                retrievalQuery={"text": text},
                **({"retrievalConfiguration": retrieval} if retrieval else {}),
            )["retrievalResults"]
            for result in results:  # each passage once, at its best score
                key = result["content"]["text"]
                if key not in found or found[key]["score"] < result["score"]:
                    found[key] = result
        wanted = int(((retrieval or {}).get("vectorSearchConfiguration") or {}).get(
            "numberOfResults") or 5)  # fmt: skip
        ranked = sorted(found.values(), key=lambda r: -r["score"])[:wanted]
        return [{k: r[k] for k in ("content", "location", "metadata") if k in r} for r in ranked]

    def _external(self, source: dict[str, Any]) -> dict[str, Any]:
        if source.get("sourceType") == "S3":
            uri = (source.get("s3Location") or {}).get("uri", "")
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            if not uri.startswith("s3://") or not key:
                raise ValidationException(f"{uri} is not an S3 object URI (s3://bucket/key)")
            name, payload = key, _read_s3(self.settings, bucket, key, uri)
            location = {"type": "S3", "s3Location": {"uri": uri}}
        else:
            content = source.get("byteContent") or {}
            suffix = MIME_SUFFIXES.get(content.get("contentType", ""))
            if suffix is None:
                raise ValidationException(f"vetor reads documents of these types: "
                                          f"{', '.join(MIME_SUFFIXES)}")  # fmt: skip
            raw = content.get("data", b"")
            name = content.get("identifier", "document") + suffix
            payload = raw if isinstance(raw, bytes) else base64.b64decode(raw)
            location = {"type": "CUSTOM", "customDocumentLocation": {"id": name}}
        try:
            text = "\n\n".join(section.text for section in parse(name, payload))
        except ParseError as error:
            raise ValidationException(f"{name} could not be read: {error}") from None
        return {"content": {"type": "TEXT", "text": text}, "location": location, "metadata": {}}


def _read_s3(settings: Any, bucket: str, key: str, uri: str) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        data = s3_bucket(settings).client.get_object(Bucket=bucket, Key=key)
        if int(data.get("ContentLength") or 0) > MAX_EXTERNAL_BYTES:
            raise ValidationException(f"{uri} is larger than {MAX_EXTERNAL_BYTES} bytes")
        return bytes(data["Body"].read())
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        raise ValidationException(f"{uri} could not be read: {code}") from None
    except BotoCoreError as error:
        raise ValidationException(f"{uri} could not be read: {error}") from None


def _prompt(
    generation: dict[str, Any], question: str, references: list[dict[str, Any]], numbered: bool
) -> tuple[str, str]:
    """The system prompt and the user's message: a template with ``$query$`` is the message."""
    template = (generation.get("promptTemplate") or {}).get("textPromptTemplate")
    system = ""
    if not template:
        template = DEFAULT_PROMPT if numbered else PLAIN_PROMPT
        system = "" if numbered else PLAIN_SYSTEM
    texts = [r["content"]["text"] for r in references]
    results = "\n\n".join(f"[{n}] {t}" if numbered else t for n, t in enumerate(texts, 1))
    filled = template.replace("$search_results$", results)
    filled = filled.replace("$output_format_instructions$", OUTPUT_FORMAT if numbered else "")
    if "$query$" in template:
        return system, filled.replace("$query$", question)
    return filled, question


def _inference(generation: dict[str, Any]) -> Inference:
    return inference_of((generation.get("inferenceConfig") or {}).get("textInferenceConfig"))


def _sub_questions(generator: Generator, question: str) -> list[str]:
    pieces = generate(generator, [Message("user", question)], DECOMPOSE, Inference(max_tokens=96))
    lines = [line.strip(" -*0123456789.)\t") for line in "".join(pieces).splitlines()]
    return [line for line in lines if len(line) > 3 and line != question][:MAX_SUB_QUESTIONS]


def _passages(plan: Plan) -> list[str]:
    return [r["content"]["text"] for r in plan.references]


def _events(pairs: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[dict[str, Any]]:
    return ({kind: payload} for kind, payload in pairs)
