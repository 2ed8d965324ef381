"""Rubric matching for free-text answers (explain questions, the fix of a spot-the-bug).

A rubric point lists accepted phrasings. A phrasing is one or more terms joined by ` + `; each term
is a run of words that must appear together, in order, and all terms must appear in one sentence.
A word ending in `*` matches any word starting with it (`clip*`: clip, clips, clipped, clipping).
Words are compared in lower case with punctuation removed (Greek letters and ² spelled out: σ is
sigma, RL² is rl2), and a plural `s` is forgiven. This is
deliberately simple and explainable: the page shows which points were hit, which were missed, and
the learner can self-grade against the same rubric when the matcher is too strict.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.content.quiz_models import RubricPoint

_WORD = re.compile(r"[a-z0-9_]+(?:[.'][a-z0-9_]+)*\*?|[<>=!]=|[-+*/<>=^]")
_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\n\s*\n|\n\s*[-*]\s")  # sentences, paragraphs, list items


# Symbols the word pattern would drop, spelled out: an accept phrasing "rl²" must not match every "RL".
_SPELLED = str.maketrans(
    {
        "π": "pi",
        "θ": "theta",
        "ε": "epsilon",
        "σ": "sigma",
        "β": "beta",
        "γ": "gamma",
        "λ": "lambda",
        "α": "alpha",
        "δ": "delta",
        "²": "2",
        "³": "3",
        "−": "-",
    }
)


def words(text: str) -> list[str]:
    return list(_words(text))


@functools.lru_cache(maxsize=65_536)  # the same phrasings and sentences are split again for every point
def _words(text: str) -> tuple[str, ...]:
    text = text.casefold().translate(_SPELLED)  # "rl²" is "rl2", not "rl"; "-log σ" keeps its sigma
    text = re.sub(r"(?<=[a-z])-(?=[a-z])", " ", text)  # far-sighted = far sighted
    text = re.sub(r"(?<=[a-z_)])\.(?=[a-z_])", " ", text)  # torch.exp = torch exp; 0.99 stays a number
    return tuple(_WORD.findall(text))


def _word_matches(pattern: str, word: str) -> bool:
    if pattern.endswith("*"):
        return word.startswith(pattern[:-1])
    if pattern == word:
        return True
    return len(pattern) > 3 and (word == pattern + "s" or pattern == word + "s" or word == pattern + "es")


def _term_in(term: Sequence[str], sentence: Sequence[str]) -> bool:
    n = len(term)
    return any(
        all(_word_matches(t, w) for t, w in zip(term, sentence[i : i + n], strict=True))
        for i in range(len(sentence) - n + 1)
    )


def phrase_matches(phrase: str, text: str) -> bool:
    terms = [_words(term) for term in phrase.split(" + ")]
    terms = [t for t in terms if t]
    if not terms:
        return False
    sentences = [_words(s) for s in _SENTENCE.split(text)] + [_words(text)] * (len(terms) == 1)
    return any(all(_term_in(term, sentence) for term in terms) for sentence in sentences if sentence)


@dataclass(frozen=True)
class RubricResult:
    hit: list[str]
    missed: list[str]

    @property
    def score(self) -> int:
        return len(self.hit)


def match(rubric: list[RubricPoint], text: str) -> RubricResult:
    hit, missed = [], []
    for point in rubric:
        (hit if any(phrase_matches(p, text) for p in point.accept) else missed).append(point.point)
    return RubricResult(hit, missed)
