"""The results store, from known events to exact tables."""

from __future__ import annotations

import errno
import json
import os
import pickle
import re

import pandas as pd
import pytest

from sweeplab import files, record, store
from sweeplab.storage_checks import check_ray_state
from sweeplab.errors import UserError
from sweeplab.record import SweepRecord


def test_recorder_writes_exact_trials_and_history(tmp_path):
    uri = str(tmp_path / "sweep")
    rec = store.SweepRecorder(
        uri,
        SweepRecord(experiment="freq"),
        "val_mse",
        "min",
        presets={"tuned": {"lr": 5e-4, "hidden_size": 64}},
        flush_every=0,
    )
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
    assert record.read(str(tmp_path / "sweep")).experiment == "freq"


def test_reopened_recorder_keeps_rows_and_replaces_replayed_iterations(tmp_path):
    uri = str(tmp_path / "s")
    rec = store.SweepRecorder(uri, SweepRecord(), "acc", "max", flush_every=0)
    rec.open()
    rec.started("a", {"x": 1})
    rec.result("a", {"training_iteration": 1, "acc": 0.5})
    rec.result("a", {"training_iteration": 2, "acc": 0.6})
    rec.close({"a": "TERMINATED"})  # interrupted: never completed
    assert pd.read_parquet(tmp_path / "s" / "trials.parquet").loc[0, "status"] == "INTERRUPTED"

    again = store.SweepRecorder(uri, SweepRecord(name="again"), "acc", "max", flush_every=0)
    again.open()
    again.started("a", {"x": 1})
    again.result("a", {"training_iteration": 2, "acc": 0.7})  # restored from epoch 1's checkpoint
    again.ended("a", "TERMINATED")
    history = pd.read_parquet(tmp_path / "s" / "history.parquet")
    assert list(history["acc"]) == [0.5, 0.7]
    trials = pd.read_parquet(tmp_path / "s" / "trials.parquet")
    assert trials.loc[0, "status"] == "TERMINATED" and trials.loc[0, "best/acc"] == 0.7
    assert json.loads((tmp_path / "s" / "sweep.json").read_text())["name"] is None  # written once: not "again"


def test_a_killed_recorder_loses_no_event_and_ignores_a_torn_last_line(tmp_path):
    uri = str(tmp_path / "k")
    rec = store.SweepRecorder(uri, SweepRecord(), "acc", "max", flush_every=3600)
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

    again = store.SweepRecorder(uri, SweepRecord(name="again"), "acc", "max")
    again.open()  # a resume: folds the journal into the Parquet and empties it
    assert again.finished() == {"a"}
    assert (tmp_path / "k" / store.JOURNAL).read_text() == ""
    assert len(pd.read_parquet(tmp_path / "k" / "history.parquet")) == 2
    assert again.reconcile({"a"}) == ["b"] and set(pd.read_parquet(tmp_path / "k" / "trials.parquet")["trial_id"]) == {
        "a"
    }


def test_summary_reads_the_store_and_names_the_chosen_config_with_its_test_apart(tmp_path):
    from sweeplab.analysis.summary import summarize

    rows = [
        {
            "trial_id": "a",
            "status": "TERMINATED",
            "preset": "tuned",
            "config/lr": 5e-4,
            "config/seed": 0,
            "best/val_mse": 0.25,
            "best_iteration": 4,
            "test_mse": 0.3,
            "iterations": 4,
            "error": None,
        },
        {
            "trial_id": "b",
            "status": "TERMINATED",
            "preset": None,
            "config/lr": 1e-3,
            "config/seed": 0,
            "best/val_mse": 0.125,
            "best_iteration": 3,
            "test_mse": 0.2,
            "iterations": 4,
            "error": None,
        },
        {
            "trial_id": "c",
            "status": "ERROR",
            "preset": None,
            "config/lr": 1e30,
            "config/seed": 0,
            "best/val_mse": None,
            "best_iteration": None,
            "test_mse": None,
            "iterations": 1,
            "error": "TrialDiverged: loss became nan",
        },
    ]
    history = [
        {"trial_id": t, "training_iteration": i, "val_mse": v, "time_total_s": float(i)}
        for t, values in (("a", [0.5, 0.4, 0.3, 0.25]), ("b", [0.5, 0.2, 0.125, 0.13]), ("c", [float("nan")]))
        for i, v in enumerate(values, 1)
    ]
    store.write_frame(str(tmp_path / store.TRIALS), pd.DataFrame(rows))
    store.write_frame(str(tmp_path / store.HISTORY), pd.DataFrame(history))
    lines = []
    assert summarize(str(tmp_path), "val_mse", "min", echo=lines.append) == 0
    text = "\n".join(lines)
    assert "trials: 1 error, 2 terminated" in text
    table = lines[2].splitlines()
    assert table[0].split() == ["trial_id", "preset", "lr", "best/val_mse", "best_iteration", "iterations", "status"]
    assert [r.split()[0] for r in table[1:]] == ["b", "a"]
    assert table[1].split() == ["b", "-", "0.0010", "0.125", "3", "4", "TERMINATED"]  # epochs whole, not 3.0
    assert "test" not in lines[2]  # the ranking shows validation only
    assert lines[-4].startswith("chosen: run #2 (trial b): val_mse 0.125, the best; no intervals")
    assert lines[-3] == "chosen config: lr=0.001, seed=0"
    assert lines[-2] == "held-out test of the chosen trial, on its epoch-3 weights (never used to choose): test_mse=0.2"
    assert lines[-1] == (
        f"next: sweeplab analyze {tmp_path} | sweeplab best {tmp_path} --out best.yaml | "
        f"sweeplab report {tmp_path} | sweeplab dashboard {tmp_path.parent}"
    )

    store.write_frame(str(tmp_path / store.TRIALS), pd.DataFrame(rows[2:]))
    lines.clear()
    assert summarize(str(tmp_path), "val_mse", "min", echo=lines.append) == 1
    assert "  c: TrialDiverged: loss became nan" in lines


def test_checkpoint_pruner_deletes_only_what_no_saved_state_can_name(tmp_path):
    from types import SimpleNamespace

    import pyarrow.fs as pafs

    from sweeplab.recording import CheckpointPruner

    fs = pafs.LocalFileSystem()
    pruner = CheckpointPruner()
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


# --- any report, any damage ---------------------------------------------------------------


def test_any_report_is_stored_and_read_back_and_the_journal_replays_it(tmp_path):
    """A string where a column held numbers, an int past 64 bits, nested values, None, bytes:
    the Parquet write neither raises (in a Tune callback it would end the sweep) nor loses them."""
    import numpy as np

    uri = str(tmp_path / "s")
    rec = store.SweepRecorder(uri, SweepRecord(), "val_loss", "min", flush_every=0)
    rec.open()
    rec.started("a", {"units": 32, "act": None})
    rec.started("b", {"units": "auto", "act": {"name": "relu"}})
    rec.result("a", {"training_iteration": 1, "val_loss": 0.5, "big": 1, "blob": None, "raw": None})
    rec.result(
        "b",
        {
            "training_iteration": 1,
            "val_loss": "diverged",
            "big": 2**64 + 1,
            "blob": {"k": [1, 2], (1, 2): "tuple key"},
            "raw": b"\xff\x00ok",
            "arr": np.arange(3),
        },
    )
    rec.close({"a": "TERMINATED", "b": "TERMINATED"})

    expected = {
        "config/units": [32, "auto"],
        "config/act": [None, '{"name": "relu"}'],
        "val_loss": [0.5, "diverged"],
        "big": [1, 2**64 + 1],
        "blob": [None, "{'k': [1, 2], (1, 2): 'tuple key'}"],
        "raw": [None, "\\xff\x00ok"],
        "arr": [None, "[0, 1, 2]"],
    }

    def check(trials):
        trials = trials.set_index("trial_id").loc[["a", "b"]]
        assert {c: [None if pd.isna(v) else v for v in trials[c]] for c in expected} == expected
        assert trials.loc["a", "best/val_loss"] == 0.5 and pd.isna(trials.loc["b", "best/val_loss"])

    check(store.read_frame(str(tmp_path / "s" / store.TRIALS)))
    trials, history = store.read_tables(uri, "val_loss", "min")
    check(trials)
    assert list(history["val_loss"]) == [0.5, "diverged"] and list(history["big"]) == [1, 2**64 + 1]

    # a killed driver's journal holds more of them; reading replays it, and so does a resume
    again = store.SweepRecorder(uri, None, "val_loss", "min", flush_every=3600)
    again.open()
    again.started("c", {"units": 2**70})  # written through: the first event
    again.result("c", {"training_iteration": 1, "val_loss": [1, 2], "big": "big"})  # journalled only
    assert json.loads((tmp_path / "s" / store.JOURNAL).read_text())["result"]["val_loss"] == "[1, 2]"
    trials, _ = store.read_tables(uri, "val_loss", "min")
    assert trials.set_index("trial_id").loc["c", "val_loss"] == "[1, 2]"
    resumed = store.SweepRecorder(uri, None, "val_loss", "min")
    resumed.open()  # folds the journal into the Parquet files
    assert (tmp_path / "s" / store.JOURNAL).read_text() == ""
    stored = store.read_frame(str(tmp_path / "s" / store.TRIALS)).set_index("trial_id")
    assert stored.loc["c", "config/units"] == 2**70 and stored.loc["c", "big"] == "big"
    assert list(stored["val_loss"]) == [0.5, "diverged", "[1, 2]"]


def test_a_column_parquet_can_type_keeps_its_type(tmp_path):
    path = str(tmp_path / "t.parquet")
    store.write_frame(path, pd.DataFrame({"trial_id": ["a", "b"], "x": [1.5, None], "mixed": [1, "one"]}))
    frame = store.read_frame(path)
    assert frame["x"].dtype == "float64" and frame["mixed"].tolist() == [1, "one"]
    assert pd.read_parquet(path)["mixed"].tolist() == ["1", '"one"']  # on disk: JSON text
    assert frame.attrs == {}


START_A = b'{"event": "start", "trial_id": "a", "preset": null, "config": {"x": 1}}'
RESULT_A = b'{"event": "result", "trial_id": "a", "result": {"training_iteration": 1, "acc": 0.5}}'


@pytest.mark.parametrize(
    "lines, message",
    [
        (
            [START_A, b"{not json", RESULT_A],
            "line 2: not JSON (Expecting property name enclosed in double quotes: column 2)",
        ),
        ([START_A, b"\xff\xfe garbage", RESULT_A], "line 2: not UTF-8 text (byte 0)"),
        ([START_A, b"[]", RESULT_A], "line 2: not an event: no trial_id"),
        ([b'{"event": "start", "trial_id": "a"}', RESULT_A], "line 1: not a start event (KeyError: 'preset')"),
        (
            [START_A, b'{"event": "result", "trial_id": "a", "result": [1]}'],
            "line 2: not a result event (AttributeError: 'list' object has no attribute 'get')",
        ),
    ],
)
def test_a_damaged_journal_is_one_error_naming_the_line(lines, message, tmp_path):
    (tmp_path / store.JOURNAL).write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(store.CorruptStore) as info:
        store.read_tables(str(tmp_path))
    assert str(info.value) == f"{tmp_path / store.JOURNAL}: {message}"


@pytest.mark.parametrize(
    "torn", [b'{"event": "result", "trial_id": "a", "res', b'{"event": "result", "note": "\xc3', b"\x00\x00\x00"]
)
def test_a_torn_last_line_is_skipped_and_the_next_sweep_does_not_append_to_it(torn, tmp_path):
    (tmp_path / store.JOURNAL).write_bytes(START_A + b"\n" + RESULT_A + b"\n" + torn)
    trials, history = store.read_tables(str(tmp_path), "acc", "max")
    assert trials["trial_id"].tolist() == ["a"] and history["acc"].tolist() == [0.5]
    rec = store.SweepRecorder(str(tmp_path), None, "acc", "max", flush_every=3600)
    rec.open()  # a resume: the torn line goes with the rest of the journal
    rec.result("a", {"training_iteration": 2, "acc": 0.6})
    assert store.read_tables(str(tmp_path), "acc", "max")[1]["acc"].tolist() == [0.5, 0.6]


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            store.TRIALS,
            b"PAR1 not really",
            "not a Parquet file (cut short or damaged: Parquet magic bytes not found in footer)",
        ),
        (store.HISTORY, b"", "not a Parquet file (cut short or damaged: Parquet file size is 0 bytes)"),
        (store.DECISIONS, "half", "not a Parquet file (cut short or damaged: Parquet magic bytes not found in footer)"),
        (store.TRIALS, "no-trial-id", "has no trial_id column: not a table this store wrote"),
    ],
)
def test_a_damaged_parquet_file_is_one_error_naming_it(name, content, message, tmp_path):
    if content == "half":
        store.write_frame(str(tmp_path / name), pd.DataFrame({"trial_id": ["a"] * 100, "x": range(100)}))
        content = (tmp_path / name).read_bytes()[:300]
    elif content == "no-trial-id":
        store.write_frame(str(tmp_path / name), pd.DataFrame({"x": [1]}))
        content = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(content)
    with pytest.raises(store.CorruptStore) as info:
        store.read_tables(str(tmp_path))
    assert str(info.value) == f"{tmp_path / name}: {message}"
    assert isinstance(info.value, UserError) and (info.value.path, info.value.what) == (str(tmp_path / name), message)


@pytest.mark.parametrize(
    "content, message",
    [
        (b'{"metric": "acc", ', "not JSON (Expecting property name enclosed in double quotes: line 1 column 19)"),
        (b'{"metric": "\xe9"}', "not UTF-8 text (byte 12)"),
        (b"[]", "holds an array, not a JSON object"),
        (b'"acc"', "holds a string, not a JSON object"),
        (b'{"metric": 3}', "metric: expected text, got 3"),
        (b'{"options": ["a"]}', 'options: expected an object, got ["a"]'),
    ],
)
def test_a_damaged_sweep_json_is_one_error_naming_it(content, message, tmp_path):
    (tmp_path / store.SWEEP_JSON).write_bytes(content)
    with pytest.raises(store.CorruptStore) as info:
        record.read(str(tmp_path))
    assert str(info.value) == f"{tmp_path / store.SWEEP_JSON}: {message}"


@pytest.mark.parametrize(
    "files, message",
    [
        ({"tuner.pkl": b"\x80\x04\x95garbage"}, "tuner.pkl: Ray's experiment state is damaged (not a whole pickle: "),
        (
            {"tuner.pkl": b""},
            "tuner.pkl: Ray's experiment state is damaged (not a whole pickle: pickle exhausted before seeing STOP)",
        ),
        (
            {
                "tuner.pkl": b"\x80\x04N.",
                "experiment_state-2025-01-01_00-00-00.json": b"{}",
                "experiment_state-2025-01-02_00-00-00.json": b'{"runner_data": ',
            },
            "experiment_state-2025-01-02_00-00-00.json: not JSON (Expecting value: line 1 column 17)",
        ),
        (
            {"tuner.pkl": b"\x80\x04N.", "experiment_state-2025-01-01_00-00-00.json": b"[]"},
            "experiment_state-2025-01-01_00-00-00.json: holds an array, not a JSON object",
        ),
        # the searcher's state and its wrapper's: pickles (whatever the name says); the newest by name is restored
        (
            {
                "tuner.pkl": b"\x80\x04N.",
                "searcher-state-2025-01-01_00-00-00.pkl": b"\x80\x04N.",
                "searcher-state-2025-01-02_00-00-00.pkl": b"",
            },
            "searcher-state-2025-01-02_00-00-00.pkl: Ray's searcher state is damaged (not a whole pickle: pickle exhausted",
        ),
        (
            {"tuner.pkl": b"\x80\x04N.", "search_gen_state-2025-01-02_00-00-00.json": b"garbage\n"},
            "search_gen_state-2025-01-02_00-00-00.json: Ray's searcher state is damaged (not a whole pickle: ",
        ),
    ],
)
def test_damaged_ray_state_is_one_error_naming_the_file(files, message, tmp_path):
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(store.CorruptStore, match="^" + re.escape(f"{tmp_path}/{message}")):
        check_ray_state(str(tmp_path))
    (tmp_path / "tuner.pkl").write_bytes(pickle.dumps({"a": list(range(100))}))
    for name in files:
        if name.startswith("experiment_state-"):
            (tmp_path / name).write_text("{}")
        elif name.startswith("search"):
            (tmp_path / name).write_bytes(pickle.dumps({"counter": 3}))
    check_ray_state(str(tmp_path))  # whole: no error


# --- atomic writes ------------------------------------------------------------------------


def test_a_local_write_is_synced_then_renamed_then_its_folder_synced(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(
        os, "fsync", lambda fd: calls.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))) or real_fsync(fd)
    )
    monkeypatch.setattr(
        os, "replace", lambda a, b: calls.append(("replace", os.path.basename(a), b)) or real_replace(a, b)
    )
    for uri in (str(tmp_path / "sweep.json"), f"file://{tmp_path}/sweep.json"):
        calls.clear()
        files.write_json(uri, {"v": 1})
        (_, tmp), (_, tmp_name, target), last = calls
        assert tmp == f"{target}.tmp-{tmp_name.split('.tmp-')[1]}" and tmp_name.startswith("sweep.json.tmp-")
        assert target == str(tmp_path / "sweep.json") and last == ("fsync", str(tmp_path))
        assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch):
    files.write_json(str(tmp_path / "sweep.json"), {"v": 1})

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        store.write_frame(str(tmp_path / "sweep.json"), pd.DataFrame({"x": [1]}))
    assert json.loads((tmp_path / "sweep.json").read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.json"]


@pytest.mark.parametrize("moves", [True, False])
def test_uri_storage_writes_a_temporary_name_then_moves_it_where_it_can(moves, monkeypatch):
    pytest.importorskip("fsspec")
    import pyarrow.fs as pafs
    from fsspec.implementations.memory import MemoryFileSystem

    class Store(MemoryFileSystem):
        def __init__(self):
            super().__init__()
            self.moved, self.store = [], {}  # a fresh store, not fsspec's shared one

        def mv(self, src, dst, **kwargs):
            if not moves:
                raise NotImplementedError("no rename on this store")
            self.moved.append((src, dst))
            super().mv(src, dst, **kwargs)

    memory = Store()
    fs = pafs.PyFileSystem(pafs.FSSpecHandler(memory))
    monkeypatch.setattr(files, "filesystem", lambda uri: (fs, uri.removeprefix("mem://")))
    files.write_json("mem://bucket/s/sweep.json", {"v": 1})
    assert files.read_json("mem://bucket/s/sweep.json") == {"v": 1}
    assert [(src.split(".tmp-")[0], dst) for src, dst in memory.moved] == (
        [("bucket/s/sweep.json", "bucket/s/sweep.json")] if moves else []
    )
    assert memory.find("/bucket") == ["/bucket/s/sweep.json"]  # no temporary name left


def test_durable_journal_events_are_synced(tmp_path, monkeypatch):
    rec = store.SweepRecorder(str(tmp_path / "s"), None, "acc", "max", flush_every=3600)
    rec.open()
    rec.started("a", {"x": 1})
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        os, "fsync", lambda fd: synced.append(os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))) or real_fsync(fd)
    )
    rec.result("a", {"training_iteration": 1, "acc": 0.5})  # flushed to the OS only
    assert synced == []
    rec.ended("a", "TERMINATED")
    assert synced == [store.JOURNAL]


def test_the_failed_marker_is_written_atomically(tmp_path, monkeypatch):
    from sweeplab.storage_checks import FAILED, mark_failed

    replaced = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: replaced.append(b) or real_replace(a, b))
    mark_failed(str(tmp_path), "disk full")
    assert replaced == [str(tmp_path / FAILED)] and (tmp_path / FAILED).read_text() == "disk full\n"


def test_file_uri_storage_keeps_the_same_journal_as_a_path(tmp_path):
    rec = store.SweepRecorder(f"file://{tmp_path}/s", None, "acc", "max", flush_every=3600)
    rec.open()
    rec.started("a", {"x": 1})
    rec.result("a", {"training_iteration": 1, "acc": 0.5})
    lines = (tmp_path / "s" / store.JOURNAL).read_text().splitlines()
    assert [json.loads(x)["event"] for x in lines] == ["result"]  # the first event was written through
    # a driver killed now: the next reader replays the journal over the Parquet
    trials, history = store.read_tables(f"file://{tmp_path}/s", "acc", "max")
    assert list(history["acc"]) == [0.5] and list(trials["trial_id"]) == ["a"]


def test_an_object_store_journals_one_object_an_event_and_folds_them_in_at_a_flush(monkeypatch):
    pytest.importorskip("fsspec")
    import pyarrow.fs as pafs
    from fsspec.implementations.memory import MemoryFileSystem

    memory = MemoryFileSystem()
    memory.store = {}  # a fresh store, not fsspec's shared one
    fs = pafs.PyFileSystem(pafs.FSSpecHandler(memory))
    monkeypatch.setattr(files, "filesystem", lambda uri: (fs, uri.removeprefix("mem://")))
    uri = "mem://bucket/s"
    rec = store.SweepRecorder(uri, SweepRecord(name="s"), "acc", "max", flush_every=3600)
    rec.open()
    rec.started("a", {"x": 1})
    for it in (1, 2):
        rec.result("a", {"training_iteration": it, "acc": 0.1 * it})
    segments = sorted(p for p in memory.find("/bucket/s/journal"))
    assert len(segments) == 2  # the results (the first event, start, was written through to the Parquet)
    memory.pipe(segments[-1] + "x", b'{"trial_id": "a", "ev')  # an upload cut short: never acknowledged
    # the driver is killed here (no flush, no close): a new reader gets every event back
    trials, history = store.read_tables(uri, "acc", "max")
    assert list(history["training_iteration"]) == [1, 2] and list(trials["status"]) == ["RUNNING"]
    again = store.SweepRecorder(uri, SweepRecord(name="s"), "acc", "max", flush_every=3600)
    again.open()  # folds them into the Parquet and deletes them
    assert memory.find("/bucket/s/journal") == []
    trials, history = store.read_tables(uri, "acc", "max")
    assert list(history["training_iteration"]) == [1, 2]


def test_epochs_trained_counts_every_epoch_a_restarted_trial_ran_and_its_rows_agree(tmp_path):
    """A trial with no checkpoint restarted at epoch 1 trains its epochs again: they are
    counted, and the rows of the run it left go, so its best value and best epoch are
    those of the rows it keeps."""
    uri = str(tmp_path / "s")
    rec = store.SweepRecorder(uri, SweepRecord(), "acc", "max", flush_every=0)
    rec.open()
    rec.started("a", {"x": 1})
    for it, acc in [(1, 0.5), (2, 0.6), (3, 0.9), (1, 0.4), (2, 0.7)]:
        rec.result("a", {"training_iteration": it, "acc": acc})
    row = rec.trials["a"]
    assert (row["epochs_trained"], row["iterations"], row["best/acc"], row["best_iteration"]) == (5, 2, 0.7, 2)
    assert sorted(rec.history) == [("a", 1), ("a", 2)]
    rec.close({"a": "TERMINATED"})
    trials = pd.read_parquet(tmp_path / "s" / "trials.parquet")
    assert trials.loc[0, "epochs_trained"] == 5 and trials.loc[0, "best_iteration"] == 2


def test_a_result_replayed_from_the_journal_after_a_flush_counts_once(tmp_path):
    """A kill between rewriting the Parquet files and emptying the journal replays events the
    Parquet already holds: each counts once."""
    uri = str(tmp_path / "s")
    rec = store.SweepRecorder(uri, SweepRecord(), "acc", "max", flush_every=3600)
    rec.open()
    rec.started("a", {"x": 1})
    rec.result("a", {"training_iteration": 1, "acc": 0.5})
    rec.result("a", {"training_iteration": 2, "acc": 0.6})
    journal = (tmp_path / "s" / "journal.jsonl").read_text()
    rec.flush(force=True)  # the Parquet holds both results; the journal is emptied
    (tmp_path / "s" / "journal.jsonl").write_text(journal)  # as if the kill came before it was
    again = store.SweepRecorder(uri, None, "acc", "max")
    again.load()
    assert again.trials["a"]["epochs_trained"] == 2 and again.trials["a"]["iterations"] == 2
    assert sorted(again.history) == [("a", 1), ("a", 2)]


def test_the_result_a_rung_decision_stopped_a_trial_at_is_stored(tmp_path):
    """Tune asks the scheduler about a result before it hands it to the callbacks: the
    scheduler's stop decision is recorded first, and the result that carried it still counts."""
    uri = str(tmp_path / "s")
    rec = store.SweepRecorder(uri, SweepRecord(), "acc", "max", flush_every=0)
    rec.open()
    rec.started("a", {"x": 1})
    rec.result("a", {"training_iteration": 1, "acc": 0.5})
    rec.decided("a", 2, 2, "stop", {"n": 3})
    rec.result("a", {"training_iteration": 2, "acc": 0.4})
    rec.result("a", {"training_iteration": 2, "acc": 0.4})  # Tune's done result again: not a new epoch
    row = rec.trials["a"]
    assert (row["status"], row["iterations"], row["epochs_trained"], row["stopped_at_rung"]) == ("TERMINATED", 2, 2, 2)
    assert sorted(rec.history) == [("a", 1), ("a", 2)]


def test_a_finished_trial_tune_never_saved_keeps_its_rows_unless_its_id_goes_to_another_config(tmp_path):
    """The driver died after trials c and d finished, before Tune saved its experiment state
    again: the resumed Tune knows neither. Its restored searcher suggests c's config again under
    c's id (the rows stay, c is not trained twice); d's id goes to another config (a new trial);
    e, finished too, is never made again (it goes at the end); f was running (it goes at once)."""
    uri = str(tmp_path / "s")
    rec = store.SweepRecorder(uri, None, "acc", "max", flush_every=0)
    rec.open()
    for t, lr in (("a", 0.1), ("c", 0.2), ("d", 0.3), ("e", 0.4), ("f", 0.5)):
        rec.started(t, {"lr": lr, "layers": [1, 2]})
        for it in (1, 2):
            rec.result(t, {"training_iteration": it, "epoch": it, "acc": lr * it})
        if t != "f":
            rec.ended(t, "TERMINATED")

    again = store.SweepRecorder(uri, None, "acc", "max", flush_every=0)
    again.open()
    assert again.reconcile({"a"}) == ["f"]
    again.started("c", {"lr": 0.2, "layers": (1, 2)})
    again.result("c", {"training_iteration": 1, "acc": 0.4, "already_done": True})  # run_trial's one report
    again.ended("c", "TERMINATED")
    again.started("d", {"lr": 0.7, "layers": (1, 2)})
    again.result("d", {"training_iteration": 1, "epoch": 1, "acc": 0.7})
    again.ended("d", "TERMINATED")
    again.close({"a": "TERMINATED", "c": "TERMINATED", "d": "TERMINATED"})

    trials = pd.read_parquet(tmp_path / "s" / "trials.parquet").set_index("trial_id")
    assert sorted(trials.index) == ["a", "c", "d"]
    assert (
        trials.loc["c", "iterations"] == 2
        and trials.loc["c", "best/acc"] == 0.4
        and trials.loc["c", "epochs_trained"] == 2
    )
    assert (
        trials.loc["d", "iterations"] == 1
        and trials.loc["d", "config/lr"] == 0.7
        and trials.loc["d", "epochs_trained"] == 1
    )
    history = pd.read_parquet(tmp_path / "s" / "history.parquet")
    assert history["epoch"].dtype == "int64" and "already_done" not in history.columns
    assert sorted(zip(history["trial_id"], history["epoch"])) == [("a", 1), ("a", 2), ("c", 1), ("c", 2), ("d", 1)]


def test_config_of_a_stored_row_matches_the_config_it_was_stored_from():
    row = {"trial_id": "a", "config/lr": 0.001, "config/layers": "[1, 2]", "config/other": float("nan"), "acc": 1.0}
    assert store.config_of(row) == {"lr": 0.001, "layers": "[1, 2]"}
    assert store.same_config(store.config_of(row), {"lr": 1e-3, "layers": [1, 2]})
    assert not store.same_config(store.config_of(row), {"lr": 1e-3, "layers": [1, 2], "seed": 0})
    assert not store.same_config(store.config_of(row), {"lr": 2e-3, "layers": [1, 2]})


def test_a_report_never_rewrites_the_stores_own_columns(tmp_path, capsys):
    """Issue 34.1: status, config/..., best/..., preset reported by a trainable are kept apart."""
    uri = str(tmp_path / "s")
    rec = store.SweepRecorder(uri, None, "loss", "min", presets={"original": {"key": "base"}}, flush_every=0)
    rec.open()
    rec.started("a", {"key": "searched"})
    for it in (1, 2, 3, 4):
        rec.result(
            "a",
            {
                "training_iteration": it,
                "loss": 1.0 / it,
                "status": "TERMINATED",
                "config/key": "HACKED",
                "best/loss": -123.0,
                "preset": "original",
                "iterations": 99,
            },
        )
    rec.ended("a", "TERMINATED")
    rec.close({"a": "TERMINATED"})
    out = capsys.readouterr().out
    trials = pd.read_parquet(tmp_path / "s" / "trials.parquet").set_index("trial_id")
    history = pd.read_parquet(tmp_path / "s" / "history.parquet")
    a = trials.loc["a"]
    assert (a["status"], a["config/key"], a["best/loss"], a["iterations"], a["best_iteration"]) == (
        "TERMINATED",
        "searched",
        0.25,
        4,
        4,
    )
    assert pd.isna(a["preset"])
    assert (
        a["reported/config/key"] == "HACKED"
        and a["reported/best/loss"] == -123.0
        and a["reported/status"] == "TERMINATED"
    )
    assert list(history["training_iteration"]) == [1, 2, 3, 4] and list(history["reported/iterations"]) == [99] * 4
    assert "status" not in history.columns and "config/key" not in history.columns
    notes = [line for line in out.splitlines() if line.startswith("note: trial a reports")]
    assert len(notes) == 5  # one a name, not one a report
    assert (
        "note: trial a reports 'config/key', a name the results store keeps for its own column; stored as "
        "'reported/config/key' (rename it in the trainable)" in notes
    )


def test_an_infinite_metric_is_recorded_but_never_a_trials_best(tmp_path):
    """Issue 34.10."""
    from sweeplab.analysis.load import load_sweep

    uri = str(tmp_path / "s")
    rec = store.SweepRecorder(uri, SweepRecord(metric="loss", mode="min"), "loss", "min", flush_every=0)
    rec.open()
    for t, values in (("a", [0.5, float("-inf"), 0.4]), ("b", [0.3, 0.2, float("inf")])):
        rec.started(t, {"x": t})
        for it, v in enumerate(values, 1):
            rec.result(t, {"training_iteration": it, "loss": v})
        rec.ended(t, "TERMINATED")
    rec.close({"a": "TERMINATED", "b": "TERMINATED"})
    trials = pd.read_parquet(tmp_path / "s" / "trials.parquet").set_index("trial_id")
    assert (trials.loc["a", "best/loss"], trials.loc["a", "best_iteration"]) == (0.4, 3)
    assert (trials.loc["b", "best/loss"], trials.loc["b", "best_iteration"]) == (0.2, 2)
    assert pd.read_parquet(tmp_path / "s" / "history.parquet")["loss"].tolist()[1] == float("-inf")
    facts = load_sweep(uri).facts.set_index("trial_id")
    assert (facts.loc["a", "best"], facts.loc["b", "best"]) == (0.4, 0.2)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda h, t: h.drop(columns=["training_iteration"]), "history.parquet: has no training_iteration column"),
        (
            lambda h, t: h.assign(training_iteration=[1.0, float("nan"), 1.0, 2.0]),
            "history.parquet: row 2: training_iteration nan is not an iteration",
        ),
        (
            lambda h, t: h.assign(training_iteration=[1, 1, 1, 2]),
            "history.parquet: row 2: trial a iteration 1 stored twice",
        ),
        (
            lambda h, t: t,
            "history.parquet: holds a trials table (status, iterations), not every reported row",
        ),  # copied over
    ],
)
def test_a_store_of_the_wrong_shape_is_refused_before_anything_is_written(damage, message, tmp_path):
    """Issue 34.7: resume folded 10 rows into 5 and left every command failing."""
    uri = str(tmp_path / "s")
    rec = store.SweepRecorder(uri, None, "acc", "max", flush_every=0)
    rec.open()
    for t in ("a", "b"):
        rec.started(t, {"x": 1})
        for it in (1, 2):
            rec.result(t, {"training_iteration": it, "acc": 0.5})
    rec.close({"a": "RUNNING", "b": "RUNNING"})
    history, trials = pd.read_parquet(tmp_path / "s" / store.HISTORY), pd.read_parquet(tmp_path / "s" / store.TRIALS)
    damage(history, trials).to_parquet(tmp_path / "s" / store.HISTORY)
    before = (tmp_path / "s" / store.HISTORY).read_bytes()
    with pytest.raises(store.CorruptStore) as info:
        store.SweepRecorder(uri, None, "acc", "max").open()
    assert str(info.value).startswith(f"{tmp_path / 's' / message}")
    assert (tmp_path / "s" / store.HISTORY).read_bytes() == before


def test_a_trials_table_with_a_trial_twice_is_refused(tmp_path):
    (tmp_path / "s").mkdir()
    pd.DataFrame({"trial_id": ["a", "a"], "status": ["TERMINATED"] * 2}).to_parquet(tmp_path / "s" / store.TRIALS)
    with pytest.raises(store.CorruptStore, match="trials.parquet: trial a has two rows"):
        store.SweepRecorder(str(tmp_path / "s"), None, "acc", "max").load()
