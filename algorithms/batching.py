"""Rows of different lengths split into forward passes at the least cost: padding against calls.

A batch of sequences is as wide as its longest row, so one long row makes every short row in its
batch pay for padding; many small batches pay each pass's fixed cost (on a CPU, reading every weight
again) instead. `least_padding_batches` finds the cheapest cut of the rows sorted by length, for a
cost of `call_cost + rows x longest row` per pass, by a small dynamic program. The sentence encoder
of the explain grader and the small language model's log-probabilities both use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def least_padding_batches(lengths: Sequence[int], call_cost: float, most: int | None = None) -> list[list[int]]:
    """Indices of the rows, grouped into passes; each pass holds rows of neighbouring lengths, and the
    total of `call_cost + len(pass) * max length in it` is the least over every way to cut the rows,
    sorted by length, into consecutive passes. `most`: the largest pass (a bigger group is cut into
    passes of `most` rows, each costed at the group's longest row).

    Cuts fall only between different lengths (moving equal rows into one pass never costs more), so
    the program runs over the distinct lengths: a few dozen for a batch of text, whatever its size."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n = len(order)
    bounds = [0, *(k for k in range(1, n) if lengths[order[k]] != lengths[order[k - 1]]), n] if n else [0]
    m = len(bounds) - 1
    best = [0.0] + [math.inf] * m  # best[j]: the cheapest cost of the rows before bounds[j]
    cut = [0] * (m + 1)
    for j in range(1, m + 1):
        longest = lengths[order[bounds[j] - 1]]
        for i in range(j):
            rows = bounds[j] - bounds[i]
            passes = math.ceil(rows / most) if most else 1
            cost = best[i] + passes * call_cost + rows * longest
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], m
    while j > 0:
        rows = order[bounds[cut[j]] : bounds[j]]
        step = most or len(rows)
        groups += [rows[k : k + step] for k in range(0, len(rows), step)][::-1]
        j = cut[j]
    return groups[::-1]
