"""Pareto fronts, crowding, constraints and hypervolume (search/pareto.py) on known inputs."""

from __future__ import annotations

import math

import pytest

from sweeplab.search import pareto


def test_fronts_sort_points_by_domination_and_put_nan_last():
    points = [(1, 3), (2, 2), (3, 1), (1, 1), (2, 1), (0, 0), (math.nan, 5)]
    assert pareto.fronts(points) == [[0, 1, 2], [4], [3], [5], [6]]  # (2, 1) dominates (1, 1)


def test_crowding_keeps_the_extremes_and_measures_the_gap_between_neighbours():
    points = [(0, 4), (1, 3), (3, 1), (4, 0)]
    d = pareto.crowding(points, [0, 1, 2, 3])
    assert d[0] == d[3] == math.inf
    assert d[1] == pytest.approx((3 - 0) / 4 + (4 - 1) / 4) and d[2] == pytest.approx((4 - 1) / 4 + (3 - 0) / 4)


def test_rank_puts_constraint_breakers_after_every_keeper_then_fronts_then_spread():
    points = [(5, 5), (1, 4), (2, 3), (3, 2), (0, 0)]
    violations = [0.5, 0, 0, 0, 0]  # the best point breaks a constraint
    order = pareto.rank(points, violations)
    assert order[-1] == 0 and order[-2] == 4  # the breaker last, below even the worst keeper
    assert set(order[:3]) == {1, 2, 3} and order[2] == 2  # the middle of the front is the most crowded
    assert pareto.scores(points, violations) == [1.0, 5.0, 3.0, 4.0, 2.0]


@pytest.mark.parametrize(
    "points, reference, volume",
    [
        ([(1, 3), (2, 2), (3, 1)], (0, 0), 6.0),
        ([(1, 3), (2, 2), (3, 1), (1, 1)], (0, 0), 6.0),  # a dominated point adds nothing
        ([(1, 3), (-1, 9)], (0, 0), 3.0),  # not above the reference on every axis: nothing
        ([(1, 1, 1)], (0, 0, 0), 1.0),
        ([(2, 1, 1), (1, 2, 1)], (0, 0, 0), 3.0),
        ([(2, 2, 1), (1, 1, 2)], (0, 0, 0), 5.0),
    ],
)
def test_hypervolume_is_exact(points, reference, volume):
    assert pareto.hypervolume(points, reference) == pytest.approx(volume)


@pytest.mark.parametrize(
    "text, kept, broken",
    [
        ("epoch_seconds <= 2.0", {"epoch_seconds": 2.0}, {"epoch_seconds": 2.5}),
        ("params<200000", {"params": 199999}, {"params": 200000}),
        ("val_accuracy >= 0.9", {"val_accuracy": 0.95}, {"val_accuracy": math.nan}),
    ],
)
def test_constraints_parse_and_measure_how_far_a_value_is_past_them(text, kept, broken):
    c = pareto.parse_constraint(text)
    assert pareto.violation(kept, [c]) == 0 and pareto.violation(broken, [c]) > 0
    assert pareto.violation({}, [c]) == math.inf


@pytest.mark.parametrize("text", ["epoch_seconds = 2", "<= 2", "epoch_seconds <= fast", "a <= 1 extra", 3])
def test_a_malformed_constraint_is_refused(text):
    with pytest.raises(ValueError, match="expected 'METRIC <= NUMBER'"):
        pareto.parse_constraint(text)
