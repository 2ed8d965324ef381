"""The lesson schema. Unknown keys are rejected, so a typo is an error, not a silent no-op."""

from __future__ import annotations

import re
import threading
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
    field_validator,
)

from app.content.types import Code, OptionalText, Text, is_quick

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=80)]


class Track(StrEnum):
    FOUNDATIONS = "Foundations"
    VALUE_BASED = "Value-based"
    POLICY_GRADIENTS = "Policy gradients"
    RLHF = "RLHF"
    SYSTEMS = "Systems"


TRACK_ORDER: tuple[Track, ...] = tuple(Track)


class _Strict(BaseModel):
    # strict: `minutes: true` or `minutes: "5"` is an error, not 1 or 5.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class MarkdownBlock(_Strict):
    markdown: Text
    """Markdown with inline ($...$) and display ($$...$$) LaTeX."""


class MathBlock(_Strict):
    math: Text
    """Display LaTeX, without the surrounding $$."""


class CodeBlock(_Strict):
    code: Text
    """'module:qualname' or 'module:qualname#region' into algorithms/."""
    caption: OptionalText | None = None


class CalloutBlock(_Strict):
    callout: Text
    kind: Literal["tip", "warning", "pitfall", "interview"] = "tip"
    title: OptionalText | None = None


class DemoBlock(_Strict):
    demo: Text
    params: dict[str, Any] = Field(default_factory=dict)


class QuizBlock(_Strict):
    quiz: list[Slug] = Field(min_length=1)


_DOT_GRAPH = re.compile(r"^\s*(?:strict\s+)?(?:di)?graph\b[^{]*\{.*\}\s*$", re.DOTALL | re.IGNORECASE)
_DOT_LOCK = threading.Lock()  # pyparsing's grammar objects are shared state
MAX_DIAGRAM_CHARS = 20_000


def dot_problem(source: str) -> str | None:
    """Why Graphviz DOT `source` does not parse (pydot's grammar), or None when it does."""
    if not _DOT_GRAPH.match(source):
        return "a diagram is Graphviz DOT source: 'digraph { a -> b }' or 'graph { a -- b }'"
    if len(source) > MAX_DIAGRAM_CHARS:
        return f"a diagram of {len(source)} characters; at most {MAX_DIAGRAM_CHARS}"
    import warnings

    import pyparsing

    with warnings.catch_warnings():  # pydot 4 still calls pyparsing's old camelCase names
        warnings.simplefilter("ignore", DeprecationWarning)
        from pydot.dot_parser import graphparser

    try:
        with _DOT_LOCK:
            graphparser.parse_string(source, parse_all=True)
    except pyparsing.ParseException as exc:
        return (
            f"the DOT does not parse at line {exc.lineno} of the diagram, column {exc.col} "
            f"({exc.msg}): {exc.line.strip()!r}; check the braces, arrows (-> in a digraph, -- in a graph) "
            "and quotes"
        )
    except RecursionError:
        return "the DOT is nested too deeply to parse"
    return None


class DiagramBlock(_Strict):
    diagram: Code
    """Graphviz DOT source ('digraph { a -> b }'), drawn in the browser by st.graphviz_chart."""
    caption: OptionalText | None = None

    @field_validator("diagram")
    @classmethod
    def _parses_as_dot(cls, value: str, info: ValidationInfo) -> str:
        problem = None if is_quick(info) else dot_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class InterviewBlock(_Strict):
    interview: Text
    """The question, as an interviewer would ask it."""
    answer: Text
    """The model answer, hidden behind a reveal."""


BLOCK_KINDS: dict[str, type[_Strict]] = {
    "markdown": MarkdownBlock,
    "math": MathBlock,
    "code": CodeBlock,
    "callout": CalloutBlock,
    "demo": DemoBlock,
    "quiz": QuizBlock,
    "interview": InterviewBlock,
    "diagram": DiagramBlock,
}


def _block_kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return next(kind for kind, model in BLOCK_KINDS.items() if isinstance(value, model))
    if not isinstance(value, dict):
        return None
    kinds = [key for key in value if key in BLOCK_KINDS]
    return kinds[0] if len(kinds) == 1 else None


Block = Annotated[
    Annotated[MarkdownBlock, Tag("markdown")]
    | Annotated[MathBlock, Tag("math")]
    | Annotated[CodeBlock, Tag("code")]
    | Annotated[CalloutBlock, Tag("callout")]
    | Annotated[DemoBlock, Tag("demo")]
    | Annotated[QuizBlock, Tag("quiz")]
    | Annotated[InterviewBlock, Tag("interview")]
    | Annotated[DiagramBlock, Tag("diagram")],
    Discriminator(
        _block_kind,
        custom_error_type="block_kind",
        custom_error_message="a block is a mapping with exactly one of the keys " + ", ".join(BLOCK_KINDS),
    ),
]


class Section(_Strict):
    title: OptionalText | None = None
    blocks: list[Block] = Field(min_length=1)


class Lesson(_Strict):
    id: Slug
    """Stable id used in URLs (?lesson=ID) and prerequisites: lowercase words joined by '-'."""
    title: Text
    summary: Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\n]*$")]
    """One line shown in the catalogue."""
    track: Track = Field(strict=False)  # an enum: strict mode would want a Track object, not its name
    level: Literal["beginner", "intermediate", "advanced"]
    minutes: int = Field(ge=1, le=240)
    """Estimated minutes to read the lesson and try its demos."""
    order: int = Field(default=0, ge=-1000, le=1000)
    """Tie-breaker for the position within the track, after prerequisites."""
    prerequisites: list[Slug] = Field(default_factory=list)
    tags: list[Text] = Field(default_factory=list)
    sections: list[Section] = Field(min_length=1)

    @field_validator("prerequisites")
    @classmethod
    def _no_self_or_repeat(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a prerequisite is listed twice")
        return value
