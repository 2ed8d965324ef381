"""`python -m app.content new lesson ID` and `new bank TOPIC`: commented skeletons that validate.

The lesson skeleton takes the next free `order` in its track and lists, in a comment, every code
region that exists in algorithms/ (what a `code:` block can show). The bank skeleton has one
valid question of every kind, a coding drill declared in YAML included, each commented where an
instructor edits it. Both point at the guides (lessons/README.md, quizzes/README.md).
"""

from __future__ import annotations

import ast
from pathlib import Path

from app.content.coderef import regions_in
from app.content.models import TRACK_ORDER, Track
from app.content.quiz_models import TOPIC_TITLES, Topic
from app.settings import ROOT

ALGORITHMS = ROOT / "algorithms"
ORDER_STEP = 10


def code_regions(root: Path = ALGORITHMS) -> list[str]:
    """Every `module:qualname#region` a lesson can show, in file order."""
    refs: list[str] = []
    for path in sorted(root.rglob("*.py")):
        regions = regions_in(path)
        if not regions:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except SyntaxError:
            continue
        module = ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
        for name, lines in regions.items():
            qualname = _enclosing(tree, lines[0])
            if qualname:
                refs.append(f"{module}:{qualname}#{name}")
    return refs


def _enclosing(tree: ast.Module, line: int) -> str | None:
    """The qualname of the innermost function or class holding `line`."""
    found: str | None = None
    nodes: list[tuple[ast.AST, str]] = [(tree, "")]
    while nodes:
        node, prefix = nodes.pop()
        for child in getattr(node, "body", []):
            is_definition = isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            if is_definition and child.lineno <= line <= (child.end_lineno or child.lineno):
                found = f"{prefix}{child.name}"
                nodes.append((child, f"{found}."))
    return found


def next_order(track: Track, orders: dict[Track, list[int]]) -> int:
    taken = orders.get(track, [])
    return (max(taken) // ORDER_STEP + 1) * ORDER_STEP if taken else ORDER_STEP


def lesson_skeleton(lesson_id: str, track: Track, order: int, regions: list[str]) -> str:
    region_lines = "\n".join(f"#   {ref}" for ref in regions) or "#   (none yet: mark one with '# lesson:start NAME')"
    example = next((r for r in regions if r.startswith("algorithms.returns:")), regions[0] if regions else "")
    code_block = (
        f"      - code: {example}\n        caption: The function the app runs, shown from its source.\n"
        if example
        else ""
    )
    tracks = ", ".join(t.value for t in TRACK_ORDER)
    return f"""\
# A new lesson. Guide: lessons/README.md. Check it: python -m app.content validate lessons/{lesson_id}.yaml
# Text with backslashes (LaTeX) goes in single quotes or a block scalar (|), never in double quotes.
#
# Code regions a `code:` block can show (module:function#region), from algorithms/:
{region_lines}
id: {lesson_id}                  # the file name without .yaml; used in URLs (?lesson={lesson_id})
title: A title for the new lesson
summary: One line shown in the catalogue.
track: {track.value}          # one of: {tracks}
level: beginner                # beginner, intermediate or advanced
minutes: 20                    # to read it and try its demos, 1 to 240
order: {order}                      # place in the track after prerequisites (the next free one)
prerequisites: []              # lesson ids read first, e.g. [returns-and-discounting]
tags: []
sections:                      # shown one at a time (&section=N, from 1); the title names it in Contents
  - title: The idea
    blocks:
      - markdown: |
          Write the lesson in Markdown, with inline math like $G_t = r_{{t+1}} + \\gamma G_{{t+1}}$.
      - math: 'G_t = \\sum_{{k=0}}^{{\\infty}} \\gamma^k r_{{t+k+1}}'
{code_block}      - callout: One thing to remember.
        kind: tip                # tip, warning, pitfall or interview
      - diagram: 'digraph {{ rankdir=LR; state -> action -> reward }}'
        caption: A Graphviz diagram.
"""


def bank_skeleton(topic: Topic, name: str | None = None) -> str:
    """A bank of `topic`; its question ids start with the file's `name` (default: the topic)."""
    title = TOPIC_TITLES[topic]
    prefix = f"{name or topic.value}-new"
    function = f"{prefix.replace('-', '_')}_returns"
    function_id = function.replace("_", "-")
    return f"""\
# A new question bank. Guide: quizzes/README.md. Check it: python -m app.content validate quizzes/
# Ids are unique across all banks. `sources` names what of the syllabus a question covers
# (quizzes/README.md lists them); `lessons` the lesson ids it belongs to.
topic: {topic.value}
title: {title}
questions:
  - id: {prefix}-choice
    kind: choice
    difficulty: easy             # easy, medium or hard
    sources: ["003:1"]
    lessons: []
    prompt: Which statement is right?
    answer: The right one.       # or a list of answers: the learner then picks all that apply
    distractors:
      - A wrong one.
      - Another wrong one.
    explanation: Why the right one is right.

  - id: {prefix}-order
    kind: order
    difficulty: easy
    sources: ["003:2"]
    prompt: Put the steps of one agent-environment interaction in order.
    steps:                       # in the correct order; the learner sees them shuffled
      - The agent observes the state.
      - The agent picks an action.
      - The environment returns a reward and the next state.
    explanation: Observe, act, then the environment answers.

  - id: {prefix}-predict
    kind: predict
    difficulty: easy
    sources: ["003:35"]
    prompt: 'Rewards {{{{rewards}}}} with $\\gamma = {{{{gamma}}}}$. What is the return $G_0$?'
    params:
      rewards: {{integers: [0, 3], size: 3}}
      gamma: {{choice: [0.5, 0.9]}}
    answer_from:
      call: algorithms.returns:discounted_return
      args: {{rewards: {{array: $rewards}}, gamma: $gamma}}
    explanation: Sum the rewards, each discounted by $\\gamma$ once per step.

  - id: {prefix}-explain
    kind: explain
    difficulty: medium
    sources: ["003:35"]
    prompt: Why discount future rewards?
    rubric:
      - point: the sum stays finite
        accept: [finite, bounded, converge*]
      - point: near rewards are more certain
        accept: [uncertain*, sooner, near*]
    model_answer: Discounting keeps infinite sums finite and weighs near, more certain rewards more.
    explanation: Two reasons, one mathematical and one practical.

  - id: {prefix}-bug
    kind: spot-the-bug
    difficulty: medium
    sources: ["003:35"]
    prompt: This function should return the discounted return $G_0$. Which line is wrong?
    snippet: |                   # write it yourself; the learner sees it with line numbers
      def discounted_return(rewards, gamma):
          g = 0.0
          for r in rewards:
              g = r + gamma * g
          return g
    bug_line: 3                  # 1-based, in the snippet
    fix:                         # a rubric, like explain's
      - point: the loop must walk the rewards backwards
        accept: [revers*, backward*]
    model_fix: '`for r in reversed(rewards):` so the first reward is discounted least.'
    explanation: Walking forwards discounts the first reward most.

  # A coding drill, graded in the sandbox on cases declared here (quizzes/README.md, "implement").
  # Try it: python -m app.grading check --question {function_id} --file my_solution.py
  - id: {function_id}          # an implement id is its function's name in kebab case
    kind: implement
    difficulty: easy
    sources: ["003:35"]
    prompt: Write `{function}(rewards, gamma)`, the discounted return $G_t$ from every step $t$.
    function: {function}
    signature: "{function}(rewards, gamma) -> np.ndarray"
    reference: algorithms.returns:discounted_returns   # computes every expected value
    starter: |                   # fails every case until the learner writes the function
      import numpy as np


      def {function}(rewards, gamma):
          raise NotImplementedError
    cases:
      returns: array             # array, int, float (one number) or tensor
      dims:
        T: {{choice: [5, 12]}}     # a dimension shared by every argument that names it
      args:                      # kind: float, int, bool, array (numpy), tensor (torch), list
        rewards: {{kind: array, shape: [T], uniform: [-2, 2]}}
        gamma: {{kind: float, choice: [0.9, 0.99]}}
      edge:                      # literal values, shown with the note when they fail first
        - note: a single step
          args: {{rewards: [1.0], gamma: 0.9}}
        - note: "gamma = 0: each return is its own reward"
          args: {{rewards: [1.0, -1.0, 2.0], gamma: 0.0}}
      random: 3                  # random cases drawn after the edge cases
      rtol: 1.0e-5               # the comparison: same type and shape, values within rtol/atol
      atol: 1.0e-6
    hints:
      - Walk backwards, carrying the running return.
    explanation: One backward pass, G_t = r_t + gamma G_(t+1).
"""
