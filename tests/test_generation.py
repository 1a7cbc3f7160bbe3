"""Grounded answers: RetrieveAndGenerate and its stream through boto3 against ``vetor serve``,
with the offline model (SmolLM2 on llama.cpp, for real) and an OpenAI-compatible server on
loopback (``chat_server``), which also shows exactly what vetor prompts a model with."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from chat_server import ChatServer, CloudChatServer
from conftest import Server, free_port
from test_kb_documents import inline, new_kb

OFFLINE = "arn:aws:bedrock:us-east-1::foundation-model/smollm2-135m-instruct"
SCRIPTED = "arn:aws:bedrock:us-east-1::foundation-model/scripted"
HANDBOOK = {
    "holidays": "Employees get 25 days of paid holiday per year. Unused days can be carried "
    "over until March.",
    "expenses": "Travel receipts must be sent to the finance team within 30 days. Hotel stays "
    "need approval from your manager before booking.",
    "security": "Laptops must be locked when unattended. Report lost devices to the IT helpdesk "
    "at once.",
}


@pytest.fixture(scope="module")
def chat() -> Any:
    server = ChatServer("Employees get 25 days of paid holiday [1]. They can carry them over.")
    yield server
    server.close()


@pytest.fixture(scope="module")
def cloud() -> Any:
    server = CloudChatServer("Employees get 25 days of paid holiday [1].")
    yield server
    server.close()


@pytest.fixture(scope="module")
def rag_server(
    chat: ChatServer, cloud: CloudChatServer, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    env = {"VETOR_LLM_BASE_URL": chat.base_url, "VETOR_LLM_MODELS": "scripted",
           "VETOR_LLM_TIMEOUT_SECONDS": "2",
           "VETOR_ANSWER_CACHE_SECONDS": "0",  # every request reaches the scripted model
           # Vertex AI and Bedrock, as loopback servers speaking their wire formats
           "VERTEX_ENDPOINT_URL": cloud.endpoint, "GOOGLE_CLOUD_PROJECT": "demo",
           "VERTEX_ACCESS_TOKEN": "token", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": cloud.endpoint,
           "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}  # fmt: skip
    server = Server(str(tmp_path_factory.mktemp("rag")), env)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def handbook(rag_server: Server) -> dict[str, str]:
    agent = rag_server.client("bedrock-agent")
    ids = new_kb(agent)
    agent.ingest_knowledge_base_documents(
        **ids, documents=[inline(name, text) for name, text in HANDBOOK.items()]
    )
    return ids


def kb_config(ids: dict[str, str], model: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "KNOWLEDGE_BASE",
        "knowledgeBaseConfiguration": {
            "knowledgeBaseId": ids["knowledgeBaseId"],
            "modelArn": model,
            "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 2}},
            **extra,
        },
    }


def cited_documents(citations: list[dict[str, Any]]) -> list[str]:
    return [ref["location"]["customDocumentLocation"]["id"]
            for c in citations for ref in c["retrievedReferences"]]  # fmt: skip


def check_spans(text: str, citations: list[dict[str, Any]]) -> None:
    for citation in citations:
        part = citation["generatedResponsePart"]["textResponsePart"]
        assert text[part["span"]["start"] : part["span"]["end"]] == part["text"]
        for ref in citation["retrievedReferences"]:
            assert ref["content"]["text"] in HANDBOOK.values()  # it was in the prompt


def test_generation_models_are_listed_offline_first(rag_server: Server) -> None:
    listed = rag_server.client("bedrock").list_foundation_models(byOutputModality="TEXT")
    text_models = [m for m in listed["modelSummaries"] if m["responseStreamingSupported"]]
    listed_ids = [m["modelId"] for m in text_models]
    assert listed_ids[0] == "smollm2-135m-instruct" and text_models[0]["modelArn"] == OFFLINE
    assert {"scripted", "amazon.nova-lite-v1:0", "gemini-2.5-flash"} <= set(listed_ids)


def test_offline_model_answers_with_citations(rag_server: Server, handbook: dict[str, str]) -> None:
    runtime = rag_server.client("bedrock-agent-runtime")
    reply = runtime.retrieve_and_generate(
        input={"text": "How many days of paid holiday do employees get?"},
        retrieveAndGenerateConfiguration=kb_config(handbook, OFFLINE),
    )
    text = reply["output"]["text"]
    assert "25" in text
    assert reply["sessionId"]
    check_spans(text, reply["citations"])
    assert "holidays" in cited_documents(reply["citations"])


def test_offline_answer_streams_with_citations(
    rag_server: Server, handbook: dict[str, str]
) -> None:
    runtime = rag_server.client("bedrock-agent-runtime")
    reply = runtime.retrieve_and_generate_stream(
        input={"text": "How many days of paid holiday do employees get?"},
        retrieveAndGenerateConfiguration=kb_config(handbook, OFFLINE),
    )
    assert reply["sessionId"]
    pieces, citations = [], []
    for event in reply["stream"]:
        if "output" in event:
            pieces.append(event["output"]["text"])
        if "citation" in event:
            citations.append(event["citation"]["citation"])
    text = "".join(pieces)
    assert len(pieces) > 3 and "25" in text  # token by token, not one block
    check_spans(text, citations)
    assert "holidays" in cited_documents(citations)


def test_a_follow_up_in_the_session_uses_the_earlier_turn(
    rag_server: Server, handbook: dict[str, str], chat: ChatServer
) -> None:
    runtime = rag_server.client("bedrock-agent-runtime")
    config = kb_config(handbook, SCRIPTED)
    first = runtime.retrieve_and_generate(
        input={"text": "How much paid holiday do employees get?"},
        retrieveAndGenerateConfiguration=config,
    )
    assert (
        first["output"]["text"]
        == "Employees get 25 days of paid holiday. They can carry them over."
    )
    assert cited_documents(first["citations"][:1]) == ["holidays"]  # the model's own [1]
    second = runtime.retrieve_and_generate(
        input={"text": "Until when?"}, retrieveAndGenerateConfiguration=config,
        sessionId=first["sessionId"],
    )  # fmt: skip
    assert second["sessionId"] == first["sessionId"]
    messages = chat.requests[-1]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[1]["content"] == "How much paid holiday do employees get?"
    assert messages[2]["content"] == first["output"]["text"]
    assert messages[3]["content"] == "Until when?"
    # "Until when?" alone retrieves nothing useful; with the earlier question it finds holidays
    assert HANDBOOK["holidays"] in messages[0]["content"]


def test_prompt_template_inference_and_query_decomposition(
    rag_server: Server, handbook: dict[str, str], chat: ChatServer
) -> None:
    runtime = rag_server.client("bedrock-agent-runtime")
    generation = {
        "promptTemplate": {"textPromptTemplate": "Sources:\n$search_results$\nAsk: $query$"},
        "inferenceConfig": {"textInferenceConfig": {"maxTokens": 40, "temperature": 0.5,
                                                    "stopSequences": ["END"]}},
    }  # fmt: skip
    orchestration = {"queryTransformationConfiguration": {"type": "QUERY_DECOMPOSITION"}}
    before = len(chat.requests)
    runtime.retrieve_and_generate(
        input={"text": "Who approves hotel stays?"},
        retrieveAndGenerateConfiguration=kb_config(
            handbook, SCRIPTED, generationConfiguration=generation,
            orchestrationConfiguration=orchestration,
        ),
    )  # fmt: skip
    decomposition, answer = chat.requests[before:]
    assert "simpler questions" in decomposition["messages"][0]["content"]
    user = answer["messages"][-1]["content"]
    assert user.startswith("Sources:\n[1] ") and user.endswith("Ask: Who approves hotel stays?")
    assert HANDBOOK["expenses"] in user
    assert (answer["max_tokens"], answer["temperature"], answer["stop"]) == (40, 0.5, ["END"])


def test_external_sources_answer_from_the_request(rag_server: Server, chat: ChatServer) -> None:
    runtime = rag_server.client("bedrock-agent-runtime")
    document = b"Employees get 25 days of paid holiday per year."
    reply = runtime.retrieve_and_generate(
        input={"text": "How much holiday?"},
        retrieveAndGenerateConfiguration={
            "type": "EXTERNAL_SOURCES",
            "externalSourcesConfiguration": {
                "modelArn": SCRIPTED,
                "sources": [{"sourceType": "BYTE_CONTENT", "byteContent": {
                    "identifier": "policy", "contentType": "text/plain", "data": document}}],
            },
        },
    )  # fmt: skip
    assert document.decode() in chat.requests[-1]["messages"][0]["content"]
    refs = reply["citations"][0]["retrievedReferences"]
    assert refs[0]["content"]["text"] == document.decode()


def test_a_slow_model_fails_within_its_timeout(
    rag_server: Server, handbook: dict[str, str], chat: ChatServer
) -> None:
    runtime = rag_server.client("bedrock-agent-runtime", config=Config(retries={"max_attempts": 0}))
    chat.delay = 5.0  # each word: longer than the 2 s the server allows a read
    try:
        started = time.monotonic()
        with pytest.raises(ClientError) as error:
            runtime.retrieve_and_generate(
                input={"text": "Who approves hotel stays?"},
                retrieveAndGenerateConfiguration=kb_config(handbook, SCRIPTED),
            )
        assert error.value.response["Error"]["Code"] == "DependencyFailedException"
        assert time.monotonic() - started < 10
    finally:
        chat.delay = 0.0


def test_a_model_server_that_is_down_is_a_clear_error(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    env = {"VETOR_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
           "VETOR_LLM_MODELS": "scripted"}  # fmt: skip
    server = Server(str(tmp_path_factory.mktemp("down")), env)
    try:
        ids = new_kb(server.client("bedrock-agent"))
        runtime = server.client("bedrock-agent-runtime")
        # the embedding model loaded first: what is timed is the call to the model server
        runtime.retrieve(knowledgeBaseId=ids["knowledgeBaseId"], retrievalQuery={"text": "x"})
        started = time.monotonic()
        with pytest.raises(ClientError) as error:
            runtime.retrieve_and_generate(
                input={"text": "anything"},
                retrieveAndGenerateConfiguration=kb_config(ids, SCRIPTED),
            )
        assert error.value.response["Error"]["Code"] == "DependencyFailedException"
        assert "127.0.0.1" in error.value.response["Error"]["Message"]
        assert time.monotonic() - started < 10
    finally:
        server.stop()


def test_wrong_input_gets_bedrocks_errors(rag_server: Server, handbook: dict[str, str]) -> None:
    runtime = rag_server.client("bedrock-agent-runtime")
    cases = [
        {"retrieveAndGenerateConfiguration": kb_config(handbook, "mistral.large-v9:0")},
        {"retrieveAndGenerateConfiguration": kb_config(handbook, SCRIPTED),
         "sessionId": "no-such-session"},
        {"retrieveAndGenerateConfiguration": kb_config({"knowledgeBaseId": "NOSUCHKB00"},
                                                       SCRIPTED)},
    ]  # fmt: skip
    codes = []
    for case in cases:
        with pytest.raises(ClientError) as error:
            runtime.retrieve_and_generate(input={"text": "hello"}, **case)
        codes.append(error.value.response["Error"]["Code"])
    assert codes == ["ValidationException", "ValidationException", "ResourceNotFoundException"]


def test_openai_chat_completions_with_the_offline_model(rag_server: Server) -> None:
    from conftest import SERVER_KEYS
    from openai import OpenAI

    key = f"{SERVER_KEYS['VETOR_ACCESS_KEY_ID']}:{SERVER_KEYS['VETOR_SECRET_ACCESS_KEY']}"
    client = OpenAI(base_url=f"{rag_server.endpoint}/v1", api_key=key, max_retries=0)
    question = [{"role": "system", "content": "Answer in one short sentence."},
                {"role": "user", "content": "What is the capital of France?"}]  # fmt: skip
    reply = client.chat.completions.create(
        model="smollm2-135m-instruct",
        messages=question,
        max_tokens=30,  # type: ignore[arg-type]
    )
    assert "Paris" in reply.choices[0].message.content
    assert reply.choices[0].finish_reason in ("stop", "length")
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    chunks = list(client.chat.completions.create(
        model="smollm2-135m-instruct", messages=question, max_tokens=30, stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
    ))  # fmt: skip
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == reply.choices[0].message.content  # greedy: the same answer, token by token
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 3
    assert chunks[-1].usage is not None
    with pytest.raises(Exception) as error:
        client.chat.completions.create(model="no-such-model", messages=question)  # type: ignore[arg-type]
    assert getattr(error.value, "status_code", None) == 404


def test_converse_and_langchain_chat_bedrock_converse(rag_server: Server) -> None:
    from langchain_aws import ChatBedrockConverse

    client = rag_server.client("bedrock-runtime")
    question = [{"role": "user", "content": [{"text": "What is the capital of France?"}]}]
    config = {"maxTokens": 30, "temperature": 0.0}
    system = [{"text": "Answer in one short sentence."}]
    reply = client.converse(modelId="smollm2-135m-instruct", messages=question, system=system,
                            inferenceConfig=config)  # fmt: skip
    said = reply["output"]["message"]["content"][0]["text"]
    assert "Paris" in said and reply["usage"]["outputTokens"] > 0
    streamed = client.converse_stream(modelId="smollm2-135m-instruct", messages=question,
                                      system=system, inferenceConfig=config)  # fmt: skip
    events = list(streamed["stream"])
    assert list(events[0]) == ["messageStart"] and list(events[-1]) == ["metadata"]
    deltas = [e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e]
    assert "".join(deltas) == said
    chat = ChatBedrockConverse(model="smollm2-135m-instruct", client=client, max_tokens=30,
                               temperature=0.0, provider="vetor")  # fmt: skip
    asked = [("system", "Answer in one short sentence."),
             ("human", "What is the capital of France?")]  # fmt: skip
    assert "Paris" in str(chat.invoke(asked).content)
    assert "Paris" in "".join(str(c.content) for c in chat.stream(asked))


@pytest.fixture(scope="module")
def guard(rag_server: Server) -> dict[str, str]:
    created = rag_server.client("bedrock").create_guardrail(
        name="rag-guard",
        blockedInputMessaging="I cannot help with investing.",
        blockedOutputsMessaging="I cannot say that.",
        topicPolicyConfig={"topicsConfig": [{
            "name": "investing", "type": "DENY",
            "definition": "Advice about investing money in stocks, funds or cryptocurrencies.",
            "examples": ["Which stocks should I buy?", "Is bitcoin a good investment?"]}]},
        sensitiveInformationPolicyConfig={
            "piiEntitiesConfig": [{"type": "EMAIL", "action": "ANONYMIZE"}]},
    )  # fmt: skip
    return {"guardrailId": created["guardrailId"], "guardrailVersion": "DRAFT"}


def test_a_guardrail_blocks_a_denied_topic_in_answers_and_retrieval(
    rag_server: Server, handbook: dict[str, str], guard: dict[str, str]
) -> None:
    runtime = rag_server.client("bedrock-agent-runtime")
    config = kb_config(handbook, OFFLINE,
                       generationConfiguration={"guardrailConfiguration": guard})  # fmt: skip
    question = {"text": "Should I put my savings into bitcoin?"}
    reply = runtime.retrieve_and_generate(input=question, retrieveAndGenerateConfiguration=config)
    assert reply["output"]["text"] == "I cannot help with investing."
    assert (reply["guardrailAction"], reply["citations"]) == ("INTERVENED", [])
    events = list(runtime.retrieve_and_generate_stream(
        input=question, retrieveAndGenerateConfiguration=config)["stream"])  # fmt: skip
    assert {"guardrail": {"action": "INTERVENED"}} in events
    found = runtime.retrieve(knowledgeBaseId=handbook["knowledgeBaseId"], retrievalQuery=question,
                             guardrailConfiguration=guard)  # fmt: skip
    assert (found["retrievalResults"], found["guardrailAction"]) == ([], "INTERVENED")
    fine = runtime.retrieve(
        knowledgeBaseId=handbook["knowledgeBaseId"],
        retrievalQuery={"text": "paid holiday"},
        guardrailConfiguration=guard,
    )
    assert fine["retrievalResults"] and fine["guardrailAction"] == "NONE"  # fmt: skip


def test_a_guardrail_anonymizes_an_email_address_in_the_answer(
    rag_server: Server, handbook: dict[str, str], guard: dict[str, str], chat: ChatServer
) -> None:
    runtime = rag_server.client("bedrock-agent-runtime")
    config = kb_config(handbook, SCRIPTED,
                       generationConfiguration={"guardrailConfiguration": guard})  # fmt: skip
    said = chat.reply
    chat.reply = "Employees get 25 days of paid holiday [1]. Ask maria.souza@example.com for more."
    try:
        reply = runtime.retrieve_and_generate(
            input={"text": "How much paid holiday do employees get?"},
            retrieveAndGenerateConfiguration=config,
        )
    finally:
        chat.reply = said
    text = reply["output"]["text"]
    assert text == "Employees get 25 days of paid holiday. Ask {EMAIL} for more."
    assert reply["guardrailAction"] == "INTERVENED"
    check_spans(text, reply["citations"])
    assert cited_documents(reply["citations"][:1]) == ["holidays"]


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "amazon.nova-lite-v1:0"])
def test_vertex_gemini_and_bedrock_converse_providers(
    rag_server: Server, handbook: dict[str, str], cloud: CloudChatServer, model: str
) -> None:
    runtime = rag_server.client("bedrock-agent-runtime")
    arn = f"arn:aws:bedrock:us-east-1::foundation-model/{model}"
    reply = runtime.retrieve_and_generate(
        input={"text": "How much paid holiday do employees get?"},
        retrieveAndGenerateConfiguration=kb_config(handbook, arn),
    )
    assert reply["output"]["text"] == "Employees get 25 days of paid holiday."
    assert cited_documents(reply["citations"]) == ["holidays"]
    path, body = cloud.requests[-1]
    if model.startswith("gemini"):
        assert path == ("/v1/projects/demo/locations/us-central1/publishers/google/models/"
                        "gemini-2.5-flash:streamGenerateContent?alt=sse")  # fmt: skip
        assert "search results" in body["systemInstruction"]["parts"][0]["text"]
        assert body["contents"][-1]["parts"][0]["text"] == "How much paid holiday do employees get?"
    else:
        assert path == "/model/amazon.nova-lite-v1%3A0/converse-stream"
        assert body["messages"][-1]["content"][0]["text"] == (
            "How much paid holiday do employees get?")  # fmt: skip


def test_the_answer_log_and_ratings_are_parquet_in_the_store(
    chat: ChatServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import glob
    import urllib.request

    import pyarrow.dataset as ds
    from conftest import SERVER_KEYS

    data = tmp_path_factory.mktemp("logged")
    stale = data / "_vetor/answers/log/date=2001-01-01"
    stale.mkdir(parents=True)
    (stale / "old.parquet").write_bytes(b"past the retention")
    env = {"VETOR_LLM_BASE_URL": chat.base_url, "VETOR_LLM_MODELS": "scripted",
           "VETOR_ANSWER_LOG": "true", "VETOR_ANSWER_LOG_RETENTION_DAYS": "30"}  # fmt: skip
    server = Server(str(data), env)
    try:
        agent = server.client("bedrock-agent")
        ids = new_kb(agent)
        agent.ingest_knowledge_base_documents(
            **ids, documents=[inline(name, text) for name, text in HANDBOOK.items()]
        )
        reply = server.client("bedrock-agent-runtime").retrieve_and_generate(
            input={"text": "How much paid holiday do employees get?"},
            retrieveAndGenerateConfiguration=kb_config(ids, SCRIPTED),
        )
        key = f"{SERVER_KEYS['VETOR_ACCESS_KEY_ID']}:{SERVER_KEYS['VETOR_SECRET_ACCESS_KEY']}"
        rating = urllib.request.Request(
            f"{server.endpoint}/v1/feedback", method="POST",
            data=json.dumps({"sessionId": reply["sessionId"], "rating": 1,
                             "comment": "right"}).encode(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(rating) as answered:
            assert json.loads(answered.read())["ratingId"]
    finally:
        server.stop()  # a graceful stop writes what is buffered
    log = ds.dataset(str(data / "_vetor/answers/log"), partitioning="hive").to_table().to_pylist()
    assert len(log) == 1
    (row,) = log
    assert (row["sessionId"], row["model"], row["knowledgeBaseId"]) == (
        reply["sessionId"], "scripted", ids["knowledgeBaseId"])  # fmt: skip
    assert row["answer"] == reply["output"]["text"] and row["latencyMs"] > 0
    assert HANDBOOK["holidays"] in [p["text"] for p in row["passages"]]
    ratings = ds.dataset(str(data / "_vetor/answers/ratings"), partitioning="hive").to_table()
    assert ratings.to_pylist()[0]["rating"] == 1
    assert not glob.glob(str(stale))  # older than the retention: deleted


def test_repeated_greedy_requests_are_answered_from_the_cache(
    chat: ChatServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    env = {"VETOR_LLM_BASE_URL": chat.base_url, "VETOR_LLM_MODELS": "scripted"}
    server = Server(str(tmp_path_factory.mktemp("cached")), env)
    try:
        client = server.client("bedrock-runtime")
        question = [{"role": "user", "content": [{"text": "How much holiday do I get?"}]}]
        before = len(chat.requests)
        replies = [client.converse(modelId="scripted", messages=question,
                                   inferenceConfig={"temperature": temperature})
                   for temperature in (0.0, 0.0, 0.7, 0.7)]  # fmt: skip
        assert len(chat.requests) - before == 3  # the second greedy one came from the cache
        texts = {r["output"]["message"]["content"][0]["text"] for r in replies}
        assert texts == {chat.reply}
        first, second = replies[0]["usage"], replies[1]["usage"]
        assert first["cacheReadInputTokens"] == 0 and first["inputTokens"] == 7
        assert second["cacheReadInputTokens"] == 7 and second["inputTokens"] == 0
        assert second["outputTokens"] == first["outputTokens"]
    finally:
        server.stop()


def test_offline_session_follow_up_with_an_anonymized_question(
    rag_server: Server, handbook: dict[str, str], guard: dict[str, str]
) -> None:
    import glob

    runtime = rag_server.client("bedrock-agent-runtime")
    config = kb_config(handbook, OFFLINE,
                       generationConfiguration={"guardrailConfiguration": guard})  # fmt: skip
    first = runtime.retrieve_and_generate(
        input={"text": "I am joana.lima@example.com. How many days of paid holiday do I get?"},
        retrieveAndGenerateConfiguration=config,
    )
    second = runtime.retrieve_and_generate(
        input={"text": "Until when can unused ones be carried over?"},
        retrieveAndGenerateConfiguration=config, sessionId=first["sessionId"],
    )  # fmt: skip
    assert second["sessionId"] == first["sessionId"]
    folder = rag_server.data + f"/_vetor/kb/sessions/{first['sessionId']}"
    latest = sorted(glob.glob(f"{folder}/*.json"))[-1]
    with open(latest, encoding="utf-8") as file:
        turns = json.load(file)["turns"]
    assert [t["question"] for t in turns] == [
        "I am {EMAIL}. How many days of paid holiday do I get?",  # the model never saw it
        "Until when can unused ones be carried over?",
    ]
    assert "joana.lima" not in json.dumps(turns)


def test_streams_are_live_and_fail_as_their_union_says(
    rag_server: Server, handbook: dict[str, str], chat: ChatServer
) -> None:
    from botocore.exceptions import EventStreamError

    runtime = rag_server.client("bedrock-agent-runtime")
    chat.delay = 0.4  # per word: the answer takes seconds, its first words come at once
    try:
        started = time.monotonic()
        reply = runtime.retrieve_and_generate_stream(
            input={"text": "How much paid holiday is there?"},
            retrieveAndGenerateConfiguration=kb_config(handbook, SCRIPTED),
        )
        arrivals = [time.monotonic() - started for e in reply["stream"] if "output" in e]
        assert len(arrivals) > 5 and arrivals[0] < arrivals[-1] - 2.0
        chat.delay = 5.0  # longer than the server's 2 s per read, once the stream has begun
        streamed = rag_server.client("bedrock-runtime").converse_stream(
            modelId="scripted", messages=[{"role": "user", "content": [{"text": "hi"}]}]
        )
        with pytest.raises(EventStreamError) as error:
            list(streamed["stream"])
        assert error.value.response["Error"]["Code"] == "modelStreamErrorException"
    finally:
        chat.delay = 0.0
    with pytest.raises(ClientError) as refused:  # a member vetor cannot honour is refused
        rag_server.client("bedrock-runtime").converse(
            modelId="scripted", messages=[{"role": "user", "content": [{"text": "hi"}]}],
            toolConfig={"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {}}}}]},
        )  # fmt: skip
    assert refused.value.response["Error"]["Code"] == "ValidationException"


EASY, HARD = (
    "What is the capital of France?",
    (
        "Why do employees carry unused holiday over until March, and how should a manager plan "
        "the approvals for hotel stays around that?"
    ),
)


def test_a_prompt_router_sends_easy_questions_to_the_small_model(
    rag_server: Server, chat: ChatServer, handbook: dict[str, str]
) -> None:
    bedrock = rag_server.client("bedrock")
    created = bedrock.create_prompt_router(
        promptRouterName="small-or-scripted",
        models=[{"modelArn": OFFLINE}, {"modelArn": SCRIPTED}],
        fallbackModel={"modelArn": SCRIPTED},  # the stronger one
        routingCriteria={"responseQualityDifference": 25},
    )
    arn = created["promptRouterArn"]
    shown = bedrock.get_prompt_router(promptRouterArn=arn)
    assert shown["status"] == "AVAILABLE" and shown["type"] == "custom"
    assert shown["fallbackModel"] == {"modelArn": SCRIPTED}
    assert shown["routingCriteria"] == {"responseQualityDifference": 25.0}
    listed = bedrock.list_prompt_routers()["promptRouterSummaries"]
    assert [r["promptRouterArn"] for r in listed] == [arn]
    assert bedrock.list_prompt_routers(type="default")["promptRouterSummaries"] == []

    runtime = rag_server.client("bedrock-runtime")
    config = {"maxTokens": 30, "temperature": 0.0}

    def ask(text: str) -> dict[str, Any]:
        messages = [{"role": "user", "content": [{"text": text}]}]
        return runtime.converse(modelId=arn, messages=messages, inferenceConfig=config,
                                system=[{"text": "Answer in one short sentence."}])  # fmt: skip

    easy, hard = ask(EASY), ask(HARD)
    assert easy["trace"]["promptRouter"]["invokedModelId"] == OFFLINE
    assert "Paris" in easy["output"]["message"]["content"][0]["text"]
    assert hard["trace"]["promptRouter"]["invokedModelId"] == SCRIPTED
    assert hard["output"]["message"]["content"][0]["text"] == chat.reply
    streamed = runtime.converse_stream(
        modelId=arn, messages=[{"role": "user", "content": [{"text": HARD}]}]
    )
    metadata = [e["metadata"] for e in streamed["stream"] if "metadata" in e][0]
    assert metadata["trace"]["promptRouter"]["invokedModelId"] == SCRIPTED

    # RetrieveAndGenerate takes the router's ARN as its modelArn.
    agent = rag_server.client("bedrock-agent-runtime")
    reply = agent.retrieve_and_generate(
        input={"text": HARD}, retrieveAndGenerateConfiguration=kb_config(handbook, arn)
    )
    assert reply["output"]["text"].startswith("Employees get 25 days")  # the scripted model's
    easy_rag = agent.retrieve_and_generate(
        input={"text": "How many holiday days?"},
        retrieveAndGenerateConfiguration=kb_config(handbook, arn),
    )
    assert easy_rag["output"]["text"] != chat.reply  # the offline model wrote this one
    # The OpenAI-compatible route names the model that answered.
    from conftest import SERVER_KEYS
    from openai import OpenAI

    key = f"{SERVER_KEYS['VETOR_ACCESS_KEY_ID']}:{SERVER_KEYS['VETOR_SECRET_ACCESS_KEY']}"
    client = OpenAI(base_url=f"{rag_server.endpoint}/v1", api_key=key, max_retries=0)
    completion = client.chat.completions.create(
        model=arn, messages=[{"role": "user", "content": HARD}], max_tokens=20
    )
    assert completion.model == SCRIPTED and completion.choices[0].message.content == chat.reply

    bedrock.delete_prompt_router(promptRouterArn=arn)
    with pytest.raises(ClientError) as gone:
        ask(EASY)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.parametrize(
    ("models", "fallback", "difference", "says"),
    [
        ([OFFLINE], OFFLINE, 10, "two different models"),
        ([OFFLINE, SCRIPTED], "arn:aws:bedrock:us-east-1::foundation-model/other", 10, "fallback"),
        ([OFFLINE, "arn:aws:bedrock:us-east-1::foundation-model/nope"], OFFLINE, 10, "nope"),
        ([OFFLINE, SCRIPTED], SCRIPTED, 150, "between 0 and 100"),
    ],
)
def test_a_wrong_prompt_router_is_refused(
    rag_server: Server, models: list[str], fallback: str, difference: float, says: str
) -> None:
    with pytest.raises(ClientError) as refused:
        rag_server.client("bedrock").create_prompt_router(
            promptRouterName="wrong",
            models=[{"modelArn": m} for m in models],
            fallbackModel={"modelArn": fallback},
            routingCriteria={"responseQualityDifference": difference},
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert says in refused.value.response["Error"]["Message"]


def test_a_router_arn_is_authorized_as_the_router_it_names() -> None:
    """IAM sees the canonical ARN of what the service will use: a router's id in any
    spelling of its ARN, and a name that only looks like a router is the model it ends in."""
    from vetor.server.permissions import Permissions
    from vetor.settings import Settings

    settings = Settings()
    permissions = Permissions(settings)
    canonical = f"arn:aws:bedrock:{settings.region}:{settings.account_id}:prompt-router/abcdefghij"
    assert (
        permissions.model("arn:aws-cn:bedrock:eu-west-9:999999999999:prompt-router/abcdefghij")
        == canonical
    )
    nova = f"arn:aws:bedrock:{settings.region}::foundation-model/amazon.nova-pro-v1:0"
    assert permissions.model("prompt-router/amazon.nova-pro-v1:0") == nova
    assert (
        permissions.model(
            f"arn:aws:bedrock:{settings.region}::foundation-model/prompt-router/amazon.nova-pro-v1:0"
        )
        == nova
    )
