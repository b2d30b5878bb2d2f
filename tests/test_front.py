"""Pictures and marks of a sweep of several objectives (issue 31, item 3): the observed
front's hypervolume as the sweep went on, on known rows with exact numbers; the front
points another one statistically dominates; and the report's two pictures."""

from __future__ import annotations

import dataclasses
import re

import pandas as pd
import pytest
from analysis_fixtures import mo_predictions_sweep, mo_sweep

from sweeplab.analysis import front, front_plots, load, select
from sweeplab.cli import main

# MO_ROWS scaled from the reference (val_loss 0.86, cost 5.4: the worst of the rows that keep
# cost <= 6, widened by 10 % of the range) to the ideal (0.2, 1): a row's point is
# ((0.86 - loss) / 0.66, (5.4 - cost) / 4.4). "c" breaks the constraint, then reports a NaN:
# the volume stays where it was on both of its rows.
HYPERVOLUMES = [1 / 11, 31 / 121, 31 / 121, 203 / 363, 203 / 363, 71 / 121]


@pytest.mark.parametrize("flip", [False, True])
def test_the_hypervolume_curve_of_known_rows(tmp_path, flip):
    sweep = load.load_sweep(str(mo_sweep(tmp_path / "mo", flip=flip)))
    curve = front.hypervolume_curve(sweep)
    assert list(curve.columns) == ["epochs", "seconds", "hypervolume"]
    assert curve["epochs"].tolist() == [1, 2, 3, 4, 5, 6]
    assert curve["seconds"].tolist() == [10.0, 20.0, 25.0, 30.0, 35.0, 40.0]  # from sweep.json's start
    assert curve["hypervolume"].tolist() == pytest.approx(HYPERVOLUMES, abs=1e-12)
    first = "val_accuracy" if flip else "val_loss"
    assert curve.attrs["reference"] == pytest.approx({first: 0.14 if flip else 0.86, "cost": 5.4})
    assert curve.attrs["ideal"] == pytest.approx({first: 0.8 if flip else 0.2, "cost": 1.0})
    assert curve.attrs["seconds"] == "wall-clock seconds since the sweep started"
    assert front.reference_text(curve) == (
        f"reference point {first} {'0.140' if flip else '0.860'}, cost 5.4 "
        "(the worst value reached, widened by 10% of the range); 1 = the ideal point"
    )


def test_without_timestamps_the_curve_counts_trial_seconds_and_a_constant_third_objective_changes_nothing(tmp_path):
    folder = mo_sweep(tmp_path / "mo", timestamps=False)
    sweep = load.load_sweep(str(folder))
    curve = front.hypervolume_curve(sweep)
    # each row's own seconds (time_total_s less the trial's previous row), summed in report order
    assert curve["seconds"].tolist() == [10.0, 30.0, 55.0, 75.0, 85.0, 105.0]
    assert curve.attrs["seconds"].startswith("trial-seconds spent")
    history = pd.read_parquet(folder / "history.parquet").assign(size=3.0)
    history.to_parquet(folder / "history.parquet", index=False)
    sweep = load.load_sweep(str(folder))
    sweep.record = dataclasses.replace(sweep.record, objectives={**sweep.record.objectives, "size": "min"})
    assert front.hypervolume_curve(sweep)["hypervolume"].tolist() == pytest.approx(HYPERVOLUMES, abs=1e-12)
    drawn = front_plots.front_scatter(sweep, tmp_path / "front3.png", "b")  # the third objective as colour
    assert drawn is not None and drawn.read_bytes().startswith(b"\x89PNG")


def test_a_front_point_tied_on_the_first_objective_and_slower_is_statistically_dominated(tmp_path):
    sweep = load.load_sweep(str(mo_predictions_sweep(tmp_path / "p")))
    table = front.points(sweep, select.candidates(sweep))
    assert sorted(table.index[table["front"] == 0]) == ["a", "b", "c"]
    marks = front.dominated(sweep, table)
    assert marks.judged and marks.by == {"a": ["b"]} and marks.unjudged == []
    shown = front.front_table(sweep, select.candidates(sweep))
    assert shown.headers[-1] == "Statistically dominated"
    assert {r[1]: r[-1] for r in shown.rows} == {"a": "yes, by GRU (original) (trial b)", "b": "no", "c": "no"}
    assert (
        "beyond noise: paired bootstrap 95 % intervals of val_macro_f1; epoch_seconds compared as reported"
        in shown.note
    )


def test_without_predictions_nothing_is_marked_and_the_table_says_why(tmp_path):
    sweep = load.load_sweep(str(mo_sweep(tmp_path / "mo")))
    shown = front.front_table(sweep, select.candidates(sweep))
    assert "Statistically dominated" not in shown.headers
    assert shown.note.endswith(
        "No front point is marked statistically dominated: the sweep stored no predictions to bootstrap."
    )


def test_the_report_draws_the_front_and_the_hypervolume_of_a_sweep_of_several_objectives(tmp_path):
    folder = mo_predictions_sweep(tmp_path / "p")
    assert main(["report", str(folder), "--out", str(tmp_path / "report")]) == 0
    images = tmp_path / "report" / "images"
    for name in ("gru_predictions-front.png", "gru_predictions-hypervolume.png"):
        assert (images / name).read_bytes().startswith(b"\x89PNG"), name
    text = (tmp_path / "report" / "REPORT.md").read_text()
    assert "![Pareto front: every trial at its best epoch, the front joined, constraint breakers crossed" in text
    assert "hypervolume of the observed front against epochs trained and seconds; reference point val_macro_f1" in text
    assert re.search(r"\| Statistically dominated +\|", text) and "yes, by GRU (original) (trial b)" in text


def test_every_objective_that_is_a_statistic_of_the_predictions_shows_its_interval(tmp_path):
    folder = mo_predictions_sweep(tmp_path / "p")
    sweep = load.load_sweep(str(folder))
    table = front.front_table(sweep, select.candidates(sweep))
    assert all("[" in row[2] and "[" not in row[3] for row in table.rows)  # F1 bootstrapped, seconds as reported
    sweep.record = dataclasses.replace(sweep.record, objectives={"val_macro_f1": "max", "val_accuracy": "max"})
    table = front.front_table(sweep, select.candidates(sweep))
    assert table.headers[2:4] == ["val_macro_f1 (max)", "val_accuracy (max)"]
    assert all("[" in row[2] and "[" in row[3] for row in table.rows)
