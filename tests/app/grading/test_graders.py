"""Graders of choice, order, predict, explain and spot-the-bug questions; rubric matching; recording attempts."""

from __future__ import annotations

import numpy as np
import pytest

import algorithms.returns
from app.content.quiz_models import RubricPoint
from app.grading import graders, predict, rubric
from app.grading.bank import Questions


def test_choice_single_and_multiple(questions: Questions) -> None:
    single = questions.get("markov-property")
    assert graders.grade_choice(single, single.answer).correct
    assert not graders.grade_choice(single, single.distractors[0]).correct
    assert graders.grade_choice(single, None).feedback == "No answer picked."
    multi = questions.get("on-versus-off-policy")
    assert graders.grade_choice(multi, list(reversed(multi.answers))).correct
    partial = graders.grade_choice(multi, [multi.answers[0], multi.distractors[0]])
    assert not partial.correct and partial.score == 0.0
    assert partial.feedback == "Not quite: 1 of 3 right answers picked, 1 wrong one."


def test_choice_options_are_shuffled_per_attempt_but_stable(questions: Questions) -> None:
    q = questions.get("markov-property")
    first = graders.choice_options(q, 0)
    assert first == graders.choice_options(q, 0)
    assert sorted(first) == sorted([q.answer, *q.distractors])
    assert any(graders.choice_options(q, seed) != first for seed in range(1, 6))


def test_order_grades_positions(questions: Questions) -> None:
    q = questions.get("rlhf-stages")
    steps = list(q.steps)
    assert graders.grade_order(q, steps).correct
    swapped = [steps[1], steps[0], *steps[2:]]
    grade = graders.grade_order(q, swapped)
    assert not grade.correct and grade.details["in_place"] == [False, False, True, True]
    assert graders.grade_order(q, steps[:2]).feedback == "Put all 4 steps in order (2 placed so far)."
    assert graders.order_options(q, 0) != steps


def test_predict_key_is_computed_by_the_reference(questions: Questions, monkeypatch: pytest.MonkeyPatch) -> None:
    q = questions.get("discounted-return-g0")
    inst = predict.instance(q, 3)
    rewards, gamma = inst.params["rewards"], inst.params["gamma"]
    by_hand = sum(gamma**k * r for k, r in enumerate(rewards))
    assert inst.expected == pytest.approx(by_hand)
    assert f"{predict.format_value(rewards)}" in inst.prompt and "{{" not in inst.prompt
    assert graders.grade_predict(q, 3, str(by_hand + 0.004)).correct  # within the tolerance
    assert not graders.grade_predict(q, 3, str(by_hand + 0.5)).correct
    assert "is not a number" in graders.grade_predict(q, 3, "twelve").feedback
    # The key follows the code: change the reference and the expected answer changes with it.
    monkeypatch.setattr(algorithms.returns, "discounted_return", lambda rewards, gamma: 42.0)
    assert predict.instance(q, 3).expected == 42.0


def test_predict_parameters_vary_with_the_seed(questions: Questions) -> None:
    q = questions.get("ucb-pick")
    prompts = {predict.instance(q, seed).prompt for seed in range(6)}
    assert len(prompts) > 1
    assert isinstance(predict.instance(q, 0).expected, int)


def test_predict_array_answers(questions: Questions) -> None:
    q = questions.get("bellman-backup-by-hand")
    inst = predict.instance(q, 1)
    assert inst.answer_kind == "array" and inst.expected.shape == (3,)
    assert "| state |" in inst.prompt and "| s = 0 |" in inst.prompt
    typed = ", ".join(str(v) for v in inst.expected)
    assert graders.grade_predict(q, 1, f"[{typed}]").correct
    assert not graders.grade_predict(q, 1, typed.rsplit(",", 1)[0]).correct  # one number short


def test_predict_expressions_are_restricted() -> None:
    assert predict.evaluate("log($r) * 2", {"r": np.e}) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="is not allowed"):
        predict.evaluate("__import__('os')", {})


@pytest.mark.parametrize(
    ("phrase", "text", "hit"),
    [
        ("explor*", "The agent must explore.", True),
        ("explor*", "It exploits.", False),
        ("ratio + clip*", "The ratio is clipped to a range.", True),
        ("ratio + clip*", "The ratio moves. Clipping happens elsewhere.", False),  # two sentences
        ("far sighted", "A far-sighted agent.", True),
        ("exp + logp - logp_old", "ratio = torch.exp(logp - logp_old)", True),
        ("target network", "It uses target networks.", True),  # a plural is forgiven
        ("kl", "The KL penalty keeps it close.", True),
        ("kl", "A kludge.", False),  # whole words only
        ("rl²", "Multi-task RL trains one agent.", False),  # a symbol is spelled out, not dropped
        ("rl²", "RL² adapts in its hidden state.", True),
        ("rl2", "RL² adapts in its hidden state.", True),
        ("-log σ", "The loss is -log σ(r_w - r_l).", True),
        ("-log σ", "Take -log of the probability.", False),
        ("beta", "A larger β keeps it closer.", True),
    ],
)
def test_phrase_matching(phrase: str, text: str, hit: bool) -> None:
    assert rubric.phrase_matches(phrase, text) is hit


def test_explain_lists_hits_and_misses(questions: Questions) -> None:
    q = questions.get("how-q-learning-works")
    grade = graders.grade_explain(q, "It learns Q values with a TD update. It is off-policy.")
    assert grade.details["hit"] == [q.rubric[0].point, q.rubric[2].point, q.rubric[3].point]
    assert grade.details["missed"] == [q.rubric[1].point]
    assert grade.correct and grade.feedback == "3 of 4 key points made (3 needed)."
    assert not graders.grade_explain(q, "").correct


def test_every_model_answer_passes_its_own_rubric_and_an_empty_answer_fails(questions: Questions) -> None:
    for q in questions.filter(kinds=["explain"]):
        grade = graders.grade_explain(q, q.model_answer)
        assert grade.correct and grade.details["contradicted"] == [], q.id
        assert graders.grade_explain(q, "I would need to look that up.").score == 0, q.id
    for q in questions.filter(kinds=["spot-the-bug"]):
        assert graders.grade_spot_the_bug(q, q.bug_line, q.model_fix).correct, q.id
        assert not graders.grade_spot_the_bug(q, q.bug_line, "no idea").correct, q.id


def test_spot_the_bug_needs_the_exact_line_and_the_fix(questions: Questions) -> None:
    q = questions.get("ppo-ratio-bug")
    assert graders.grade_spot_the_bug(q, 2, "use torch.exp(logp - logp_old)").correct
    wrong_line = graders.grade_spot_the_bug(q, 3, "use torch.exp(logp - logp_old)")
    assert not wrong_line.correct and wrong_line.feedback.startswith("Line 3: not the line with the bug.")
    assert not graders.grade_spot_the_bug(q, 2, "change the clamp").correct


def test_rubric_points_are_plain_models() -> None:
    point = RubricPoint(point="A point", accept=["word"])
    assert rubric.match([point], "A word.").hit == ["A point"]


def _oracle_matches(phrase: str, text: str) -> bool:
    """The matching rules of app/grading/rubric.py's docstring, word by word (the original code, kept
    as the oracle for the compiled version)."""

    def word_ok(pattern: str, word: str) -> bool:
        if pattern.endswith("*"):
            return word.startswith(pattern[:-1])
        if pattern == word:
            return True
        return len(pattern) > 3 and (word == pattern + "s" or pattern == word + "s" or word == pattern + "es")

    def term_in(term: tuple[str, ...], sentence: tuple[str, ...]) -> bool:
        n = len(term)
        return any(
            all(word_ok(t, w) for t, w in zip(term, sentence[i : i + n], strict=True))
            for i in range(len(sentence) - n + 1)
        )

    terms = [t for t in (rubric._words(term) for term in phrase.split(" + ")) if t]
    if not terms:
        return False
    sentences = [rubric._words(s) for s in rubric._SENTENCE.split(text)] + [rubric._words(text)] * (len(terms) == 1)
    return any(all(term_in(term, s) for term in terms) for s in sentences if s)


def test_phrase_matching_agrees_with_the_word_by_word_rules(questions: Questions) -> None:
    import random

    phrases = sorted(
        {
            p
            for q in questions.by_id.values()
            for pt in (getattr(q, "rubric", None) or getattr(q, "fix", None) or [])
            for p in pt.accept
        }
    )
    texts = [
        t
        for q in questions.by_id.values()
        for t in (getattr(q, "model_answer", None), getattr(q, "model_fix", None))
        if t
    ]
    extra = ["Clips, clipping and clipped.", "The boxes; a box.", "x * y = z", "rewards-to-go: G_t", "Q-values (V's)"]
    rng = random.Random(0)
    texts = rng.sample(texts, 12) + extra
    hits = 0
    for phrase in phrases:
        for text in texts:
            expected = _oracle_matches(phrase, text)
            assert rubric.phrase_matches(phrase, text) is expected, (phrase, text)
            hits += expected
    assert hits > 30  # the comparison saw many matches, not only misses
