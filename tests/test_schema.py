"""schema.py: the names the engine, the store and analysis agree on, and a diverged
trial's failure carried from the exception to the store's columns to the observation."""

from __future__ import annotations

import json
import math
import pickle
import subprocess
import sys

import pandas as pd
import pytest

from sweeplab import schema, store
from sweeplab.errors import TrialDiverged, causes
from sweeplab.schema import Status
from sweeplab.record import SweepRecord


def test_status_values_are_the_stored_strings():
    assert [s.value for s in Status] == [
        "PENDING",
        "RUNNING",
        "PAUSED",
        "TERMINATED",
        "ERROR",
        "RESTARTING",
        "INTERRUPTED",
        "TIME_UP",
    ]
    for s in Status:
        assert s == s.value and s.name == s.value and isinstance(s, str)
        assert str(s) == f"{s}" == s.value and hash(s) == hash(s.value)  # written, formatted, hashed as the string
    assert json.dumps({"status": Status.ERROR}) == '{"status": "ERROR"}'
    assert Status("PAUSED") is Status.PAUSED
    assert "TERMINATED" in schema.ENDED and "ERROR" in schema.ENDED and "RUNNING" not in schema.ENDED
    assert {"RUNNING", "ERROR"} & {Status.RUNNING} == {"RUNNING"}
    assert list(pd.Series(["ERROR", None, "RUNNING"]).isin(schema.ENDED)) == [True, False, False]


def test_a_status_written_to_parquet_reads_back_as_the_plain_string(tmp_path):
    store.write_frame(
        str(tmp_path / "t.parquet"), pd.DataFrame([{"status": Status.INTERRUPTED}, {"status": "RUNNING"}])
    )
    assert list(store.read_frame(str(tmp_path / "t.parquet"))["status"]) == ["INTERRUPTED", "RUNNING"]


@pytest.mark.parametrize(
    "uri, remote",
    [
        ("s3://bucket/sweeps", True),
        ("gs://bucket/sweeps/s", True),
        ("file:///mnt/shared/sweeps", True),
        ("mem://bucket/s", True),
        ("/tmp/sweeps", False),
        ("sweeps/s", False),
        ("./sweeps", False),
        ("~/sweeps", False),
        ("", False),
        ("s3:/not-a-uri", False),
    ],
)
def test_is_remote(uri, remote):
    assert schema.is_remote(uri) is remote


@pytest.mark.parametrize(
    "name, split",
    [
        ("val_macro_f1", ("val", "macro_f1")),
        ("test_accuracy", ("test", "accuracy")),
        ("train_loss", ("train", "loss")),
        ("val_recall_N", ("val", "recall_N")),
        ("recognisable", ("", "recognisable")),
        ("frechet_distance", ("", "frechet_distance")),
        ("epoch_seconds", ("", "epoch_seconds")),
        ("validation_loss", ("", "validation_loss")),
        ("val_", ("val", "")),
    ],
)
def test_split(name, split):
    assert schema.split_metric(name) == split


def test_metric_name_helpers():
    assert schema.test_name_for("val_accuracy") == "test_accuracy"
    assert schema.test_name_for("val_macro_f1") == "test_macro_f1"
    assert schema.test_name_for("recognisable") == "test_recognisable"
    assert schema.metric_name("val", "bleu") == "val_bleu" and schema.metric_name("", "bleu") == "bleu"
    assert [n for n in ("test_accuracy", "val_accuracy", "testing", "train_test_x", "test_") if schema.is_test(n)] == [
        "test_accuracy",
        "test_",
    ]
    assert not schema.is_test(3)


def test_config_and_best_columns():
    assert schema.config_column("lr") == "config/lr" and schema.param_name("config/lr") == "lr"
    assert schema.param_name("val_mse") == "val_mse"
    assert schema.config_columns(["trial_id", "config/lr", "val", "config/epochs", 3]) == ["config/lr", "config/epochs"]
    assert schema.best_column("val_mse") == "best/val_mse"
    assert {"trial_id", "config", "done"} <= schema.TUNE_BOOKKEEPING


def test_a_divergence_as_fields_and_as_text():
    failure = schema.diverged(float("nan"), 8, 4, {"lr": 0.0333333})
    assert {k: v for k, v in failure.items() if k != schema.FAILURE_VALUE} == {
        "failure_kind": "diverged",
        "failure_epoch": 8,
        "failure_step": 4,
        "failure_lrs": '{"lr": 0.0333333}',
    }
    assert math.isnan(failure[schema.FAILURE_VALUE])
    assert schema.failure_text(failure) == "loss became nan at epoch 8, step 4 (lr=0.0333)"
    two = schema.diverged(float("-inf"), 1, 12, {"lr_g": 2e-4, "lr_d": 1e-3})
    assert schema.failure_text(two) == "loss became -inf at epoch 1, step 12 (lr_g=0.0002, lr_d=0.001)"
    # as a trials row holds them: numpy numbers, NaN where a trial did not fail
    row = pd.Series({**two, "failure_epoch": 1.0, "failure_step": pd.Series([12]).iloc[0]})
    assert schema.failure_text(row) == "loss became -inf at epoch 1, step 12 (lr_g=0.0002, lr_d=0.001)"
    assert schema.failure_text(pd.Series({"failure_kind": float("nan")})) is None
    assert schema.failure_text({}) is None


def test_trial_diverged_keeps_its_fields_through_pickling_and_ray_wrapping():
    failure = schema.diverged(float("inf"), 3, 1, {"lr": 0.01})
    error = pickle.loads(
        pickle.dumps(TrialDiverged("loss became inf at epoch 3, step 1 (lr=0.01); trial stopped", failure))
    )
    assert error.failure == failure and str(error).startswith("loss became inf")

    class Wrapped(Exception):  # the shape of Ray's RayTaskError (.cause) and Train's WorkerGroupError
        def __init__(self, cause=None, worker_failures=None):
            super().__init__("wrapped")
            self.cause, self.worker_failures = cause, worker_failures

    try:
        try:
            raise error
        except TrialDiverged as e:
            raise RuntimeError("the trial failed") from e
    except RuntimeError as chained:
        assert error in list(causes(chained))
    assert error in list(causes(Wrapped(cause=Wrapped(worker_failures={0: ValueError(), 1: error}))))
    assert list(causes(None)) == []


def test_the_store_callback_reads_the_failure_from_the_error_tune_pickled(tmp_path):
    """What Tune hands on_trial_error: the trial, whose pickled error is Ray's RayTaskError
    around the trial's own exception."""
    code = """
import sys
from ray import cloudpickle
from ray.exceptions import RayTaskError
from sweeplab import schema
from sweeplab.errors import TrialDiverged
failure = schema.diverged(float("nan"), 3, 7, {"lr": 0.05})
error = RayTaskError("train", "Traceback ...", TrialDiverged("loss became nan ...", failure)).as_instanceof_cause()
with open(sys.argv[1], "wb") as f:
    cloudpickle.dump(error, f)
"""
    path = tmp_path / "error.pkl"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True)  # pickled in another process, as a worker's is
    from sweeplab.recording import _failure

    class Trial:
        pickled_error_file = str(path)

    got = _failure(Trial())
    assert {k: v for k, v in got.items() if k != schema.FAILURE_VALUE} == {
        "failure_kind": "diverged",
        "failure_epoch": 3,
        "failure_step": 7,
        "failure_lrs": '{"lr": 0.05}',
    }
    Trial.pickled_error_file = str(tmp_path / "none.pkl")
    assert _failure(Trial()) is None  # no pickled error: the text alone
    (tmp_path / "bad.pkl").write_bytes(b"\x80\x04cut")
    Trial.pickled_error_file = str(tmp_path / "bad.pkl")
    assert _failure(Trial()) is None


SEQCLF = {"hidden_dim": 64, "n_layers": 2, "bidirectional": True, "epochs": 2}


def test_a_diverged_trials_failure_columns_are_what_observe_reads(tmp_path):
    from sweeplab.analysis import load, observe

    uri = str(tmp_path / "s")
    rec = store.SweepRecorder(
        uri,
        SweepRecord(experiment="seqclf", metric="val_macro_f1", mode="max", name="s"),
        "val_macro_f1",
        "max",
        flush_every=0,
    )
    rec.open()
    for i, value in enumerate((0.80, 0.82, 0.84)):
        rec.started(f"p{i}", {**SEQCLF, "lr": 0.001 * (i + 1)})
        rec.result(
            f"p{i}",
            {
                "training_iteration": 1,
                "epoch": 1,
                "val_macro_f1": value,
                "val_accuracy": value + 0.02,
                "train_loss": 0.5,
            },
        )
        rec.ended(f"p{i}", Status.TERMINATED)
    rec.started("x", {**SEQCLF, "lr": 0.05})
    rec.result("x", {"training_iteration": 1, "epoch": 1, "val_macro_f1": 0.3, "val_accuracy": 0.9, "train_loss": 1.0})
    # the text says nothing a parser could use: what observe says comes from the columns
    rec.ended(
        "x",
        Status.ERROR,
        "sweeplab.errors.TrialDiverged: (message)",
        schema.diverged(float("nan"), 2, 4, {"lr": 0.0333333}),
    )
    rec.started("c", {**SEQCLF, "lr": 0.002})  # a crash the engine knows nothing of: no failure fields
    rec.result("c", {"training_iteration": 1, "epoch": 1, "val_macro_f1": 0.5, "val_accuracy": 0.6, "train_loss": 0.7})
    rec.ended("c", Status.ERROR, "sweeplab.faults.InjectedFault: injected fault: trial crashed at epoch 3")
    rec.close({})

    trials = store.read_frame(store.join(uri, store.TRIALS)).set_index("trial_id")
    assert trials.loc["x", "failure_kind"] == "diverged" and trials["failure_kind"].drop("x").isna().all()
    assert (trials.loc["x", "failure_epoch"], trials.loc["x", "failure_step"]) == (2, 4)
    assert math.isnan(trials.loc["x", "failure_value"]) and json.loads(trials.loc["x", "failure_lrs"]) == {
        "lr": 0.0333333
    }
    assert (
        trials.loc["x", "status"] == "ERROR" and trials.loc["x", "error"] == "sweeplab.errors.TrialDiverged: (message)"
    )

    sweep = load.load_sweep(uri)
    assert [o.en for o in observe.observe(sweep)["x"]] == [
        "diverged: loss became nan at epoch 2, step 4 (lr=0.0333), at the sweep's highest learning rate (0.05)"
    ]
    seen = observe.observe(sweep)
    # a row without failure fields holds NaN there: not a divergence (NaN is truthy)
    assert "failed: sweeplab.faults.InjectedFault: injected fault: trial crashed at epoch 3" in [
        o.en for o in seen["c"]
    ]
    assert not [o for t in ("p0", "p1", "p2", "c") for o in seen.get(t, []) if o.code == "diverged"]
    assert [o.es for o in observe.observe(sweep)["x"]] == [
        "divergió: loss became nan at epoch 2, step 4 (lr=0.0333), con la tasa de aprendizaje más alta del barrido (0.05)"
    ]

    again = store.SweepRecorder(uri, None, "val_macro_f1", "max", flush_every=0)
    again.open()
    again.started("x", {**SEQCLF, "lr": 0.05})  # restarted (resume --retry-errored): no longer failed
    assert not set(schema.FAILURE_COLUMNS) & set(again.trials["x"]) and again.trials["x"]["status"] == "RUNNING"
