"""The search-quality bench with two objectives (bench/_sq_mo.py): the event loop hands a
method each epoch's values as a tuple and keeps every point in the order spent; the
hypervolume is normalised per task as documented; the multi-objective methods run to the
budget on a synthetic surrogate (no LCBench needed); bad --objectives is one line, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import _sq_mo  # noqa: E402
from _sq_lcbench import MAX_EPOCHS, sample  # noqa: E402
from _sq_sim import CONTINUE, STOP, simulate  # noqa: E402


class Twice:
    """Two trials of 3 epochs, one after the other; writes down what it was told."""

    def __init__(self):
        self.keys, self.told = ["a", "b"], []

    def next(self):
        return (self.keys[0], {"key": self.keys.pop(0)}) if self.keys else None

    def report(self, key, epoch, value):
        self.told.append((key, epoch, value))
        return STOP if epoch >= 3 else CONTINUE


def test_several_columns_reach_the_method_as_tuples_and_every_point_is_kept_in_the_order_spent():
    table = {"a": [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]], "b": [[4.0, 1.0], [5.0, 2.0], [6.0, 3.0]]}
    method = Twice()
    run = simulate(method, lambda c: np.array(table[c["key"]]), budget=5, workers=1, max_epochs=3)
    assert method.told[:4] == [
        ("a", 1, (1.0, 10.0)),
        ("a", 2, (2.0, 20.0)),
        ("a", 3, (3.0, 30.0)),
        ("b", 1, (4.0, 1.0)),
    ]
    assert run.points.tolist() == [[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 1.0], [5.0, 2.0]]
    assert run.epochs_used == 5 and np.isnan(run.curve).all()  # no single best with two objectives


REF = {"best": 100.0, "worst": 0.0}


@pytest.mark.parametrize(
    "points, expected",
    [
        ([[100.0, 0.0]], 1.0),  # the best known at no cost: the whole box
        ([[50.0, 5.0]], 0.25),  # regret 0.5, half of T90
        ([[50.0, 5.0], [75.0, 8.0]], 0.30),  # 0.25 + 0.15 - their overlap 0.10
        ([[50.0, 5.0], [40.0, 6.0]], 0.25),  # a dominated point adds nothing
        ([[120.0, 5.0]], 0.5),  # past the best known: regret 0, not below
        ([[0.0, 1.0], [90.0, 10.0], [90.0, 12.0]], 0.0),  # on or past the reference point: nothing
    ],
)
def test_the_hypervolume_is_the_area_dominated_in_the_unit_box_of_regret_and_time_over_t90(points, expected):
    norm = _sq_mo.normalised(np.array(points), REF, t90=10.0)
    assert _sq_mo.hypervolume(norm) == pytest.approx(expected)


def test_the_hypervolume_curve_never_falls_and_a_run_that_stopped_keeps_its_last_front():
    norm = _sq_mo.normalised(np.array([[50.0, 5.0], [40.0, 6.0], [75.0, 8.0]]), REF, t90=10.0)
    assert _sq_mo.hypervolume_curve(norm, instants=[1, 2, 3, 5]) == pytest.approx([0.25, 0.25, 0.30, 0.30])


def oracle(config: dict) -> np.ndarray:
    """A smooth synthetic surrogate over LCBench's space: accuracy rises with epochs towards
    a ceiling set by the learning rate; a larger batch trains faster per epoch."""
    ceiling = 95.0 - 30.0 * abs(np.log10(config["learning_rate"]) + 2.0)
    epochs = np.arange(1, MAX_EPOCHS + 1)
    accuracy = ceiling * (1.0 - np.exp(-epochs / (3.0 + 10.0 * config["max_dropout"])))
    seconds = np.cumsum(np.full(MAX_EPOCHS, 64.0 / config["batch_size"] + 0.01 * config["num_layers"]))
    return np.column_stack([accuracy, seconds])


@pytest.mark.parametrize("name", [n for n in _sq_mo.METHODS if n not in _sq_mo.EXTRA])
def test_every_multi_objective_method_spends_the_budget_and_reports_points(name):
    import _sq_methods as sqm

    if name.startswith("synetune"):  # a peer from the bench extra, which the README's test run does not install
        pytest.importorskip("syne_tune")

    budget = 8 * MAX_EPOCHS
    sqm.BUDGET, sqm.WORKERS, sqm.CHECKPOINT = budget, 2, True
    sqm.seed_globals(0)
    run = simulate(_sq_mo.METHODS[name](0), oracle, budget, 2, MAX_EPOCHS)
    assert run.epochs_used == budget and run.points.shape == (budget, 2)
    norm = _sq_mo.normalised(
        run.points, {"best": 95.0, "worst": 0.0}, t90=float(oracle(sample(np.random.default_rng(0)))[-1, 1])
    )
    assert 0.0 < _sq_mo.hypervolume(norm) < 1.0
    if name in ("sweeplab", "synetune_moasha", "optuna_motpe_pruned"):  # they cut or pause trials: more of them
        assert run.trials > 8 and run.full_trials < run.trials


def test_the_pruned_motpe_tells_both_studies_the_same_pruned_trials():
    import _sq_methods as sqm

    method = _sq_mo.optuna_motpe_pruned(0)
    sqm.seed_globals(0)
    simulate(method, oracle, 6 * MAX_EPOCHS, 2, MAX_EPOCHS)
    states = [t.state.name for t in method.study.trials]
    twin_states = [t.state.name for t in method.twin.trials]
    assert "PRUNED" in states and states[: len(twin_states)] == twin_states[: len(states)]


@pytest.mark.parametrize(
    "argv, culprit",
    [
        (["lcbench", "--objectives", "val_accuracy"], "--objectives 'val_accuracy'"),
        (
            ["lcbench", "--objectives", "val_accuracy,time", "--clock", "wall"],
            "--objectives: lcbench on the epoch clock",
        ),
        (["freq", "--objectives", "val_accuracy,time"], "--objectives: lcbench"),
    ],
)
def test_bad_objectives_are_one_line_and_exit_2(argv, culprit):
    done = subprocess.run([sys.executable, str(BENCH / "search_quality.py"), *argv], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and culprit in done.stderr
