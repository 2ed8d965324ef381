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


def _word_pattern(pattern: str) -> str:
    """A regex for the words `pattern` matches: `clip*` any word starting with clip; a word of 4+ letters
    also its plural (`s`, `es`) and, when it ends in `s`, its singular."""
    if pattern.endswith("*"):
        return re.escape(pattern[:-1]) + r"[^ ]*"
    if len(pattern) <= 3:
        return re.escape(pattern)
    forms = [re.escape(pattern) + "(?:e?s)?"]
    if pattern.endswith("s"):
        forms.append(re.escape(pattern[:-1]))
    return "(?:" + "|".join(forms) + ")"


@functools.lru_cache(maxsize=16_384)
def _term_regex(term: str) -> re.Pattern[str] | None:
    """A term (a run of words that must appear together, in order) as a regex over space-joined words."""
    found = _words(term)
    if not found:
        return None
    return re.compile(r"(?:^| )" + " ".join(map(_word_pattern, found)) + r"(?= |$)")


@functools.lru_cache(maxsize=16_384)
def _phrase_terms(phrase: str) -> tuple[re.Pattern[str], ...]:
    return tuple(t for t in map(_term_regex, phrase.split(" + ")) if t is not None)


@functools.lru_cache(maxsize=16_384)
def _sentences(text: str) -> tuple[str, ...]:
    """The text's sentences, and the whole text, each as its words joined by single spaces."""
    parts = [" ".join(_words(s)) for s in _SENTENCE.split(text)]
    return tuple(p for p in parts if p)


def phrase_matches(phrase: str, text: str) -> bool:
    """Whether every term of `phrase` appears in one sentence of `text` (in the whole text, for a
    phrase of one term). Compiled once per term: graders call this for every clause and phrasing."""
    terms = _phrase_terms(phrase)
    if not terms:
        return False
    sentences = _sentences(text)
    if len(terms) == 1:
        whole = " ".join(_words(text))
        sentences = (*sentences, whole) if whole else sentences
    return any(all(term.search(sentence) for term in terms) for sentence in sentences)


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
