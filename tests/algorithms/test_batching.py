"""least_padding_batches: the cheapest cut of rows sorted by length into passes."""

from __future__ import annotations

import itertools
import random

import pytest

from algorithms.batching import least_padding_batches


def cost(groups: list[list[int]], lengths: list[int], call_cost: float) -> float:
    return sum(call_cost + len(g) * max(lengths[i] for i in g) for g in groups)


def cheapest(lengths: list[int], call_cost: float) -> float:
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return min(
        cost([order[a:b] for a, b in itertools.pairwise((0, *cuts, len(order)))], lengths, call_cost)
        for k in range(len(order))
        for cuts in itertools.combinations(range(1, len(order)), k)
    )


@pytest.mark.parametrize("seed", range(30))
def test_the_cut_is_the_cheapest_of_all_cuts(seed: int) -> None:
    rng = random.Random(seed)
    lengths = [rng.choice([rng.randint(2, 40), 7, 7, 12]) for _ in range(rng.randint(1, 10))]  # with ties
    call_cost = rng.choice([0, 5, 45, 120])
    groups = least_padding_batches(lengths, call_cost)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert cost(groups, lengths, call_cost) == cheapest(lengths, call_cost)


def test_rows_of_one_length_stay_in_one_pass_and_extremes_split() -> None:
    assert least_padding_batches([5] * 6, call_cost=1) == [list(range(6))]
    # one long row among many short ones: alone, when a pass costs less than padding the rest
    groups = least_padding_batches([4] * 50 + [30], call_cost=20)
    assert groups == [list(range(50)), [50]]
    assert least_padding_batches([4] * 50 + [30], call_cost=10_000) == [list(range(51))]
    assert least_padding_batches([], call_cost=3) == []


def test_no_pass_is_larger_than_most() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(1, 30) for _ in range(1000)]
    groups = least_padding_batches(lengths, call_cost=100, most=64)
    assert max(map(len, groups)) <= 64
    assert sorted(i for g in groups for i in g) == list(range(1000))
    assert cost(groups, lengths, 100) < 100 + 1000 * 30  # cheaper than one padded pass
