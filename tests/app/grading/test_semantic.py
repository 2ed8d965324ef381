"""The meaning-based rubric grader (app/grading/semantic.py) with the packaged MiniLM model."""

from __future__ import annotations

import numpy as np
import pytest

from app.content.quiz_models import RubricPoint
from app.grading import calibration, graders, rubric_check, semantic
from app.grading.bank import Questions


@pytest.mark.parametrize(
    ("text", "claim"),
    [
        ("close to. reward hacking. beta small.", False),
        ("context, user features, arms, click reward, LinUCB, Thompson sampling", False),
        ("The KL penalty keeps the policy close to the reference model.", True),
        ("ratio = torch.exp(logp - logp_old)", True),
        ("Reward hacking.", False),
    ],
)
def test_a_claim_is_a_statement_not_a_keyword_list(text: str, claim: bool) -> None:
    assert semantic.is_claim(text) is claim


@pytest.mark.parametrize(
    ("text", "anchor", "why"),
    [
        ("Gamma does not keep the return finite.", "It keeps the return finite.", "negation"),
        ("A gamma near 0 makes the agent far-sighted", "With gamma near 0 the agent is myopic", "opposite"),
        ("A larger beta lets the model drift further", "with a beta that is too small the model drifts", "opposite"),
        ("a gamma near 1 makes it myopic", "With gamma near 0 the agent is myopic", "numbers"),
        ("The policy stays close to the reference.", "It keeps the policy close to the SFT model.", ""),
        ("Multi-task RL and meta-RL are the same thing", "Meta-RL trains across a distribution of tasks", "sameness"),
        ("The terminal state is the same as any other state.", "A terminal state has no next value", "sameness"),
        ("Pretraining is not the same as being helpful.", "Pretraining teaches likely text", "negation"),
        ("The planning updates are the same update on simulated data.", "Planning replays model transitions", ""),
    ],
)
def test_disagreement_rules(text: str, anchor: str, why: str) -> None:
    assert semantic.disagreement(text, anchor) == why


def test_the_model_loads_once_per_process() -> None:
    assert semantic.available()
    assert semantic.encoder() is semantic.encoder()


def test_a_paraphrase_earns_the_point_the_keywords_missed(questions: Questions) -> None:
    # The issue's example: "anchors the model to the reference" has none of the accept phrasings.
    q = questions.get("kl-penalty-role")
    text = (
        "It anchors the policy to the reference model it started from. Without that anchor the policy wanders "
        "off into odd text that exploits weaknesses of the reward model. Beta is how strong the anchor is: too "
        "weak and the model games the reward, too strong and it hardly moves away from the SFT model."
    )
    grade = graders.grade_explain(q, text)
    assert q.rubric[0].point in grade.details["hit"]
    assert grade.correct, grade.details


def test_a_keyword_salad_earns_nothing(questions: Questions) -> None:
    q = questions.get("kl-penalty-role")
    grade = graders.grade_explain(q, "close to. reward hacking. beta small. per token.")
    assert grade.details["hit"] == [] and not grade.correct


def test_a_negated_answer_fails_and_its_sentence_is_quoted(questions: Questions) -> None:
    q = questions.get("discount-factor")
    text = (
        "Gamma does not keep the return finite. A gamma near 0 makes the agent far-sighted, and a gamma near 1 "
        "makes it myopic. A larger gamma lowers the variance of the returns."
    )
    grade = graders.grade_explain(q, text)
    assert not grade.correct
    contradicted = {c["point"]: c["sentence"] for c in grade.details["contradicted"]}
    assert contradicted[q.rubric[0].point] == "Gamma does not keep the return finite."
    assert "far-sighted" in contradicted[q.rubric[1].point]
    assert "contradicted" in grade.feedback


def test_a_wrong_answer_that_calls_two_ideas_the_same_fails(questions: Questions) -> None:
    # The calibration set's wrong answer for this question names every point's topic while denying it;
    # it earned 4 of 5 points (3 needed) before sameness claims counted as contradictions.
    q = questions.get("multitask-versus-meta-explain")
    text = (
        "Multi-task RL and meta-RL are the same thing: both train a separate network from scratch for each "
        "task and never reuse anything between tasks. Transfer learning only means copying the reward "
        "function from one task to another, and sharing layers between tasks never causes any conflict."
    )
    grade = graders.grade_explain(q, text)
    assert not grade.correct, grade.details
    contradicted = {c["point"]: c["sentence"] for c in grade.details["contradicted"]}
    assert contradicted[q.rubric[0].point].startswith("Multi-task RL and meta-RL are the same thing")
    assert contradicted[q.rubric[1].point].startswith("Multi-task RL and meta-RL are the same thing")
    assert "never causes any conflict" in contradicted[q.rubric[4].point]
    # The good answer to the same question still earns every point.
    good = next(a.text for cq in calibration.load() if cq.question == q.id for a in cq.answers if a.label == "good")
    assert graders.grade_explain(q, good).details["hit"] == [p.point for p in q.rubric]


def test_a_contradicts_statement_catches_a_wrong_belief_without_negation() -> None:
    point = RubricPoint(
        point="The ratio is the exponential of the difference of log-probabilities",
        accept=["exp*"],
        contradicts=["Dividing the log-probabilities gives the probability ratio"],
    )
    wrong = semantic.grade_points([point], "You get the probability ratio by dividing the two log-probabilities.")
    assert [v.status for v in wrong.verdicts] == ["contradicted"]
    assert wrong.verdicts[0].why == "a known wrong belief"
    right = semantic.grade_points([point], "The ratio is exp of logp minus logp_old, a difference of logs.")
    assert right.hit == [point.point]


def test_a_fix_that_calls_the_buggy_line_right_is_contradicted(questions: Questions) -> None:
    q = questions.get("ppo-ratio-bug")
    grade = graders.grade_spot_the_bug(q, q.bug_line, "The ratio line is right; exp is applied later anyway.")
    assert not grade.correct and grade.details["contradicted"]
    assert "opposite" in grade.feedback


def test_without_the_model_the_phrasings_still_need_claims(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(semantic, "encoder", lambda: None)
    point = RubricPoint(point="Keeps the return finite", accept=["finite"])
    assert semantic.grade_points([point], "finite. bounded.").hit == []
    result = semantic.grade_points([point], "Discounting keeps the return finite in continuing tasks.")
    assert result.hit == [point.point] and result.grader == "keyword"
    negated = semantic.grade_points([point], "Discounting does not keep the return finite at all.")
    assert [v.status for v in negated.verdicts] == ["contradicted"]


def test_rubric_self_check_flags_a_rubric_that_a_salad_passes(questions: Questions) -> None:
    q = questions.get("why-ppo-clips")
    assert rubric_check.problems(q) == []
    salad = rubric_check.accept_salad(q.rubric)
    assert "ratio. importance." in salad and "=" not in salad
    # A model answer that makes no point is reported on its field.
    bad = q.model_copy(update={"model_answer": "Interesting question. Let me think about it."})
    (problem,) = rubric_check.problems(bad)
    assert problem[0] == ("model_answer",) and "points needed" in problem[1]


def test_no_rubric_in_the_banks_passes_a_salad_of_its_own_phrasings(questions: Questions) -> None:
    # The other half of `make validate`'s self-check (model answers passing: test_graders.py).
    for q in questions.filter(kinds=["explain", "spot-the-bug"]):
        fix = q.kind == "spot-the-bug"
        points, reference = (q.fix, q.model_fix) if fix else (q.rubric, q.model_answer)
        need = q.fix_pass_mark if fix else q.points_to_pass
        salad = semantic.grade_points(points, rubric_check.accept_salad(points), reference, fix=fix)
        assert salad.score < need, (q.id, salad.hit)


def test_calibration_set_covers_every_explain_and_spot_the_bug_question(questions: Questions) -> None:
    entries = calibration.load()
    answered = {cq.question: cq for cq in entries}
    assert len(answered) == len(entries), "a question has two calibration entries"
    rubric_kinds = questions.filter(kinds=["explain", "spot-the-bug"])
    for q in rubric_kinds:
        assert q.id in answered, q.id
        assert {"good", "partial", "salad", "wrong"} <= {a.label for a in answered[q.id].answers}, q.id
    assert set(answered) == {q.id for q in rubric_kinds}, "calibration answers for no explain/spot-the-bug question"
    splits = [cq.split for cq in answered.values()]
    assert splits.count("heldout") >= len(splits) // 3


@pytest.mark.slow
def test_held_out_targets_of_the_issue_are_met() -> None:
    from bench.explain_grading import _metrics, run

    m = _metrics(run("heldout")["passed"], "semantic", None)
    assert m["pass:good"] >= 0.9 and m["pass:salad"] <= 0.05 and m["pass:wrong"] <= 0.10, m


def test_the_benchmark_refuses_a_repeat_below_one(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.explain_grading import main

    with pytest.raises(SystemExit) as exc:
        main(["--repeat", "0"])
    assert exc.value.code == 2 and "--repeat must be at least 1" in capsys.readouterr().err


def _cost(groups: list[list[int]], lengths: list[int], call_cost: int = semantic.CALL_COST_TOKENS) -> int:
    return sum(call_cost + len(g) * max(lengths[i] for i in g) for g in groups)


def test_the_longest_answer_is_not_padded_to_its_longest_clause(questions: Questions) -> None:
    # The issue's speed target failed on the longest answers: batches of 16 padded short clauses to an
    # 80-token sentence. The split costs at least a fifth less, in the cost it minimises.
    enc = semantic.encoder()
    longest = max((a.text for cq in calibration.load() for a in cq.answers), key=len)
    texts = [u.text for u in semantic.units(longest) if u.claim]
    lengths = [len(ids) for ids in enc._tokenizer(texts, truncation=True, max_length=128)["input_ids"]]
    order = sorted(range(len(texts)), key=lambda i: lengths[i])

    def fixed(size: int) -> int:
        return _cost([order[i : i + size] for i in range(0, len(order), size)], lengths)

    split = _cost(semantic.batches(lengths), lengths)
    assert split <= 0.8 * fixed(16)  # what the encoder did before
    assert split <= min(fixed(4), fixed(8), fixed(len(order)))


def test_batched_embeddings_equal_one_text_at_a_time() -> None:
    # Short clauses and one long sentence: the encoder splits them into several passes, and each
    # text's embedding comes back in its place.
    enc = semantic.encoder()
    texts = [
        "Clip the ratio.",
        "The KL penalty keeps the policy close to the reference model so it cannot drift into reward hacking.",
        "A discount near zero makes the agent myopic.",
        "PPO clips the probability ratio between the new and the old policy to the interval from one minus "
        "epsilon to one plus epsilon, so a single batch of advantages cannot push the policy far from the one "
        "that collected the data, which keeps the surrogate objective a trustworthy estimate of improvement "
        "and lets the same rollouts be reused for several epochs of minibatch updates without collapse.",
        "Advantages are normalised per batch.",
    ]
    lengths = [len(ids) for ids in enc._tokenizer(texts, truncation=True, max_length=128)["input_ids"]]
    assert len(semantic.batches(lengths)) > 1
    enc._cache.clear()
    together = enc.encode(texts)
    enc._cache.clear()
    alone = [enc.encode([t])[0] for t in texts]
    assert np.allclose(together, np.stack(alone), atol=1e-5)
