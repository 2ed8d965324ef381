"""The question-bank schema: one YAML file per topic in quizzes/, a list of questions of six kinds.

Unknown keys are rejected (a typo is an error, not a silent no-op) and types are strict
(`size: true` is not 1). Beyond the field types, a bank is checked for what pydantic cannot see
alone: distractors that repeat or equal an answer, a bug line outside its code, a predict question
whose prompt or arguments name an unknown parameter or whose args do not fit the function, a
reference that does not resolve in algorithms/, an implement question whose id is not its
function's name in kebab case or whose reference, starter and signature do not take the cases'
arguments. Those checks are in app/content/bank_checks.py (`check_bank`), which runs the code where
they need it; this module is the schema alone, so the grader's modules can import it and nothing here
imports them back.

No streamlit here, and no import of algorithms/: references are resolved by parsing
(app/content/coderef.py); the grader imports them when it computes an answer key.
"""

from __future__ import annotations

import math
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from app.content.types import Code, Text
from app.content.yaml_source import YamlSyntaxError, load_file_cached

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
FunctionRef = Annotated[str, StringConstraints(pattern=r"^algorithms(\.[A-Za-z_]\w*)+:[A-Za-z_]\w*$")]

Loc = tuple[str | int, ...]


class Topic(StrEnum):
    FOUNDATIONS = "foundations"
    BANDITS = "bandits"
    DYNAMIC_PROGRAMMING = "dynamic-programming"
    TD_LEARNING = "td-learning"
    DEEP_VALUE_BASED = "deep-value-based"
    POLICY_GRADIENTS = "policy-gradients"
    PPO = "ppo"
    RLHF = "rlhf"
    DPO_KTO = "dpo-kto"
    SYSTEMS = "systems"


TOPIC_TITLES: dict[Topic, str] = {
    Topic.FOUNDATIONS: "Foundations",
    Topic.BANDITS: "Bandits",
    Topic.DYNAMIC_PROGRAMMING: "Dynamic programming",
    Topic.TD_LEARNING: "TD learning",
    Topic.DEEP_VALUE_BASED: "Deep value-based RL",
    Topic.POLICY_GRADIENTS: "Policy gradients",
    Topic.PPO: "PPO",
    Topic.RLHF: "RLHF",
    Topic.DPO_KTO: "DPO and KTO",
    Topic.SYSTEMS: "Systems and distributed LLM RL",
}

Difficulty = Literal["easy", "medium", "hard"]
DIFFICULTIES: tuple[str, ...] = ("easy", "medium", "hard")
KINDS: tuple[str, ...] = ("choice", "predict", "order", "implement", "explain", "spot-the-bug")

# ---------------------------------------------------------------------------------------------
# The syllabus: what a question's `sources` may name. Seed 003 is 59 numbered questions; the
# others are named sections. The titles are ours (never the seeds' sentences).
# ---------------------------------------------------------------------------------------------

SEED_003_TITLES: tuple[str, ...] = (
    "RL versus supervised learning",
    "Components of an RL system",
    "The Markov property",
    "Value-based versus policy-based methods",
    "Exploration versus exploitation",
    "How Q-learning works",
    "Limits of tabular Q-learning",
    "How DQN addresses them",
    "The Bellman equation",
    "Policy-gradient methods and when to use them",
    "REINFORCE",
    "The advantage function",
    "Actor-critic methods",
    "PPO",
    "The probability ratio in PPO",
    "PPO versus other policy-gradient methods",
    "TRPO",
    "Soft actor-critic",
    "On-policy versus off-policy",
    "RL applied to large language models",
    "RLHF and why it matters",
    "Challenges of RL for LLMs",
    "DPO",
    "Challenges of distributed RL",
    "Parallelisation strategies",
    "Experience replay in distributed RL",
    "Memory optimisation for LLM RL training",
    "The rollout (generation) stage",
    "Reward computation in LLM RL",
    "The four models of PPO for LLMs",
    "Sequence packing and padding removal",
    "The critic in PPO for LLMs",
    "Deriving the policy-gradient theorem",
    "Bias and variance in RL estimators",
    "The discount factor",
    "Sparse rewards",
    "Common failure modes of RL training",
    "Evaluating RL agents",
    "The most important hyperparameters",
    "Offline RL",
    "Multi-task RL and meta-RL",
    "Research directions",
    "RL and other ML paradigms",
    "Design principles of an LLM RL framework",
    "Distributed training architecture for LLM RL",
    "Sequence-level RL for LLMs",
    "High throughput in LLM RL",
    "Reducing the memory footprint (framework view)",
    "Computational challenges of LLM RL",
    "Integrating an RL framework into an ML pipeline",
    "Running RL training in production",
    "Evaluating and benchmarking RL runs",
    "Implement REINFORCE",
    "Implement the PPO clipped objective",
    "Implement an advantage estimator",
    "Debugging an agent that does not learn",
    "Common issues in distributed RL",
    "Optimising RL for the GPU",
    "Reducing memory in RL training",
)

SOURCES: dict[str, dict[str, str]] = {
    "000": {
        "core-terms": "Core terms: policy, reward, value, exploration",
        "bandits": "Multi-armed bandits in recommenders, ads and A/B tests",
        "contextual-bandits": "Contextual bandits for personalised ranking",
        "regret": "Regret as the yardstick of a bandit algorithm",
        "rlhf-pipeline": "The RLHF pipeline: SFT, reward model, PPO",
        "ppo-kl": "The PPO objective with a KL penalty",
        "dpo": "DPO as a simpler alternative to RLHF",
    },
    "001": {
        "reinforce-cartpole": "REINFORCE on a cart-pole",
        "ppo-humanoid": "PPO for continuous control in a physics simulation",
        "dpo-finetuning": "DPO fine-tuning of a language model",
        "mdp-bellman": "MDPs and Bellman equations as the foundation",
        "ppo-clipping-answer": "Interview answer: why PPO clips",
        "ppo-vs-dpo-answer": "Interview answer: PPO with a reward model versus DPO",
        "gae": "GAE for variance reduction",
        "importance-sampling": "Importance sampling and the ratio",
        "kto": "KTO",
        "trpo": "TRPO and trust regions",
    },
    "002": {
        "rl-loop": "The agent-environment loop and its parts",
        "rl-vs-supervised": "RL versus supervised and unsupervised learning",
        "dosing-example": "The drug-dosing example",
        "reward-design": "Good and bad reward design",
        "reward-hacking": "Reward hacking",
        "epsilon-schedules": "Epsilon-greedy and its schedule",
        "returns-discounting": "Returns and the discount factor",
        "algorithm-overview": "Algorithm families",
        "rlhf-steps": "RLHF step by step, with the KL penalty",
        "sft-vs-rlhf": "SFT versus RLHF",
        "rl-applications": "Where RL is used in AI systems",
        "interview-template": "Interview answer: what RL is and how it relates to LLMs",
    },
    "003": {str(n): title for n, title in enumerate(SEED_003_TITLES, start=1)},
    "004": {
        "three-stages": "The three stages of RLHF",
        "bradley-terry": "The Bradley-Terry reward-model loss",
        "comparisons-vs-scores": "Why comparisons, not absolute scores",
        "kl-shaped-reward": "The KL-shaped per-token reward",
        "kl-penalty": "What the KL penalty is for and what beta controls",
        "reward-hacking": "Reward hacking and how the setup limits it",
        "dpo-vs-ppo": "How DPO differs from PPO-based RLHF",
        "from-memory": "The from-memory retrieval drill",
    },
}

DEPTHS: tuple[str, ...] = ("full", "partial")
_SOURCE = re.compile(r"^\d{3}:[a-z0-9-]+( (full|partial))?$")


def _check_source_ref(ref: str) -> str:
    if not _SOURCE.match(ref):
        raise ValueError(
            "a source is 'SEED:ITEM', optionally followed by ' full' or ' partial'"
            f" (e.g. '003:16 partial'); got {ref!r}"
        )
    return ref


SourceRef = Annotated[str, AfterValidator(_check_source_ref)]
"""'003:14' or '003:14 full': the question fully asks that syllabus item; '003:16 partial': only part of it."""


def parse_source(ref: str) -> tuple[str, str, str]:
    """'003:16 partial' -> ('003', '16', 'partial'); with no depth given the mapping is 'full'."""
    item, _, depth = ref.partition(" ")
    seed, _, section = item.partition(":")
    return seed, section, depth or "full"


class _Strict(BaseModel):
    # strict: `size: true` or `difficulty: 1` is an error, never coerced.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


# ---------------------------------------------------------------------------------------------
# Rubrics (explain, spot-the-bug)
# ---------------------------------------------------------------------------------------------


class RubricPoint(_Strict):
    point: Text
    """The key point, as the feedback names it."""
    accept: list[Text] = Field(min_length=1)
    """Phrasings that count as making the point. Words match whole words; `clip*` matches any word
    starting with `clip`; `ratio + clip*` needs both parts in one sentence."""
    contradicts: list[Text] = []
    """Classic wrong beliefs, as sentences: a learner's sentence that says one of them contradicts the
    point (app/grading/semantic.py)."""


# ---------------------------------------------------------------------------------------------
# Predict: parameters drawn per attempt, the key computed by the reference
# ---------------------------------------------------------------------------------------------

MAX_PARAM_ELEMENTS = 400
"""A predict parameter is shown to the learner: a few numbers, never millions."""
Dim = Annotated[int, Field(ge=1, le=20)]
Size = Dim | Annotated[list[Dim], Field(min_length=1, max_length=3)] | None
ParamFormat = Literal["auto", "list", "table", "next-states"]


class _Param(_Strict):
    size: Size = None
    """None draws one number; an int (1 to 20) or a shape (up to 3 dimensions) draws an array."""
    format: ParamFormat = "auto"

    @field_validator("size")
    @classmethod
    def _small(cls, value: Size) -> Size:
        if isinstance(value, list) and math.prod(value) > MAX_PARAM_ELEMENTS:
            raise ValueError(f"a shape of {math.prod(value)} numbers; at most {MAX_PARAM_ELEMENTS}")
        return value


FiniteFloat = Annotated[float, Strict(), Field(allow_inf_nan=False)]
StrictInt = Annotated[int, Strict(), Field(ge=-(10**9), le=10**9)]


class UniformParam(_Param):
    uniform: tuple[FiniteFloat, FiniteFloat] = Field(strict=False)  # a YAML list is a tuple here
    round: int = Field(default=2, ge=0, le=6)

    @field_validator("uniform")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            raise ValueError("uniform: [low, high] needs low <= high")
        return value


class IntegersParam(_Param):
    integers: tuple[StrictInt, StrictInt] = Field(strict=False)
    """Inclusive bounds."""

    @field_validator("integers")
    @classmethod
    def _ordered(cls, value: tuple[int, int]) -> tuple[int, int]:
        if value[0] > value[1]:
            raise ValueError("integers: [low, high] needs low <= high")
        return value


class ChoiceParam(_Param):
    choice: list[Any] = Field(min_length=1)


class ValueParam(_Param):
    value: Any


class MdpShape(_Strict):
    states: int = Field(ge=2, le=6)
    actions: int = Field(ge=1, le=4)


class NextStatesParam(_Param):
    next_states: MdpShape
    """A deterministic transition tensor P of shape (S, A, S): each (s, a) leads to one random s'."""
    format: ParamFormat = "next-states"


PARAM_KINDS: dict[str, type[_Param]] = {
    "uniform": UniformParam,
    "integers": IntegersParam,
    "choice": ChoiceParam,
    "value": ValueParam,
    "next_states": NextStatesParam,
}


def _param_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return next(f"~{k}" for k, model in PARAM_KINDS.items() if isinstance(value, model))
    if not isinstance(value, dict):
        return None
    kinds = [key for key in value if key in PARAM_KINDS]
    return f"~{kinds[0]}" if len(kinds) == 1 else None


ParamSpec = Annotated[
    Annotated[UniformParam, Tag("~uniform")]
    | Annotated[IntegersParam, Tag("~integers")]
    | Annotated[ChoiceParam, Tag("~choice")]
    | Annotated[ValueParam, Tag("~value")]
    | Annotated[NextStatesParam, Tag("~next_states")],
    Discriminator(
        _param_kind,
        custom_error_type="param_kind",
        custom_error_message="a parameter is a mapping with exactly one of the keys " + ", ".join(PARAM_KINDS),
    ),
]


class AnswerFrom(_Strict):
    call: FunctionRef
    """The reference, 'algorithms.module:function'."""
    args: dict[Identifier, Any] = Field(default_factory=dict)
    """Keyword arguments: literals, '$param', {array: X}, {tensor: X} or {expr: 'log($ratio)'}."""
    index: int | list[int] | None = None
    """Take this element (or index path) of the result."""
    scale: float = Field(default=1.0, allow_inf_nan=False)
    """Multiply the result, e.g. -1 to turn a loss into the objective."""


# ---------------------------------------------------------------------------------------------
# Questions
# ---------------------------------------------------------------------------------------------


class _Question(_Strict):
    id: Slug
    topic: Topic | None = Field(default=None, strict=False)
    """Defaults to the bank's topic."""
    difficulty: Difficulty
    prompt: Text
    """Markdown with $LaTeX$; a predict prompt names its parameters as {{name}}."""
    sources: list[SourceRef] = Field(min_length=1)
    """What of the syllabus this covers: '003:14' (seed 003, question 14) or '004:bradley-terry'."""
    lessons: list[Slug] = Field(default_factory=list)
    explanation: Text
    """Shown after an answer."""
    code: str | None = None
    """Optional code reference into algorithms/, shown with the question."""
    tags: list[Text] = Field(default_factory=list)

    @field_validator("sources", "lessons")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an entry is listed twice")
        return value


class ChoiceQuestion(_Question):
    kind: Literal["choice"]
    answer: Text | list[Text]
    """The correct option, or a list of them (the learner then picks all that apply)."""
    distractors: list[Text] = Field(min_length=1)

    @property
    def answers(self) -> list[str]:
        return [self.answer] if isinstance(self.answer, str) else list(self.answer)

    @property
    def multiple(self) -> bool:
        return not isinstance(self.answer, str)


class PredictQuestion(_Question):
    kind: Literal["predict"]
    params: dict[Identifier, ParamSpec] = Field(default_factory=dict)
    answer_from: AnswerFrom
    tolerance: float = Field(default=0.01, ge=0.0, le=1e6, allow_inf_nan=False)
    """Absolute tolerance on every number of the answer (integer answers must be exact)."""


class OrderQuestion(_Question):
    kind: Literal["order"]
    steps: list[Text] = Field(min_length=3, max_length=10)
    """In the correct order; the learner sees them shuffled."""


# ---------------------------------------------------------------------------------------------
# Implement: the cases a drill is graded on, declared in YAML (app/grading/cases.py draws them)
# ---------------------------------------------------------------------------------------------

MAX_DIM = 1000
MAX_ELEMENTS = 10_000
"""The most numbers one drawn argument may hold (a drill's case is small and read by a learner)."""
DimExpr = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_ +*-]*$|^[0-9][0-9 +*-]*$", max_length=40)]
"""A dimension name or a small sum of them: 'T', 'T + 1', 'S - 1'."""
Bound = Annotated[int, Strict(), Field(ge=-(10**6), le=10**6)] | DimExpr
ArgKind = Literal["float", "int", "bool", "array", "tensor", "list"]
DType = Literal["float64", "float32", "int64", "int32", "bool"]
SOURCES_OF_VALUES: tuple[str, ...] = (
    "uniform",
    "normal",
    "integers",
    "choice",
    "bernoulli",
    "simplex",
    "value",
    "expr",
)


class DimSpec(_Strict):
    """A dimension drawn once per random case: a fixed size, one of a list, or an inclusive range."""

    choice: list[Annotated[int, Strict(), Field(ge=1, le=MAX_DIM)]] | None = Field(default=None, min_length=1)
    integers: (
        tuple[Annotated[int, Strict(), Field(ge=1, le=MAX_DIM)], Annotated[int, Strict(), Field(ge=1, le=MAX_DIM)]]
        | None
    ) = Field(default=None, strict=False)
    value: Annotated[int, Strict(), Field(ge=1, le=MAX_DIM)] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> DimSpec:
        given = [name for name in ("choice", "integers", "value") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("a dimension has exactly one of choice: [3, 4], integers: [5, 12] or value: 5")
        if self.integers is not None and self.integers[0] > self.integers[1]:
            raise ValueError("integers: [low, high] needs low <= high")
        return self


class ArgSpec(_Strict):
    """How one argument of a drill is drawn for the random cases (edge cases write it out)."""

    kind: ArgKind
    """float, int or bool (a Python scalar), array (numpy), tensor (torch), list (of floats)."""
    shape: list[Annotated[int, Strict(), Field(ge=0, le=MAX_DIM)] | DimExpr] = Field(default_factory=list, max_length=4)
    """Dimensions, fixed or named in `dims` and shared between arguments: [B, T]. [] is a scalar."""
    dtype: DType | None = None
    """Default: int64 for integers and choice of ints, bool for bernoulli, float64 otherwise."""
    uniform: tuple[FiniteFloat, FiniteFloat] | None = Field(default=None, strict=False)
    normal: tuple[FiniteFloat, Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]] | None = Field(
        default=None, strict=False
    )
    """[mean, standard deviation]."""
    integers: tuple[Bound, Bound] | None = Field(default=None, strict=False)
    """Inclusive bounds; a bound may be a dimension expression: [0, 'S - 1']."""
    choice: list[Any] | None = Field(default=None, min_length=1)
    bernoulli: Annotated[float, Field(ge=0, le=1)] | None = None
    """Probability of 1 (True) for each element."""
    simplex: bool = False
    """Non-negative rows summing to 1 along the last axis (transition probabilities)."""
    value: Any = None
    """A fixed value, the same in every random case."""
    expr: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    """Computed from earlier arguments and dimensions: 'sum(n)', 'len(q) - 1'."""
    plus: Identifier | None = None
    """Add an earlier argument's value: `normal: [0, 0.3]` and `plus: logp_old` draws near it."""
    round: Annotated[int, Field(ge=0, le=8)] | None = 3
    """Decimals kept of drawn floats (short numbers read well in feedback); null keeps all."""
    requires_grad: bool = False
    """Tensors only: the learner's result must keep this argument in the autograd graph."""

    @model_validator(mode="after")
    def _one_source(self) -> ArgSpec:
        given = [name for name in SOURCES_OF_VALUES if _given(self, name)]
        if len(given) != 1:
            listed = ", ".join(SOURCES_OF_VALUES)
            raise ValueError(f"an argument has exactly one of {listed} (it has {', '.join(given) or 'none'})")
        if self.kind in ("float", "int", "bool") and self.shape:
            raise ValueError(f"a {self.kind} is a scalar: drop `shape` or use kind: array")
        if self.kind == "list" and len(self.shape) != 1:
            raise ValueError("a list has a shape of one dimension, e.g. shape: [T]")
        if self.requires_grad and self.kind != "tensor":
            raise ValueError("requires_grad is for tensors")
        for name in ("uniform", "integers"):
            bounds = getattr(self, name)
            if bounds is not None and all(isinstance(b, int | float) for b in bounds) and bounds[0] > bounds[1]:
                raise ValueError(f"{name}: [low, high] needs low <= high")
        if self.simplex and len(self.shape) < 1:
            raise ValueError("simplex needs a shape: rows along the last dimension sum to 1")
        return self


def _given(spec: ArgSpec, name: str) -> bool:
    value = getattr(spec, name)
    if name == "simplex":
        return bool(value)
    if name == "value":
        return "value" in spec.model_fields_set
    return value is not None


class EdgeCase(_Strict):
    note: Text
    """What the case checks, shown when it is the first to fail: 'an episode ends mid-rollout'."""
    args: dict[Identifier, Any]
    """Literal values (lists for arrays and tensors); {value: X, dtype: float32} sets a dtype.
    An argument left out is drawn as in a random case."""


class CaseSpec(_Strict):
    """The cases of a coding drill: edge cases written out, then random cases drawn from `args`."""

    returns: Literal["array", "int", "float", "tensor"]
    """What the function returns: a numpy array, an int (an index), a float (one number), a torch
    tensor. The learner's result must have the reference's shape; values agree within rtol/atol."""
    args: dict[Identifier, ArgSpec] = Field(min_length=1)
    """Every argument, in the order the function takes them."""
    dims: dict[Identifier, DimSpec] = Field(default_factory=dict)
    edge: list[EdgeCase] = Field(min_length=1)
    random: Annotated[int, Field(ge=0, le=20)] = 2
    """How many random cases follow the edge cases (drawn from the attempt's seed)."""
    grad: list[Identifier] = Field(default_factory=list)
    """Tensor arguments whose gradient of result.sum() must match the reference's."""
    rtol: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)] = 1e-5
    atol: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] = 1e-6


class ImplementQuestion(_Question):
    kind: Literal["implement"]
    function: Identifier
    signature: Text
    reference: FunctionRef
    starter: Code
    hints: list[Text] = Field(default_factory=list)
    cases: CaseSpec | Slug | None = None
    """The cases, declared (see quizzes/README.md); or the name of a Python generator in
    app/grading/cases.py, for the odd drill YAML cannot describe (default: the question id)."""

    @property
    def case_generator(self) -> CaseSpec | str:
        """What app/grading/cases.py:build draws the cases from."""
        return self.cases or self.id


class ExplainQuestion(_Question):
    kind: Literal["explain"]
    rubric: list[RubricPoint] = Field(min_length=1)
    pass_mark: int | None = Field(default=None, ge=1)
    """Points needed to pass; default: 60% of the rubric, rounded up."""
    model_answer: Text

    @property
    def points_to_pass(self) -> int:
        return self.pass_mark or max(1, -(-len(self.rubric) * 3 // 5))


class SpotTheBugQuestion(_Question):
    kind: Literal["spot-the-bug"]
    snippet: Code
    """The code with one planted bug; the learner sees it with line numbers."""
    bug_line: int = Field(ge=1)
    fix: list[RubricPoint] = Field(min_length=1)
    """What a correct fix says; at least `fix_pass_mark` of these must be hit."""
    fix_pass_mark: int = Field(default=1, ge=1)
    model_fix: Text


QUESTION_MODELS: dict[str, type[_Question]] = {
    "choice": ChoiceQuestion,
    "predict": PredictQuestion,
    "order": OrderQuestion,
    "implement": ImplementQuestion,
    "explain": ExplainQuestion,
    "spot-the-bug": SpotTheBugQuestion,
}


def _question_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return f"~{value.kind}"  # type: ignore[attr-defined]
    if isinstance(value, dict) and value.get("kind") in QUESTION_MODELS:
        return f"~{value['kind']}"
    return None


Question = Annotated[
    Annotated[ChoiceQuestion, Tag("~choice")]
    | Annotated[PredictQuestion, Tag("~predict")]
    | Annotated[OrderQuestion, Tag("~order")]
    | Annotated[ImplementQuestion, Tag("~implement")]
    | Annotated[ExplainQuestion, Tag("~explain")]
    | Annotated[SpotTheBugQuestion, Tag("~spot-the-bug")],
    Discriminator(
        _question_kind,
        custom_error_type="question_kind",
        custom_error_message="a question needs `kind:` set to one of " + ", ".join(KINDS),
    ),
]
AnyQuestion = (
    ChoiceQuestion | PredictQuestion | OrderQuestion | ImplementQuestion | ExplainQuestion | SpotTheBugQuestion
)


class QuizBank(_Strict):
    topic: Topic = Field(strict=False)
    title: Text
    questions: list[Question] = Field(min_length=1)

    @model_validator(mode="after")
    def _inherit_topic(self) -> QuizBank:
        questions = [q if q.topic else q.model_copy(update={"topic": self.topic}) for q in self.questions]
        object.__setattr__(self, "questions", questions)
        return self


# ---------------------------------------------------------------------------------------------
# Checks beyond the types
# ---------------------------------------------------------------------------------------------

_lesson_ids_cache: dict[str, tuple[tuple[tuple[str, int], ...], set[str]]] = {}


def lesson_ids_in(directory: Path) -> set[str]:
    """The ids of the lesson files in `directory`, cached on the files' modification times."""
    files = sorted(p for p in directory.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())
    key = tuple((str(p), _mtime(p)) for p in files)
    cached = _lesson_ids_cache.get(str(directory))
    if cached and cached[0] == key:
        return cached[1]
    ids = set()
    for path in files:
        try:
            data, _ = load_file_cached(path, directory)
        except YamlSyntaxError:
            continue
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            ids.add(data["id"])
    _lesson_ids_cache[str(directory)] = (key, ids)
    return ids


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def validation_problems(exc: ValidationError) -> list[tuple[Loc, str]]:
    """Pydantic's errors as (location, message), with the union tags taken out of the location."""
    out: list[tuple[Loc, str]] = []
    for error in exc.errors(include_url=False):
        raw = error["loc"]
        loc = tuple(part for part in raw if not (isinstance(part, str) and part.startswith("~")))
        message = error["msg"].removeprefix("Value error, ")  # as the lesson loader writes it
        if error["type"] == "extra_forbidden":
            message = f"unknown key '{loc[-1]}'" + _allowed_keys_hint(raw)
        elif error["type"] == "missing":
            message = "required field is missing"
        elif (
            "input" in error
            and error["type"] not in ("question_kind", "param_kind")
            and not isinstance(error["input"], dict | list)
        ):
            message += f" (got {error['input']!r})"
        out.append((loc, message))
    return out


def _allowed_keys_hint(raw: tuple[Any, ...]) -> str:
    if len(raw) == 1:
        return "; a bank has: " + ", ".join(QuizBank.model_fields)
    if len(raw) == 4 and raw[0] == "questions" and str(raw[2]).startswith("~"):
        kind = str(raw[2])[1:]
        return f"; a {kind} question has: " + ", ".join(QUESTION_MODELS[kind].model_fields)
    return ""
