"""The results store, from known events to exact tables."""
from __future__ import annotations

import json

import pandas as pd

from sweeplab import store


def test_recorder_writes_exact_trials_and_history(tmp_path):
    uri = str(tmp_path / "sweep")
    rec = store.SweepRecorder(uri, {"experiment": "freq"}, "val_mse", "min",
                              presets={"tuned": {"lr": 5e-4, "hidden_size": 64}}, flush_every=0)
    rec.open()
    rec.started("a", {"lr": 5e-4, "hidden_size": 64, "frequencies": (1.0, 3.0)})
    rec.started("b", {"lr": 1e-3, "hidden_size": 32, "frequencies": (1.0, 3.0)})
    for it, (va, vb) in enumerate([(0.5, 0.4), (0.3, 0.45), (0.35, float("nan"))], start=1):
        rec.result("a", {"training_iteration": it, "val_mse": va, "time_total_s": it * 1.0, "pid": 7, "config": {}})
        rec.result("b", {"training_iteration": it, "val_mse": vb, "time_total_s": it * 2.0})
    rec.ended("a", "TERMINATED")
    rec.ended("b", "ERROR", "TrialDiverged: loss became nan")
    rec.close({"a": "TERMINATED", "b": "ERROR"})

    trials = pd.read_parquet(tmp_path / "sweep" / "trials.parquet").set_index("trial_id")
    assert trials.loc["a", "preset"] == "tuned" and pd.isna(trials.loc["b", "preset"])
    assert trials.loc["a", "best/val_mse"] == 0.3 and trials.loc["a", "best_iteration"] == 2
    assert trials.loc["b", "best/val_mse"] == 0.4 and trials.loc["b", "best_iteration"] == 1
    assert trials.loc["a", "val_mse"] == 0.35 and trials.loc["a", "iterations"] == 3
    assert trials.loc["b", "wall_time_s"] == 6.0 and trials.loc["b", "error"] == "TrialDiverged: loss became nan"
    assert trials.loc["a", "config/frequencies"] == "[1.0, 3.0]"
    assert "pid" not in trials.columns and "config" not in trials.columns
    history = pd.read_parquet(tmp_path / "sweep" / "history.parquet")
    assert len(history) == 6 and list(history.loc[history.trial_id == "a", "val_mse"]) == [0.5, 0.3, 0.35]
    assert json.loads((tmp_path / "sweep" / "sweep.json").read_text()) == {"experiment": "freq"}


def test_reopened_recorder_keeps_rows_and_replaces_replayed_iterations(tmp_path):
    uri = str(tmp_path / "s")
    rec = store.SweepRecorder(uri, {"v": 1}, "acc", "max", flush_every=0)
    rec.open()
    rec.started("a", {"x": 1})
    rec.result("a", {"training_iteration": 1, "acc": 0.5})
    rec.result("a", {"training_iteration": 2, "acc": 0.6})
    rec.close({"a": "TERMINATED"})  # interrupted: never completed
    assert pd.read_parquet(tmp_path / "s" / "trials.parquet").loc[0, "status"] == "INTERRUPTED"

    again = store.SweepRecorder(uri, {"v": 2}, "acc", "max", flush_every=0)
    again.open()
    again.started("a", {"x": 1})
    again.result("a", {"training_iteration": 2, "acc": 0.7})  # restored from epoch 1's checkpoint
    again.ended("a", "TERMINATED")
    history = pd.read_parquet(tmp_path / "s" / "history.parquet")
    assert list(history["acc"]) == [0.5, 0.7]
    trials = pd.read_parquet(tmp_path / "s" / "trials.parquet")
    assert trials.loc[0, "status"] == "TERMINATED" and trials.loc[0, "best/acc"] == 0.7
    assert json.loads((tmp_path / "s" / "sweep.json").read_text()) == {"v": 1}  # written once


def test_summary_reads_the_store_and_names_the_best_config(tmp_path):
    from sweeplab.analysis.summary import summarize

    rows = [
        {"trial_id": "a", "status": "TERMINATED", "preset": "tuned", "config/lr": 5e-4, "config/seed": 0,
         "best/val_mse": 0.25, "test_mse": 0.3, "iterations": 4, "error": None},
        {"trial_id": "b", "status": "TERMINATED", "preset": None, "config/lr": 1e-3, "config/seed": 0,
         "best/val_mse": 0.125, "test_mse": 0.2, "iterations": 4, "error": None},
        {"trial_id": "c", "status": "ERROR", "preset": None, "config/lr": 1e30, "config/seed": 0,
         "best/val_mse": None, "test_mse": None, "iterations": 1, "error": "TrialDiverged: loss became nan"},
    ]
    store.write_frame(str(tmp_path / store.TRIALS), pd.DataFrame(rows))
    lines = []
    assert summarize(str(tmp_path), "val_mse", "min", echo=lines.append) == 0
    text = "\n".join(lines)
    assert "trials: 1 error, 2 terminated" in text
    table = lines[2].splitlines()
    assert table[0].split() == ["trial_id", "preset", "lr", "best/val_mse", "test_mse", "iterations", "status"]
    assert [r.split()[0] for r in table[1:]] == ["b", "a"]
    assert lines[-2] == "best val_mse = 0.125 (trial b)"
    assert lines[-1] == "best config: lr=0.001, seed=0"

    store.write_frame(str(tmp_path / store.TRIALS), pd.DataFrame(rows[2:]))
    lines.clear()
    assert summarize(str(tmp_path), "val_mse", "min", echo=lines.append) == 1
    assert "  c: TrialDiverged: loss became nan" in lines
