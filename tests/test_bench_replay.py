"""The search replay's own arithmetic (bench/_sq_sim.py, bench/search_replay.py), on curves
written here: which config a simulated search hands its user, and what that config is
worth trained again with the other seeds."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import search_replay  # noqa: E402
from _sq_sim import simulate  # noqa: E402

GRID = {"width": [1, 2, 3]}
# three configs x 4 epochs of val loss (minimised), per recorded seed; seed "a": width 2 is
# best (0.2 at epoch 3), seed "b": width 3 (0.1), seed "c": width 2 (0.3)
RAW = {
    "a": [[0.9, 0.8, 0.7, 0.6], [0.9, 0.5, 0.2, 0.4], [0.8, 0.7, 0.6, 0.5]],
    "b": [[0.9, 0.9, 0.9, 0.9], [0.6, 0.5, 0.4, 0.4], [0.5, 0.3, 0.2, 0.1]],
    "c": [[0.7, 0.7, 0.6, 0.6], [0.8, 0.6, 0.4, 0.3], [0.9, 0.8, 0.8, 0.8]],
}


def curves() -> search_replay.Curves:
    data = {
        "mode": "min",
        "epochs": 4,
        "grid": GRID,
        "seeds": {
            s: [{"config": {"width": w}, "values": v} for w, v in zip(GRID["width"], rows)] for s, rows in RAW.items()
        },
    }
    return search_replay.Curves(data, -1.0, {s: -np.array(rows) for s, rows in RAW.items()})


def test_the_search_hands_its_user_the_config_of_the_best_value_it_saw():
    c = curves()
    index = {row["config"]["width"]: i for i, row in enumerate(c.data["seeds"]["a"])}
    run = simulate(
        search_replay.GridRandom(0, GRID, 4),
        lambda config: c.grids["a"][index[config["width"]]],
        budget=13,
        workers=2,
        max_epochs=4,
    )
    assert run.epochs_used == 12 and run.full_trials == 3 and run.curve[-1] == pytest.approx(-0.2)
    assert run.chosen == {"width": 2}


def test_a_config_retrained_is_worth_its_mean_best_on_the_other_seeds_against_the_best_such_mean():
    again = curves().retrained("a")
    # the other seeds b, c: best values width 1: 0.9, 0.6 (mean 0.75); width 2: 0.4, 0.3 (0.35);
    # width 3: 0.1, 0.8 (0.45). Minimised: the ratio is best / value
    assert again == pytest.approx([0.35 / 0.75, 1.0, 0.35 / 0.45])
    assert curves().retrained("b") == pytest.approx([0.25 / 0.6, 1.0, 0.25 / 0.65])


def test_a_recorded_search_gives_what_warm_start_reads_each_config_and_its_values_by_epoch():
    from _sq_sim import Recorded

    c = curves()
    recorded = Recorded(search_replay.GridRandom(0, GRID, 4))
    simulate(recorded, c.curve_of("b"), budget=7, workers=2, max_epochs=4)
    # two workers in lockstep: two configs to epoch 3, then one on to epoch 4 as the budget ends
    prior = recorded.prior()
    assert [len(scores) for _, scores in prior] == [3, 3]  # the 7th epoch is spent, not reported
    for config, scores in prior:
        assert scores == {e: pytest.approx(-RAW["b"][config["width"] - 1][e - 1]) for e in (1, 2, 3)}


def test_a_warm_started_replay_pairs_each_run_with_the_cold_one_of_the_same_seeds():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    figures = search_replay.warm_start(curves(), search_seeds=2, share=0.5)
    cold = search_replay.replay("toy", curves(), search_seeds=2, share=0.5)["methods"]["sweeplab"]
    assert figures["cold"]["runs"] == 3 * 2 and figures["warm"]["runs"] == 3 * 2 * 2  # x the 2 other seeds
    assert figures["cold"]["mean_ratio"] == pytest.approx(cold["mean_ratio"])  # the same default, the same seeds
    assert figures["cold"]["retrained"] == pytest.approx(cold["retrained"])
