"""Self-checks of a rubric, run by `python -m app.content validate` (and `make validate`).

Every explain rubric must grade its own model answer as a pass (and every spot-the-bug fix rubric
its model fix), and a salad of its own accept phrasings (the phrasings as fragments, no sentence
around them) as a fail: a rubric that passes keywords would pass nonsense.
"""

from __future__ import annotations

from app.content.quiz_models import AnyQuestion, ExplainQuestion, RubricPoint, SpotTheBugQuestion
from app.grading import semantic


def accept_salad(points: list[RubricPoint]) -> str:
    """The rubric's accept phrasings as a list of fragments: `ratio. clip epsilon. trust region.`"""
    fragments = []
    for point in points:
        for phrase in point.accept:
            if "=" in phrase:  # a line of code is a claim of its own; leave it out of a salad
                continue
            fragments.append(" ".join(t.strip().rstrip("*") for t in phrase.split(" + ")))
    return ". ".join(dict.fromkeys(fragments)) + "."


def problems(q: AnyQuestion) -> list[tuple[tuple[str, ...], str]]:
    """(field, message) for each self-check the question fails; [] for other kinds."""
    if isinstance(q, ExplainQuestion):
        points, reference, need, fix = q.rubric, q.model_answer, q.points_to_pass, False
        field, ref_field = "rubric", "model_answer"
    elif isinstance(q, SpotTheBugQuestion):
        points, reference, need, fix = q.fix, q.model_fix, q.fix_pass_mark, True
        field, ref_field = "fix", "model_fix"
    else:
        return []
    out = []
    own = semantic.grade_points(points, reference, reference, fix=fix)
    if own.score < need:
        missed = "; ".join(own.missed + [c["point"] for c in own.contradicted])
        message = f"the {ref_field} makes {own.score} of the {need} points needed (not made: {missed})"
        out.append(((ref_field,), message))
    salad = semantic.grade_points(points, accept_salad(points), reference, fix=fix)
    if salad.score >= need:
        out.append(((field,), f"a salad of the accept phrasings passes ({salad.score} points): {', '.join(salad.hit)}"))
    return out
