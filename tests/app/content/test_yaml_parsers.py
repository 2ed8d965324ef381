"""libyaml's C parser under our bounded Python composer reads exactly what the Python loader reads.

The content loader reads every file with the fast loader first (about six times faster: the
first render of Home reads 28 lesson files) and falls back to the pure-Python reference loader on
any error, so messages are the reference loader's. These tests hold the two to the same result.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.content import yaml_source
from app.content.yaml_source import YamlSyntaxError, _BoundedLoader, _load_with, load_yaml

ROOT = Path(__file__).resolve().parents[3]
CONTENT = sorted([*ROOT.glob("lessons/*.yaml"), *ROOT.glob("quizzes/*.yaml")])
FAST = yaml_source._LOADERS[0]

pytestmark = pytest.mark.skipif(FAST is _BoundedLoader, reason="this PyYAML has no libyaml")


def outcome(loader: type, text: str) -> tuple[str, object, object]:
    try:
        data, source = _load_with(loader, text)
    except YamlSyntaxError as exc:
        return ("error", exc.line, None)
    return ("ok", data, source.lines)


@pytest.mark.parametrize("path", CONTENT, ids=lambda p: p.name)
def test_every_content_file_reads_the_same_with_both_parsers(path: Path) -> None:
    text = path.read_text()
    fast, reference = outcome(FAST, text), outcome(_BoundedLoader, text)
    assert fast[0] == "ok"
    assert fast == reference  # the data and the line of every value


HOSTILE = [
    "a: &x [*x]\n",  # an alias inside the value it names
    "[" * 60 + "]" * 60 + "\n",  # too deep
    "n: " + "9" * 150 + "\n",  # too long an integer
    "a: &a [1,2,3,4,5,6,7,8,9,10]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e]\n",  # a bomb
    "when: 2024-02-30\n",
    "a: 1\na: 2\n",
    "text: 'the agent's policy'\n",
    "bell: \x07\n",
    "key: value: other\n",
    "- a\nb: c\n",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_a_broken_or_hostile_file_gets_the_reference_loaders_error(text: str) -> None:
    with pytest.raises(YamlSyntaxError) as fast_path:
        load_yaml(text)
    with pytest.raises(YamlSyntaxError) as reference:
        _load_with(_BoundedLoader, text)
    assert (fast_path.value.line, fast_path.value.message) == (reference.value.line, reference.value.message)


YAMLISH = st.text(alphabet=st.sampled_from(list("ab:- \n'\"[]{},&*!#|>0123.\t%@`?\x07é")), max_size=60)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH)
def test_where_both_parsers_read_a_text_they_read_the_same(text: str) -> None:
    """libyaml is the parser of record: on corner cases it reads what PyYAML's Python parser refuses
    (a tab after a plain value, `>#`); where both read a text they read the same data and lines
    (the non-specific tag `!` included); what neither reads gets the reference loader's error."""
    fast, reference = outcome(FAST, text), outcome(_BoundedLoader, text)
    if fast[0] == "ok" and reference[0] == "ok":
        assert fast == reference
    if fast[0] == "ok":
        assert load_yaml(text)[0] == fast[1]
    elif reference[0] == "ok":
        assert load_yaml(text)[0] == reference[1]
    else:
        with pytest.raises(YamlSyntaxError) as raised:
            load_yaml(text)
        assert raised.value.line == reference[1]  # the reference loader's line (and message)
