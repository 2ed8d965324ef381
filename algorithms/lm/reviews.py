"""The RLHF task: short movie reviews from a small grammar, and the hidden "human" who judges them.

A review is one to three sentences, each a subject, a verb, and one or two adjectives:

    the film is really funny and clever . the ending was slow .

The prompt is the first subject ("the film"); the model writes the rest and ends with <eos>.
The corpus mixes moods, so a model fine-tuned on it (SFT) writes praise and pans alike.

The hidden rule stands in for the human labellers. It prefers reviews that praise with *distinct*
positive words and punishes malformed text. Both halves matter: a rule that counted positive words
would be won by "great great great ...", and one that ignored form would be won by word salad.
The reward model never sees this rule, only comparisons it made: that gap is where reward hacking
lives.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

SUBJECTS = ("the film", "this movie", "the plot", "the acting", "the ending", "the cast", "the script", "the music")
VERBS = ("is", "was")
INTENSIFIERS = ("very", "really", "quite")
POSITIVE = ("great", "wonderful", "brilliant", "moving", "funny", "charming", "superb", "clever", "gripping", "lovely")
NEGATIVE = ("dull", "boring", "awful", "weak", "predictable", "messy", "bland", "slow", "silly", "forgettable")
NEUTRAL = ("long", "loud", "quiet", "strange", "simple")
ADJECTIVES = POSITIVE + NEGATIVE + NEUTRAL
EOS = "<eos>"
MAX_SENTENCES = 3
MALFORMED_SCORE = -3.0  # what the hidden rule gives a review that does not parse or never ends

WORDS = tuple(
    sorted({w for s in SUBJECTS for w in s.split()} | set(VERBS) | set(INTENSIFIERS) | set(ADJECTIVES) | {"and", "."})
)

_SUBJECT = "(?:" + "|".join(re.escape(s) for s in SUBJECTS) + ")"
_ADJ = "(?:(?:" + "|".join(INTENSIFIERS) + ") )?(?:" + "|".join(ADJECTIVES) + ")"
_PREDICATE = f"(?:{'|'.join(VERBS)}) {_ADJ}(?: and {_ADJ})? \\."
_SENTENCE = re.compile(f"{_SUBJECT} {_PREDICATE}")


@dataclass(frozen=True)
class Judgement:
    well_formed: bool
    positive: int  # distinct positive adjectives
    negative: int  # distinct negative adjectives
    score: float


def sentences(text: str) -> list[str]:
    """Split a review at its full stops, keeping each '.'; text after the last stop is kept as a fragment."""
    parts, current = [], []
    for word in text.split():
        current.append(word)
        if word == ".":
            parts.append(" ".join(current))
            current = []
    if current:
        parts.append(" ".join(current))
    return parts


def is_well_formed(review: str) -> bool:
    """Grammatical sentences only, one to three of them, then <eos> and nothing after it.

    `review` is the whole text, prompt included: "the film is great . <eos>".
    """
    words = review.split()
    if not words or words[-1] != EOS or words.count(EOS) != 1:
        return False
    body = sentences(" ".join(words[:-1]))
    return 1 <= len(body) <= MAX_SENTENCES and all(_SENTENCE.fullmatch(s) for s in body)


def judge(review: str) -> Judgement:
    """The hidden human: distinct positive words minus distinct negative words; -3 if malformed."""
    # lesson:start hidden-rule
    words = review.split()
    positive = len(set(words) & set(POSITIVE))  # distinct: saying "great" twice earns nothing
    negative = len(set(words) & set(NEGATIVE))
    if not is_well_formed(review):
        return Judgement(False, positive, negative, MALFORMED_SCORE)  # word salad and endless text lose
    return Judgement(True, positive, negative, float(positive - negative))
    # lesson:end hidden-rule


def hidden_score(review: str) -> float:
    return judge(review).score


def prefer(a: str, b: str) -> int:
    """1 if the hidden human prefers a, -1 if b, 0 for a tie (ties are dropped from preference data)."""
    sa, sb = hidden_score(a), hidden_score(b)
    return int(sa > sb) - int(sa < sb)


def generate_review(rng: np.random.Generator, subject: str | None = None) -> str:
    """One well-formed review in a random mood: mostly praise, mostly pans, or mixed."""
    mood = rng.choice([0.15, 0.5, 0.85])  # chance that an adjective is positive
    n_sentences = int(rng.choice([1, 2, 3], p=[0.3, 0.4, 0.3]))
    used: set[str] = set()

    def adjective() -> str:
        while True:
            pool = NEUTRAL if rng.random() < 0.15 else (POSITIVE if rng.random() < mood else NEGATIVE)
            word = str(rng.choice(pool))
            if word not in used:
                used.add(word)
                break
        return f"{rng.choice(INTENSIFIERS)} {word}" if rng.random() < 0.25 else word

    out = []
    for index in range(n_sentences):
        who = subject if (index == 0 and subject) else str(rng.choice(SUBJECTS))
        adjectives = adjective() if rng.random() < 0.5 else f"{adjective()} and {adjective()}"
        out.append(f"{who} {rng.choice(VERBS)} {adjectives} .")
    return " ".join(out) + f" {EOS}"


def corpus(n: int, seed: int = 0) -> list[str]:
    """n reviews for supervised fine-tuning (all well-formed, all moods)."""
    rng = np.random.default_rng(seed)
    return [generate_review(rng) for _ in range(n)]


def prompts(n: int, seed: int = 0) -> list[str]:
    """n prompts: each a subject that opens a review."""
    rng = np.random.default_rng(seed)
    return [str(rng.choice(SUBJECTS)) for _ in range(n)]
