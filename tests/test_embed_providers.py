"""The provider interface with the real offline models, the registry, and chunking."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vetor.embed import EmbeddingError, UnsupportedInput, get_embedder, parse_spec
from vetor.embed.chunking import Chunk, fit, split


def test_local_minilm_is_the_default_and_loads_once() -> None:
    embedder = get_embedder("local")
    assert embedder is get_embedder("local", None)
    assert (embedder.model, embedder.dimension, embedder.max_input_tokens) == (
        "all-MiniLM-L6-v2",
        384,
        256,
    )
    vectors = embedder.embed_documents(["a cat", "a kitten", "a tax return"])
    assert vectors.dtype == np.float32 and vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert embedder.count_tokens("hello world") == 4  # [CLS] hello world [SEP]


def test_e5_uses_query_and_passage_prefixes() -> None:
    e5 = get_embedder("e5-multilingual")
    assert (e5.dimension, e5.max_input_tokens) == (384, 512)
    text = "Onde fica a Floresta Amazônica?"
    assert not np.allclose(e5.embed_queries([text]), e5.embed_documents([text]), atol=1e-3)
    assert e5.count_tokens(text) > 5


def test_input_problems_are_worded_for_people() -> None:
    embedder = get_embedder("local")
    assert embedder.input_problem("  \n") == "empty text"
    assert embedder.input_problem("short text") is None
    problem = embedder.input_problem("word " * 400)
    assert problem == "text is 402 tokens, over the limit of 256 of local:all-MiniLM-L6-v2"
    with pytest.raises(UnsupportedInput, match="cannot embed images"):
        embedder.embed_images([b"\x89PNG"])


def test_registry_errors_and_specs() -> None:
    with pytest.raises(EmbeddingError, match="unknown embedding provider 'glove'"):
        get_embedder("glove")
    with pytest.raises(EmbeddingError, match="provider openai: .*unexpected keyword"):
        get_embedder("openai", colour="blue")
    assert parse_spec("openai:nomic-embed-text:v1.5") == ("openai", "nomic-embed-text:v1.5")
    assert parse_spec("local") == ("local", None)


def test_split_prefers_boundaries_and_overlaps() -> None:
    text = "First sentence here. Second sentence is longer than that. " * 20
    chunks = split(text, 200, 40)
    assert all(len(c.text) <= 200 for c in chunks)
    assert all(c.text == text[c.start : c.end] for c in chunks)
    assert all(c.text.endswith(" ") for c in chunks[:-1])  # cut at a boundary
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:]))  # overlapping
    assert chunks[-1].end == len(text)
    assert split("tiny", 200, 40) == [Chunk("tiny", 0, 4)]
    assert split(text, 0) == [Chunk(text, 0, len(text))]


@given(st.text(min_size=1, max_size=3000), st.integers(20, 500), st.integers(0, 200))
def test_split_covers_the_text(text: str, size: int, overlap: int) -> None:
    chunks = split(text, size, overlap)
    assert all(c.text == text[c.start : c.end] and len(c.text) <= size for c in chunks)
    covered = np.zeros(len(text), bool)
    for c in chunks:
        covered[c.start : c.end] = True
    # Every non-blank character lands in some chunk.
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())


def test_fit_halves_until_the_model_takes_it() -> None:
    text = "0123456789 " * 50
    pieces = fit(Chunk(text, 100, 100 + len(text)), lambda t: len(t) <= 120)
    assert all(len(p.text) <= 120 for p in pieces) and len(pieces) >= 5
    assert all(p.text == text[p.start - 100 : p.end - 100] for p in pieces)
    assert "".join(p.text for p in pieces) == text
