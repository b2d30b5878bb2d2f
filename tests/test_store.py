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
    assert trials.loc["a", "pid"] == 7 and "config" not in trials.columns  # the process that ran it stays
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


def test_a_killed_recorder_loses_no_event_and_ignores_a_torn_last_line(tmp_path):
    uri = str(tmp_path / "k")
    rec = store.SweepRecorder(uri, {"v": 1}, "acc", "max", flush_every=3600)
    rec.open()
    rec.started("a", {"x": 1})  # the first event is written through; the rest only journalled
    rec.result("a", {"training_iteration": 1, "acc": 0.5})
    rec.result("a", {"training_iteration": 2, "acc": 0.6})
    rec.started("b", {"x": 2})
    rec.recovered("a", "worker died")
    rec.result("a", {"training_iteration": 2, "acc": 0.65})
    rec.ended("a", "TERMINATED")
    with open(tmp_path / "k" / store.JOURNAL, "a") as f:
        f.write('{"event": "result", "trial_id": "b", "res')  # the driver died mid-line
    # (no close: the driver was killed) the Parquet files are behind; the journal is not
    assert len(pd.read_parquet(tmp_path / "k" / "trials.parquet")) == 1
    trials, history = store.read_tables(uri, "acc", "max")
    trials = trials.set_index("trial_id")
    assert list(history["acc"]) == [0.5, 0.65] and list(history["training_iteration"]) == [1, 2]
    assert trials.loc["a", "status"] == "TERMINATED" and trials.loc["a", "restarts"] == 1
    assert trials.loc["a", "last_error"] == "worker died" and trials.loc["a", "best/acc"] == 0.65
    assert trials.loc["b", "status"] == "RUNNING" and trials.loc["b", "config/x"] == 2

    again = store.SweepRecorder(uri, {"v": 2}, "acc", "max")
    again.open()  # a resume: folds the journal into the Parquet and empties it
    assert again.finished() == {"a"}
    assert (tmp_path / "k" / store.JOURNAL).read_text() == ""
    assert len(pd.read_parquet(tmp_path / "k" / "history.parquet")) == 2
    assert again.reconcile({"a"}) == ["b"] and set(pd.read_parquet(tmp_path / "k" / "trials.parquet")["trial_id"]) == {"a"}


def test_summary_reads_the_store_and_names_the_chosen_config_with_its_test_apart(tmp_path):
    from sweeplab.analysis.summary import summarize

    rows = [
        {"trial_id": "a", "status": "TERMINATED", "preset": "tuned", "config/lr": 5e-4, "config/seed": 0,
         "best/val_mse": 0.25, "best_iteration": 4, "test_mse": 0.3, "iterations": 4, "error": None},
        {"trial_id": "b", "status": "TERMINATED", "preset": None, "config/lr": 1e-3, "config/seed": 0,
         "best/val_mse": 0.125, "best_iteration": 3, "test_mse": 0.2, "iterations": 4, "error": None},
        {"trial_id": "c", "status": "ERROR", "preset": None, "config/lr": 1e30, "config/seed": 0,
         "best/val_mse": None, "best_iteration": None, "test_mse": None, "iterations": 1,
         "error": "TrialDiverged: loss became nan"},
    ]
    history = [{"trial_id": t, "training_iteration": i, "val_mse": v, "time_total_s": float(i)}
               for t, values in (("a", [0.5, 0.4, 0.3, 0.25]), ("b", [0.5, 0.2, 0.125, 0.13]), ("c", [float("nan")]))
               for i, v in enumerate(values, 1)]
    store.write_frame(str(tmp_path / store.TRIALS), pd.DataFrame(rows))
    store.write_frame(str(tmp_path / store.HISTORY), pd.DataFrame(history))
    lines = []
    assert summarize(str(tmp_path), "val_mse", "min", echo=lines.append) == 0
    text = "\n".join(lines)
    assert "trials: 1 error, 2 terminated" in text
    table = lines[2].splitlines()
    assert table[0].split() == ["trial_id", "preset", "lr", "best/val_mse", "best_iteration", "iterations", "status"]
    assert [r.split()[0] for r in table[1:]] == ["b", "a"]
    assert "test" not in lines[2]  # the ranking shows validation only
    assert lines[-3].startswith("chosen: trial b (trial (run #2)): best val_mse = 0.125; no intervals")
    assert lines[-2] == "chosen config: lr=0.001, seed=0"
    assert lines[-1] == "held-out test of the chosen trial, on its epoch-3 weights (never used to choose): test_mse=0.2"

    store.write_frame(str(tmp_path / store.TRIALS), pd.DataFrame(rows[2:]))
    lines.clear()
    assert summarize(str(tmp_path), "val_mse", "min", echo=lines.append) == 1
    assert "  c: TrialDiverged: loss became nan" in lines


def test_checkpoint_pruner_deletes_only_what_no_saved_state_can_name(tmp_path):
    from types import SimpleNamespace

    import pyarrow.fs as pafs

    from sweeplab.recording import checkpoint_pruner

    fs = pafs.LocalFileSystem()
    pruner = checkpoint_pruner()
    trial = SimpleNamespace(trial_id="a")

    def checkpoint(i):
        path = tmp_path / f"checkpoint_{i:06d}"
        path.mkdir()
        pruner.on_checkpoint(0, [], trial, SimpleNamespace(path=str(path), filesystem=fs))

    def left():
        return sorted(int(p.name[-6:]) for p in tmp_path.iterdir())

    checkpoint(0)
    checkpoint(1)
    assert pruner.get_state() is None  # save 1 names checkpoint 1
    checkpoint(2)
    pruner.get_state()  # save 2 names 2; the state on storage may still be save 1's
    checkpoint(3)
    assert left() == [0, 1, 2, 3]
    pruner.get_state()  # save 3 begins: saves 1 and 2 are done, so nothing before 1 is needed
    assert left() == [1, 2, 3]
    checkpoint(4)
    pruner.get_state()  # save 4: save 2 named 2
    assert left() == [2, 3, 4]
    pruner.on_experiment_end([])  # the final state names each trial's newest
    assert left() == [4]
