"""Citations read from an answer as it streams: markers removed, spans into the shown text,
sentences that end only at a full stop followed by a blank."""

from __future__ import annotations

from vetor.generation.citations import Citations, cite

PASSAGES = ["Pi is about 3.14.", "The site vetor.io has the docs.", "Hotels need a manager."]


def test_numbers_and_names_with_dots_do_not_split_sentences() -> None:
    text, parts = cite("The value is 3.14 [1]. See vetor.io [2] for more.", PASSAGES)
    assert text == "The value is 3.14. See vetor.io for more."
    spans = [(text[p.start : p.end], p.references) for p in parts]
    assert spans == [("The value is 3.14.", (0,)), ("See vetor.io for more.", (1,))]


def test_streamed_pieces_give_the_same_text_and_citations() -> None:
    answer = "Hotels need a manager [3]. Pi is 3.14 [1]."
    citations = Citations(PASSAGES)
    shown, parts = "", []
    for i in range(0, len(answer), 3):  # three characters at a time, markers split too
        piece, done = citations.feed(answer[i : i + 3])
        shown, parts = shown + piece, parts + done
    piece, done = citations.finish()
    shown, parts = shown + piece, parts + done
    assert (shown, parts) == cite(answer, PASSAGES)
    assert "[" not in shown and [p.references for p in parts] == [(2,), (0,)]
