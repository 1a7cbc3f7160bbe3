"""Analyzers: the language-specific step that turns text into index terms.

European languages: Unicode word tokens, lower-casing, stop words, Snowball stemming
(PyStemmer), then accent folding — after stemming, because the Snowball rules for French,
Spanish or Portuguese read the accents. Chinese, Japanese and Korean have no spaces between
words: runs of CJK characters become overlapping character bigrams (as Lucene's CJK analyzer),
which needs no dictionary and recalls well; words in other scripts are analyzed as English.
The standard analyzer (a configuration without a language) only splits and lower-cases —
every script, no stop words, no stemming — so it suits text of no one language (codes, names).

Work is done once per distinct token (a cache maps token → term), so analysing a corpus costs
a regex pass and a dictionary lookup per token.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable

import Stemmer
from bm25s import stopwords as _stopwords

LANGUAGES = ("en", "fr", "es", "pt", "it", "de", "nl", "zh", "ja", "ko")
STANDARD = "standard"  # the analyzer of a text search configuration without a language

_SNOWBALL = {
    "en": "english",
    "fr": "french",
    "es": "spanish",
    "pt": "portuguese",
    "it": "italian",
    "de": "german",
    "nl": "dutch",
}
_STOPWORDS = {
    "en": _stopwords.STOPWORDS_EN,
    "fr": _stopwords.STOPWORDS_FRENCH,
    "es": _stopwords.STOPWORDS_SPANISH,
    "pt": _stopwords.STOPWORDS_PORTUGUESE,
    "it": _stopwords.STOPWORDS_ITALIAN,
    "de": _stopwords.STOPWORDS_GERMAN,
    "nl": _stopwords.STOPWORDS_DUTCH,
    "zh": _stopwords.STOPWORDS_CHINESE,
    "ko": _stopwords.STOPWORDS_KOREAN,
    "ja": (),
    STANDARD: (),
}

_WORD = re.compile(r"\w+")
# Han, Hiragana, Katakana, Hangul (syllables and jamo), CJK compatibility ideographs.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\u1100-\u11ff"
_CJK_RUN = re.compile(f"[{_CJK}]+")
_CACHE_LIMIT = 1_000_000  # distinct tokens remembered per analyzer


class Analyzer:
    """Turns a text into its list of index terms (in order, repeats kept)."""

    def __init__(self, language: str) -> None:
        if language not in (*LANGUAGES, STANDARD):
            raise ValueError(f"unsupported language {language!r}")
        self.language = language
        self.cjk = language in ("zh", "ja", "ko", STANDARD)
        stem_language = _SNOWBALL.get(language, "english")
        self._stemmer = None if language == STANDARD else Stemmer.Stemmer(stem_language)
        self._stop = frozenset(_fold(w) for w in _STOPWORDS[language]) | frozenset(
            _STOPWORDS[language]
        )
        self._terms: dict[str, str | None] = {}  # token → term, None for a stop word

    def __call__(self, text: str) -> list[str]:
        tokens = _WORD.findall(text.lower())
        if self.cjk:
            tokens = [t for token in tokens for t in _split_cjk(token)]
        terms = self._terms
        if len(terms) > _CACHE_LIMIT:  # a new dict, not clear(): other threads hold the old
            terms = self._terms = {}
        missing = [t for t in tokens if t not in terms]
        if missing:
            self._learn(missing, terms)
        return [term for t in tokens if (term := terms[t]) is not None]

    def analyze_many(self, texts: Iterable[str]) -> list[list[str]]:
        return [self(text) for text in texts]

    def _learn(self, tokens: list[str], terms: dict[str, str | None]) -> None:
        distinct = list(dict.fromkeys(tokens))
        if self._stemmer is None:  # the standard analyzer: tokens are the terms
            terms.update(zip(distinct, distinct))
            return
        stems = self._stemmer.stemWords(distinct)
        for token, stem in zip(distinct, stems):
            if token in self._stop:
                terms[token] = None
            elif self.cjk and _is_cjk(token):
                terms[token] = token  # bigrams are not stemmed
            else:
                terms[token] = _fold(stem)


@functools.cache
def analyzer(language: str) -> Analyzer:
    """The shared analyzer of a language (analyzers are caches: share them)."""
    return Analyzer(language)


def _split_cjk(token: str) -> list[str]:
    """A token with CJK runs: the runs become bigrams, the other parts stay words."""
    if not _CJK_RUN.search(token):
        return [token]
    parts: list[str] = []
    position = 0
    for run in _CJK_RUN.finditer(token):
        if run.start() > position:
            parts.append(token[position : run.start()])
        chars = run.group()
        bigrams = [chars[i : i + 2] for i in range(len(chars) - 1)]
        parts.extend(bigrams or [chars])
        position = run.end()
    if position < len(token):
        parts.append(token[position:])
    return parts


def _is_cjk(token: str) -> bool:
    return bool(_CJK_RUN.fullmatch(token))


def _fold(word: str) -> str:
    """Strip accents: ``ação`` → ``acao`` (so a query typed without accents still matches)."""
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))
