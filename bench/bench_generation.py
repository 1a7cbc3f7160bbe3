#!/usr/bin/env python3
"""Generation: the offline model's speed through vetor, answer quality, the PII filter.

``--speed``: the same chat prompts (RAG prompts of three real passages, other ones each round,
so no cached prefix or answer helps) through vetor's
``/v1/chat/completions`` stream over HTTP, and through llama-cpp-python called directly on the
same GGUF file with the same settings (greedy, same threads), interleaved; time to the first
token and tokens per second of each, and their ratios.

``--quality``: RetrieveAndGenerate with the offline model over the Python FAQ (each answer a
document of a LOCAL knowledge base; Bedrock's default chunking): citation precision (cited
passages that come from the question's own answer) and the share of answers the contextual
grounding check finds supported (GROUNDING ≥ 0.5), on ``--questions`` questions.

``--pii``: a labelled sample built from real text: paragraphs of the Python library docs
with e-mail addresses, phone numbers, card numbers, IBANs and US social security numbers
inserted at known places (valid ones; checksums right); precision and recall of each type (a
detection overlapping a planted entity of its type is right; any other is a false positive,
though the docs' own numbers may be real ones), and the entities still readable after
ANONYMIZE (the goal: none).

Results: tables on stdout, JSON in ``bench/results/generation.json``.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import corpus
import numpy as np
from harness import interleaved, log, machine_info, print_table, write_json

RESULTS = Path(__file__).resolve().parent / "results" / "generation.json"
OFFLINE = "smollm2-135m-instruct"
MINILM = "arn:aws:bedrock:us-east-1::foundation-model/all-MiniLM-L6-v2"
PII_TYPES = (
    "EMAIL",
    "PHONE",
    "CREDIT_DEBIT_CARD_NUMBER",
    "INTERNATIONAL_BANK_ACCOUNT_NUMBER",
    "US_SOCIAL_SECURITY_NUMBER",
)


# --- speed ---------------------------------------------------------------------------------


def rag_messages(round_: int) -> list[dict[str, str]]:
    """A RAG prompt of three real passages, other ones each round (no cached prefix helps)."""
    pairs = corpus.faq_pairs()[3 * round_ : 3 * round_ + 3]
    context = "\n\n".join(p.text for p in pairs)
    return [
        {
            "role": "system",
            "content": "You are a helpful assistant. Answer briefly from the context.",
        },
        {"role": "user", "content": f"Context:\n{context}\n\nQuestion: {pairs[0].query}"},
    ]


def run_speed(rounds: int, max_tokens: int) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from conftest import SERVER_KEYS, Server
    from llama_cpp import Llama
    from openai import OpenAI

    from vetor.generation.providers.llama_cpp import _gguf

    raw = Llama(model_path=_gguf(OFFLINE), n_ctx=8192, verbose=False)

    def direct(round_: int) -> tuple[float, int, float]:
        started, first, count = time.perf_counter(), None, 0
        for chunk in raw.create_chat_completion(
            messages=rag_messages(round_), stream=True, max_tokens=max_tokens, temperature=0.0
        ):
            if chunk["choices"][0]["delta"].get("content"):
                first = first or time.perf_counter()
                count += 1
        return (first or time.perf_counter()) - started, count, time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="vetor-bench-gen-") as tmp:
        server = Server(tmp, {"VETOR_ANSWER_CACHE_SECONDS": "0"})  # the model, not the cache
        try:
            key = f"{SERVER_KEYS['VETOR_ACCESS_KEY_ID']}:{SERVER_KEYS['VETOR_SECRET_ACCESS_KEY']}"
            client = OpenAI(base_url=f"{server.endpoint}/v1", api_key=key)

            def served(round_: int) -> tuple[float, int, float]:
                started, first, count = time.perf_counter(), None, 0
                for chunk in client.chat.completions.create(
                    model=OFFLINE,
                    messages=rag_messages(round_),
                    stream=True,
                    max_tokens=max_tokens,
                    temperature=0.0,
                ):
                    if chunk.choices and chunk.choices[0].delta.content:
                        first = first or time.perf_counter()
                        count += 1
                return (
                    (first or time.perf_counter()) - started,
                    count,
                    time.perf_counter() - started,
                )

            # the first round warms both (the model loaded, caches); the others alternate
            _, runs = interleaved({"vetor": served, "llama-cpp": direct}, range(rounds + 1), 1)
        finally:
            server.stop()
    found: dict[str, Any] = {"rounds": rounds, "max_tokens": max_tokens}
    for name, samples in runs.items():
        ttft = float(np.median([s[0] for s in samples]))
        rate = float(np.median([s[1] / max(s[2] - s[0], 1e-9) for s in samples]))
        found[name] = {
            "ttft_ms": ttft * 1000,
            "tokens_per_s": rate,
            "tokens": int(np.median([s[1] for s in samples])),
        }
    found["ttft_ratio_raw_over_vetor"] = found["llama-cpp"]["ttft_ms"] / found["vetor"]["ttft_ms"]
    found["rate_ratio_vetor_over_raw"] = (
        found["vetor"]["tokens_per_s"] / found["llama-cpp"]["tokens_per_s"]
    )
    log(f"speed: {found}")
    return found


# --- answer quality -------------------------------------------------------------------------


def run_quality(
    questions: int, strong_url: str = "", strong_model: str = "", criteria: float = 30.0
) -> dict[str, Any]:
    """Each question answered by the offline model and, with ``strong_url``, by the stronger
    model that OpenAI-compatible server serves; then each routing threshold, the decision
    made by vetor's prompt router for every question (the answers are the chosen model's,
    greedy), and one threshold's router run end to end to show it gives those answers."""
    import vetor

    pairs = corpus.faq_pairs()
    settings = {"answer_cache_seconds": 0}
    if strong_url:
        settings.update(llm_base_url=strong_url, llm_models=strong_model)
    with tempfile.TemporaryDirectory(prefix="vetor-bench-gen-") as tmp:
        folder = Path(tmp) / "faq"
        folder.mkdir()
        for n, pair in enumerate(pairs):
            (folder / f"{n:05d}.txt").write_text(pair.text, encoding="utf-8")
        kbs = vetor.knowledge_bases(str(Path(tmp) / "store"), **settings)
        kb = kbs.create_knowledge_base(
            name="faq",
            roleArn="arn:aws:iam::000000000000:role/bench",
            knowledgeBaseConfiguration={
                "type": "VECTOR",
                "vectorKnowledgeBaseConfiguration": {"embeddingModelArn": MINILM},
            },
            storageConfiguration={
                "type": "S3_VECTORS",
                "s3VectorsConfiguration": {
                    "vectorBucketArn": "arn:aws:s3vectors:us-east-1:000000000000:bucket/faq",
                    "indexName": "chunks",
                },
            },
        )["knowledgeBase"]
        source = kbs.create_data_source(
            knowledgeBaseId=kb["knowledgeBaseId"],
            name="faq",
            dataSourceConfiguration={"type": "LOCAL", "localConfiguration": {"path": str(folder)}},
        )["dataSource"]
        ids = {"knowledgeBaseId": kb["knowledgeBaseId"], "dataSourceId": source["dataSourceId"]}
        job = kbs.start_ingestion_job(**ids)["ingestionJob"]
        kbs.jobs.wait(ids["knowledgeBaseId"], ids["dataSourceId"], job["ingestionJobId"])
        guard = kbs.guardrails.create_guardrail(
            name="grounding",
            blockedInputMessaging="-",
            blockedOutputsMessaging="-",
            contextualGroundingPolicyConfig={
                "filtersConfig": [{"type": "GROUNDING", "threshold": 0.5}]
            },
        )

        def config(model_arn: str) -> dict[str, Any]:
            return {
                "type": "KNOWLEDGE_BASE",
                "knowledgeBaseConfiguration": {
                    "knowledgeBaseId": kb["knowledgeBaseId"],
                    "modelArn": model_arn,
                    "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 3}},
                    "generationConfiguration": {
                        "inferenceConfig": {"textInferenceConfig": {"maxTokens": 120}},
                        "guardrailConfiguration": {
                            "guardrailId": guard["guardrailId"],
                            "guardrailVersion": "DRAFT",
                        },
                    },
                },
            }

        rng = random.Random(0)
        chosen = rng.sample(range(len(pairs)), min(questions, len(pairs)))

        def answer(model_arn: str, n: int) -> dict[str, Any]:
            started = time.perf_counter()
            reply = kbs.retrieve_and_generate(
                input={"text": pairs[n].query}, retrieveAndGenerateConfiguration=config(model_arn)
            )
            wanted = (folder / f"{n:05d}.txt").as_uri()
            uris = [ref["location"]["s3Location"]["uri"]
                    for c in reply["citations"] for ref in c["retrievedReferences"]]  # fmt: skip
            return {
                "seconds": time.perf_counter() - started,
                "supported": reply["guardrailAction"] == "NONE",
                "cited": len(uris),
                "right": sum(u == wanted for u in uris),
                "text": reply["output"]["text"],
            }

        models = {"offline": f"arn:aws:bedrock:us-east-1::foundation-model/{OFFLINE}"}
        if strong_url:
            models["strong"] = f"arn:aws:bedrock:us-east-1::foundation-model/{strong_model}"
        answers = {}
        for name, arn in models.items():
            answers[name] = [answer(arn, n) for n in chosen]
            log(f"quality: {name} {_summary(answers[name])}")
        found: dict[str, Any] = {
            "questions": len(chosen),
            "models": {
                name: {"model": arn.rsplit("/", 1)[-1], **_summary(answers[name])}
                for name, arn in models.items()
            },  # fmt: skip
        }
        if strong_url:
            found["routing"] = _routing(kbs, models, chosen, pairs, answers, answer, criteria)
        kbs.close()
    log(f"quality: {found}")
    return found


def _summary(answered: list[dict[str, Any]]) -> dict[str, Any]:
    cited = sum(a["cited"] for a in answered)
    return {
        "citations": cited,
        "citation_precision": sum(a["right"] for a in answered) / cited if cited else None,
        "supported_rate": sum(a["supported"] for a in answered) / len(answered),
        "mean_seconds": float(np.mean([a["seconds"] for a in answered])),
        "median_seconds": float(np.median([a["seconds"] for a in answered])),
    }


def _routing(kbs: Any, models: dict[str, str], chosen: list[int], pairs: list[Any],
             answers: dict[str, list[dict[str, Any]]], answer: Any,
             criteria: float) -> dict[str, Any]:  # fmt: skip
    """Each threshold: the share of questions the router sends to the strong model and what
    the answers it picks are worth; then the ``criteria`` router end to end."""
    from vetor.generation.routing import difficulty

    rows = []
    offline, strong = _summary(answers["offline"]), _summary(answers["strong"])
    for threshold in (0, 10, 20, 30, 40, 50, 60, 100):
        arn = kbs.routers.create_prompt_router(
            promptRouterName=f"at-{threshold}",
            models=[{"modelArn": models["offline"]}, {"modelArn": models["strong"]}],
            fallbackModel={"modelArn": models["strong"]},
            routingCriteria={"responseQualityDifference": threshold},
        )["promptRouterArn"]
        picked = [kbs.routers.resolve(arn, pairs[n].query) for n in chosen]
        mix = [answers["strong" if m == models["strong"] else "offline"][i]
               for i, m in enumerate(picked)]  # fmt: skip
        share = sum(m == models["strong"] for m in picked) / len(picked)
        rows.append({"threshold": threshold, "to_strong": share, **_summary(mix),
                     # the same share sent to the strong model at random, on average
                     "random_supported_rate": share * strong["supported_rate"]
                     + (1 - share) * offline["supported_rate"]})  # fmt: skip
        if threshold == criteria:
            routed = [answer(arn, n) for n in chosen]
            same = sum(r["text"] == m["text"] for r, m in zip(routed, mix, strict=True))
            end_to_end = {"threshold": threshold, "same_answers": same, **_summary(routed)}
    per_question = [  # for fitting a better rule later
        {"question": pairs[n].query, "difficulty": difficulty(pairs[n].query),
         **{f"{name}_{k}": answers[name][i][k] for name in answers
            for k in ("supported", "cited", "right", "seconds")}}
        for i, n in enumerate(chosen)
    ]  # fmt: skip
    return {"thresholds": rows, "end_to_end": end_to_end, "per_question": per_question}


# --- PII ------------------------------------------------------------------------------------


def _card(rng: random.Random) -> str:
    digits = [4] + [rng.randrange(10) for _ in range(14)]
    total = 0
    for n, d in enumerate(reversed(digits)):  # the check digit makes the Luhn sum 0 mod 10
        value = d * 2 if n % 2 == 0 else d
        total += value - 9 if value > 9 else value
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return " ".join(text[i : i + 4] for i in range(0, 16, 4))


def _iban(rng: random.Random) -> str:
    bank = "".join(str(rng.randrange(10)) for _ in range(18))
    number = int("".join(str(int(c, 36)) for c in bank + "DE00"))
    check = 98 - number % 97
    text = f"DE{check:02d}{bank}"
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def _entity(kind: str, rng: random.Random) -> str:
    names = ["ana", "joao", "maria", "li", "sam", "noor", "pedro", "kim"]
    if kind == "EMAIL":
        domain = rng.choice(["com", "org", "com.br"])
        return f"{rng.choice(names)}.{rng.choice(names)}{rng.randrange(100)}@example.{domain}"
    if kind == "PHONE":
        return rng.choice(
            [
                f"+1 415-555-{rng.randrange(1000, 10000)}",
                f"(11) 9{rng.randrange(1000, 10000)}-{rng.randrange(1000, 10000)}",
                f"+44 20 7946 {rng.randrange(1000, 10000)}",
            ]
        )
    if kind == "CREDIT_DEBIT_CARD_NUMBER":
        return _card(rng)
    if kind == "INTERNATIONAL_BANK_ACCOUNT_NUMBER":
        return _iban(rng)
    area, group, serial = (
        rng.choice([a for a in range(100, 900) if a != 666]),  # 666 is never issued
        rng.randrange(10, 100),
        rng.randrange(1000, 10**4),
    )
    return f"{area:03d}-{group:02d}-{serial:04d}"


def run_pii(samples: int, seed: int = 0) -> dict[str, Any]:
    from vetor.guardrails.assess import assess
    from vetor.guardrails.detectors import find_pii

    rng = random.Random(seed)
    paragraphs = [t for _, t in corpus_paragraphs() if "@" not in t and 80 < len(t) < 600]
    rng.shuffle(paragraphs)
    guardrail = {
        "sensitiveInformationPolicy": {
            "piiEntities": [{"type": t, "action": "ANONYMIZE"} for t in PII_TYPES]
        }
    }
    scores = {t: {"tp": 0, "fp": 0, "fn": 0} for t in PII_TYPES}
    leaked, inserted = 0, 0
    for text in paragraphs[:samples]:
        words = text.split(" ")
        kinds = rng.sample(PII_TYPES, rng.randrange(0, 3))
        planted = {}
        for kind in kinds:
            value = _entity(kind, rng)
            words.insert(rng.randrange(len(words) + 1), value)
            planted[value] = kind
        sample = " ".join(words)
        inserted += len(planted)
        spans = {
            value: (sample.index(value), sample.index(value) + len(value)) for value in planted
        }
        for kind in PII_TYPES:  # a detection counts where it overlaps a planted entity
            found = [(f.start, f.end) for f in find_pii(sample, kind)]
            wanted = [spans[v] for v, k in planted.items() if k == kind]
            hits = [w for w in wanted if any(_overlap(w, f) for f in found)]
            scores[kind]["tp"] += len(hits)
            scores[kind]["fn"] += len(wanted) - len(hits)
            scores[kind]["fp"] += sum(not any(_overlap(w, f) for w in wanted) for f in found)
        masked = assess(guardrail, "OUTPUT", sample).text
        leaked += sum(value in masked for value in planted)
    table = {}
    for kind, s in scores.items():
        precision = s["tp"] / (s["tp"] + s["fp"]) if s["tp"] + s["fp"] else None
        recall = s["tp"] / (s["tp"] + s["fn"]) if s["tp"] + s["fn"] else None
        table[kind] = {**s, "precision": precision, "recall": recall}
    found = {
        "samples": min(samples, len(paragraphs)),
        "seed": seed,
        "inserted": inserted,
        "leaked_after_anonymize": leaked,
        "types": table,
    }
    log(f"pii: {found}")
    return found


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def corpus_paragraphs() -> list[tuple[str, str]]:
    blocks = []
    for path in sorted((corpus.PY_HTML / "library").glob("*.html")):
        blocks += [b for b in corpus.html_blocks(path) if b[0] == "p"]
    return blocks


def _fraction(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for part in ("speed", "quality", "pii"):
        parser.add_argument(f"--{part}", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0, help="another seed: another PII sample")
    parser.add_argument("--strong-url", default="", help="an OpenAI-compatible server (/v1)")
    parser.add_argument("--strong-model", default="", help="the model it serves")
    parser.add_argument(
        "--criteria", type=float, default=30.0, help="the routing threshold run end to end"
    )
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    parts = [p for p in ("speed", "quality", "pii") if getattr(args, p)] or [
        "speed",
        "quality",
        "pii",
    ]
    previous = {}
    if args.json.exists():
        import json

        previous = json.loads(args.json.read_text())
    document: dict[str, Any] = {**previous, "machine": machine_info(("vetor", "llama_cpp_python"))}
    if "speed" in parts:
        s = document["speed"] = run_speed(args.rounds, args.max_tokens)
        print_table(
            "Offline model: vetor's stream vs llama-cpp-python",
            ["path", "TTFT ms", "tokens/s"],
            [
                [n, f"{s[n]['ttft_ms']:.0f}", f"{s[n]['tokens_per_s']:.1f}"]
                for n in ("vetor", "llama-cpp")
            ],
        )
        print(
            f"TTFT ratio (raw / vetor) {s['ttft_ratio_raw_over_vetor']:.2f}, "
            f"tokens/s ratio (vetor / raw) {s['rate_ratio_vetor_over_raw']:.2f}"
        )
    if "pii" in parts:
        p = document["pii"] = run_pii(args.samples, args.seed)
        print_table(
            f"PII filter, {p['samples']} real paragraphs, {p['inserted']} entities",
            ["type", "precision", "recall"],
            [
                [
                    k,
                    f"{v['precision']:.3f}" if v["precision"] is not None else "-",
                    f"{v['recall']:.3f}" if v["recall"] is not None else "-",
                ]
                for k, v in p["types"].items()
            ],
        )
        print(f"left readable after ANONYMIZE: {p['leaked_after_anonymize']}")
    if "quality" in parts:
        q = document["quality"] = run_quality(
            args.questions, args.strong_url, args.strong_model, args.criteria
        )
        print_table(
            f"Answers on {q['questions']} Python FAQ questions",
            ["model", "citation precision", "supported", "mean s"],
            [[m["model"], _fraction(m["citation_precision"]), f"{m['supported_rate']:.3f}",
              f"{m['mean_seconds']:.1f}"] for m in q["models"].values()],
        )  # fmt: skip
        if "routing" in q:
            print_table(
                "Prompt router (offline model, fallback the strong one)",
                ["responseQualityDifference", "to strong", "citation precision", "supported",
                 "at random", "mean s"],
                [[str(r["threshold"]), f"{r['to_strong']:.2f}", _fraction(r["citation_precision"]),
                  f"{r['supported_rate']:.3f}", f"{r['random_supported_rate']:.3f}",
                  f"{r['mean_seconds']:.1f}"] for r in q["routing"]["thresholds"]],
            )  # fmt: skip
            e = q["routing"]["end_to_end"]
            print(
                f"router at {e['threshold']} end to end: {e['same_answers']} of "
                f"{q['questions']} answers as picked, mean {e['mean_seconds']:.1f} s"
            )
    write_json(args.json, document)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
