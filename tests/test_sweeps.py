"""Sweeps through a real local Ray: every registered experiment, failures, user code,
the TorchTrainer path, PBT restores, and resume after an interrupt."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

from pathlib import Path

import pandas as pd
import pytest

from conftest import sweeplab_process
from sweeplab import registry
from sweeplab.cli import main
from sweeplab.options import SweepOptions
from sweeplab.record import SweepRecord

pytestmark = pytest.mark.usefixtures("ray_local")


def frames(sweep):
    return pd.read_parquet(sweep / "trials.parquet"), pd.read_parquet(sweep / "history.parquet")


# the default tier's one real Ray sweep is freq's; every experiment's engine epoch runs there
# too, without Ray (test_registry.py); the others' sweeps through Ray are in the slow tier
@pytest.mark.parametrize(
    "exp_id", [e if e == "freq" else pytest.param(e, marks=pytest.mark.slow) for e in sorted(registry.EXPERIMENTS)]
)
def test_smoke_sweep_of_every_experiment(exp_id, storage):
    exp = registry.get(exp_id)
    code = main(
        [
            "tune",
            exp_id,
            "--smoke",
            "--scheduler",
            "asha",
            "--search",
            "optuna",
            "--storage",
            str(storage),
            "--name",
            "s",
            "--quiet",
        ]
    )
    assert code == 0
    trials, history = frames(storage / "s")
    assert len(trials) == 2 and set(trials["status"]) == {"TERMINATED"}
    assert trials[f"best/{exp.metric}"].notna().all()
    assert trials[exp.metric].between(-1e9, 1e9).all()
    assert set(history["trial_id"]) == set(trials["trial_id"])
    assert set(exp.reports) <= set(history.columns)  # the registry's list is what a space's metric is checked against
    # every trial reports each epoch, with Tune's iteration equal to the engine's epoch
    assert (history["epoch"] == history["training_iteration"]).all()
    assert trials["preset"].notna().any()  # presets are tried first
    assert set(trials["device"]) == {"cpu"}
    meta = json.loads((storage / "s" / "sweep.json").read_text())
    assert (meta["experiment"], meta["scheduler"], meta["searcher"], meta["seed"]) == (exp_id, "asha", "optuna", 0)
    assert meta["pins"] == {k: v for k, v in exp.smoke.items() if k in meta["pins"]} and meta["pins"]
    assert "ray" in meta["versions"] and "experiment:" in meta["space"]
    assert len(list((storage / "s").glob("trial_*/events.out.tfevents.*"))) == 2  # TensorBoard, a file a trial
    # analysis of the real store: tables, the chosen config train takes, the report
    assert main(["analyze", str(storage / "s"), "--csv", str(storage / "csv")]) == 0
    assert (storage / "csv" / "s-trials.csv").read_text().count("\n") == 3  # header + 2 trials
    assert main(["best", str(storage / "s"), "--out", str(storage / "best.yaml")]) == 0
    from sweeplab.local_training import single_config

    _, cfg, chosen = single_config(exp_id, None, str(storage / "best.yaml"), [], smoke=False)
    assert cfg.seed == 0 and chosen is not None
    # train --config reproduces the chosen trial's validation figure at its chosen epoch, and
    # tests those weights (the figure `best` wrote is the trial's best epoch in the store)
    by_id = trials.set_index("trial_id")
    assert chosen.value == pytest.approx(float(by_id.loc[chosen.trial, f"best/{exp.metric}"]), rel=1e-9)
    assert main(["train", exp_id, "--config", str(storage / "best.yaml"), "--out", str(storage / "train")]) == 0
    trained = json.loads((storage / "train" / "metrics.json").read_text())
    assert trained["epoch"] == chosen.epoch and round(trained[exp.metric], 3) == round(chosen.value, 3)
    assert any(k.startswith("test_") for k in trained)
    assert main(["report", str(storage / "s")]) == 0
    assert (storage / "s" / "report" / "report.html").stat().st_size > 10_000
    assert (storage / "s" / "report" / "s-next-space.yaml").exists()
    if exp_id == "gan":  # the sample grids it saved, found in the sweep folder Tune synced them to
        assert list((storage / "s" / "report" / "images").glob("*_samples_iter_*.png"))


def read_events(path):
    """(tag, step, value) of every scalar in a TensorBoard event file, and its hparams tags."""
    import struct

    from tensorboardX.proto.event_pb2 import Event

    data, scalars, plugins = path.read_bytes(), [], set()
    at = 0
    while at < len(data):
        (length,) = struct.unpack("Q", data[at : at + 8])
        event = Event.FromString(data[at + 12 : at + 12 + length])
        at += 12 + length + 4
        for v in event.summary.value:
            if v.metadata.plugin_data.plugin_name == "hparams":
                plugins.add(v.tag)
            elif v.HasField("simple_value") or v.tensor.float_val:
                scalars.append(
                    (v.tag, event.step, v.simple_value if v.HasField("simple_value") else v.tensor.float_val[0])
                )
    return scalars, plugins


def test_tensorboard_event_files_hold_every_reported_scalar(storage):
    assert (
        main(
            [
                "tune",
                "freq",
                "--smoke",
                "--search",
                "random",
                "--storage",
                str(storage),
                "--name",
                "s",
                "--quiet",
                "--set",
                "epochs=3",
            ]
        )
        == 0
    )
    _, history = frames(storage / "s")
    for trial_id, rows in history.groupby("trial_id"):
        (events,) = (storage / "s").glob(f"trial_{trial_id}/events.out.tfevents.*")
        scalars, plugins = read_events(events)
        val = {step: value for tag, step, value in scalars if tag == "ray/tune/val_mse"}
        assert sorted(val) == [1, 2, 3]
        assert val == pytest.approx(dict(zip(rows["training_iteration"], rows["val_mse"])), rel=1e-6)
        assert {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"} <= plugins


def test_nan_trial_is_recorded_and_the_sweep_goes_on(tmp_path, storage):
    space = tmp_path / "nan.yaml"
    space.write_text(
        textwrap.dedent("""
        experiment: freq
        method: grid
        scheduler: fifo
        fixed: {clip_grad_norm: 0.0, hidden_size: 8, seq_length: 50, epochs: 3, duration: 0.5}
        parameters:
          lr: {values: [5.0e-4, 1.0e+30]}
    """)
    )
    code = main(["tune", "freq", "--space", str(space), "--storage", str(storage), "--name", "n", "--quiet"])
    assert code == 0
    trials, _ = frames(storage / "n")
    by_lr = trials.set_index("config/lr")
    assert by_lr.loc[5e-4, "status"] == "TERMINATED" and by_lr.loc[5e-4, "iterations"] == 3
    assert by_lr.loc[1e30, "status"] == "ERROR"
    assert "TrialDiverged: loss became" in by_lr.loc[1e30, "error"]


def test_user_trainable_from_a_file_outside_the_package(tmp_path, storage):
    code_file = tmp_path / "my_model.py"
    code_file.write_text(
        textwrap.dedent("""
        import os

        from ray import tune

        def objective(config):
            with open(os.path.join(tune.get_context().get_trial_dir(), "note.txt"), "w") as f:
                f.write(str(config["x"]))
            for step in range(1, 4):
                tune.report({"score": config["x"] * step, "step": step})
    """)
    )
    space = tmp_path / "space.yaml"
    space.write_text("metric: {name: score, goal: maximize}\nmethod: grid\nparameters:\n  x: {values: [1, 2, 3]}\n")
    code = main(
        [
            "tune",
            "--trainable",
            f"{code_file}:objective",
            "--space",
            str(space),
            "--storage",
            str(storage),
            "--name",
            "u",
            "--quiet",
            "--scheduler",
            "fifo",
        ]
    )
    assert code == 0
    trials, history = frames(storage / "u")
    assert sorted(trials["best/score"]) == [3, 6, 9]
    assert len(history) == 9
    # files a trial keeps in its folder reach the sweep's storage
    assert sorted(p.read_text() for p in (storage / "u").glob("trial_*/note.txt")) == ["1", "2", "3"]


@pytest.mark.slow
def test_torchtrainer_path_runs_ddp_workers(storage):
    code = main(
        [
            "tune",
            "freq",
            "--smoke",
            "--workers-per-trial",
            "2",
            "--cpus-per-trial",
            "0.5",
            "--scheduler",
            "fifo",
            "--num-samples",
            "1",
            "--storage",
            str(storage),
            "--name",
            "d",
            "--quiet",
        ]
    )
    assert code == 0
    trials, history = frames(storage / "d")
    assert trials.loc[0, "status"] == "TERMINATED"
    assert list(history["epoch"]) == [1, 2] and history["val_mse"].notna().all()
    assert (storage / "d" / "train").is_dir()  # the TorchTrainer run kept its state there


def test_pbt_exploits_restore_checkpoints_at_the_right_epoch(storage):
    code = main(
        [
            "tune",
            "freq",
            "--smoke",
            "--scheduler",
            "pbt",
            "--set",
            "epochs=6",
            "--set",
            "seq_length=50",
            "--num-samples",
            "2",
            "--storage",
            str(storage),
            "--name",
            "p",
            "--quiet",
        ]
    )
    assert code == 0
    trials, history = frames(storage / "p")
    # a trial that exploits a donor already at epoch 6 restores a finished training and ends
    # without another report (about 1 run in 5 here): so only the leader surely reports epoch 6
    assert set(trials["status"]) == {"TERMINATED"} and trials["iterations"].max() == 6
    # a restored trial resumes at checkpoint epoch + 1, so epochs and iterations agree throughout
    assert (history["epoch"] == history["training_iteration"]).all()
    last = history.groupby("trial_id")["epoch"].max().sort_index()
    assert last.tolist() == trials.set_index("trial_id")["iterations"].sort_index().tolist()


def live_in_group(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that still run (not zombies), from /proc."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(entry))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "group-sigterm", "kill"])
def test_interrupted_sweep_resumes_without_rerunning_finished_trials(tmp_path, storage, how):
    """group-sigterm: what `timeout`, Slurm's scancel or a supervisor send, which reaches the
    Ray the driver started too (issue 34.11: Ray's GCS stopped answering, a 60-s hang, exit 1)."""
    args = [
        "tune",
        "freq",
        "--smoke",
        "--search",
        "random",
        "--scheduler",
        "fifo",
        "--num-samples",
        "6",
        "--max-concurrent",
        "1",
        "--set",
        "epochs=6",
        "--storage",
        str(storage),
        "--name",
        "r",
        "--quiet",
        "--num-cpus",
        "1",
    ]
    sweep = storage / "r"
    with sweeplab_process(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        deadline = time.time() + 120
        while time.time() < deadline:
            if (sweep / "trials.parquet").exists():
                t = pd.read_parquet(sweep / "trials.parquet")
                if (t["status"] == "TERMINATED").sum() >= 2:
                    break
            time.sleep(0.5)
        if how == "kill":  # the driver and the Ray it started die at once, as in a crash
            os.killpg(proc.pid, signal.SIGKILL)
        elif how == "group-sigterm":
            os.killpg(proc.pid, signal.SIGTERM)
        else:
            os.kill(proc.pid, signal.SIGINT if how == "ctrl-c" else signal.SIGTERM)
        out = proc.communicate(timeout=30 if how == "group-sigterm" else 90)[0].decode()
        if how == "group-sigterm":  # nothing of the Ray it started is left running
            deadline = time.time() + 10
            while live_in_group(proc.pid) and time.time() < deadline:
                time.sleep(0.2)
            assert not live_in_group(proc.pid)
    before, before_hist = frames(sweep)
    done = set(before.loc[before["status"] == "TERMINATED", "trial_id"])
    assert 2 <= len(done) < 6
    assert (before.loc[before["trial_id"].isin(done), "iterations"] == 6).all()
    assert set(before["status"]) <= {"TERMINATED", "RUNNING" if how == "kill" else "INTERRUPTED"}
    if how != "kill":  # a graceful stop: how to go on, and the shell's code for the signal
        assert proc.returncode == (130 if how == "ctrl-c" else 143)
        assert f"resume with: sweeplab resume {sweep}" in out and "Tuner.restore" not in out
        assert "Failed to connect to GCS" not in out
        # sweeplab's own line for the signal that came, not Ray's "Press CTRL+C ... to skip" (a SIGTERM is no Ctrl-C)
        assert "Stop signal received" not in out and "Press CTRL+C" not in out
        if how in ("ctrl-c", "sigterm"):
            said = "Ctrl-C" if how == "ctrl-c" else "SIGTERM"
            assert f"sweeplab: {said}: stopping the sweep; Tune saves its state once more" in out

    assert main(["resume", str(sweep)]) == 0
    after, after_hist = frames(sweep)
    assert len(after) == 6 and set(after["status"]) == {"TERMINATED"}
    old = before_hist[before_hist["trial_id"].isin(done)].sort_values(["trial_id", "epoch"]).reset_index(drop=True)
    new = after_hist[after_hist["trial_id"].isin(done)].sort_values(["trial_id", "epoch"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(old[["trial_id", "epoch", "timestamp"]], new[["trial_id", "epoch", "timestamp"]])
    assert json.loads((sweep / "sweep.json").read_text())["options"]["num_samples"] == 6


@pytest.mark.slow
@pytest.mark.parametrize("scheduler, search", [("hyperband", "optuna"), ("median", "random")])
def test_other_schedulers_and_searchers(scheduler, search, storage):
    code = main(
        [
            "tune",
            "seqclf",
            "--smoke",
            "--scheduler",
            scheduler,
            "--search",
            search,
            "--seed",
            "7",
            "--num-samples",
            "3",
            "--storage",
            str(storage),
            "--name",
            "o",
            "--quiet",
        ]
    )
    assert code == 0
    trials, _ = frames(storage / "o")
    assert len(trials) == 3 and trials["best/val_macro_f1"].between(0, 1).all()
    assert (trials["config/seed"] == 7).all()
    meta = json.loads((storage / "o" / "sweep.json").read_text())
    assert (meta["scheduler"], meta["searcher"], meta["seed"]) == (scheduler, search, 7)


@pytest.mark.slow
def test_time_budget_ends_the_sweep_early_and_resume_says_it_was_spent(storage, capsys):
    # 40 trials of 200 epochs, one at a time, cannot end within the budget on any machine
    code = main(
        [
            "tune",
            "freq",
            "--smoke",
            "--num-samples",
            "40",
            "--max-concurrent",
            "1",
            "--time-budget",
            "20",
            "--scheduler",
            "fifo",
            "--search",
            "random",
            "--set",
            "epochs=200",
            "--set",
            "seq_length=50",
            "--storage",
            str(storage),
            "--name",
            "t",
            "--quiet",
        ]
    )
    assert code == 0
    trials, _ = frames(storage / "t")
    assert 1 <= len(trials) < 40
    # it ended as planned: the trial running then was cut off by the budget, not "interrupted"
    assert (trials["status"] == "TIME_UP").sum() <= 1 and not (trials["status"] == "INTERRUPTED").any()
    out = capsys.readouterr().out
    assert "ended it, as planned" in out and "interrupted" not in out
    if (trials["status"] == "TIME_UP").any():
        assert "1 cut off by the time budget" in out
    from sweeplab.dashboard import data

    listed = data.Catalog([str(storage)]).sweeps()
    assert [(s["state"], s["ended_by"]) for s in listed] == [("done", "time budget")]
    # Tune restores the budget as spent: resume says so rather than starting Ray to train nothing
    assert main(["resume", str(storage / "t")]) == 0
    assert "the sweep's time budget (20 s) ended it" in capsys.readouterr().out


@pytest.mark.slow
def test_wandb_offline_logs_and_no_secret_reaches_any_file(storage, monkeypatch, capfd):
    secrets = {
        "WANDB_API_KEY": "wandb-key-0123456789abcdef",
        "MY_SERVICE_TOKEN": "tok-9f8e7d6c5b4a",
        "AWS_SECRET_ACCESS_KEY": "aws-secret-123abc456",
    }
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("WANDB_MODE", "offline")  # a key is set: stay offline all the same
    # fifo: exactly the 2 smoke trials, one offline W&B run each (pausing schedulers are not what this tests)
    code = main(
        [
            "tune",
            "freq",
            "--smoke",
            "--wandb",
            "--scheduler",
            "fifo",
            "--storage",
            str(storage),
            "--name",
            "w",
            "--quiet",
            "--set",
            "clip_grad_norm=0.5",
        ]
    )
    assert code == 0
    runs = list((storage / "w" / "wandb").glob("offline-run-*"))
    assert len(runs) == 2 and all(list(r.glob("*.wandb")) for r in runs)  # one offline W&B run a trial
    assert main(["report", str(storage / "w")]) == 0
    out = capfd.readouterr()
    import ray._private.worker

    # the sweep's files, and Ray's session logs (its runtime-env agent logged W&B's key: issue 34.4)
    logs = Path(ray._private.worker._global_node.get_session_dir_path()) / "logs"
    assert logs.is_dir()
    leaked = [
        (str(path), k)
        for folder in (storage, logs)
        for path in folder.rglob("*")
        if path.is_file()
        for k, v in secrets.items()
        if v.encode() in path.read_bytes()
    ]
    leaked += [("output", k) for k, v in secrets.items() if v in out.out + out.err]
    assert not leaked


def test_a_secret_in_an_error_or_the_sweep_metadata_is_masked(tmp_path, monkeypatch):
    monkeypatch.setenv("DB_PASSWORD", "hunter2-hunter2")
    from sweeplab import store

    assert store.redact({"a": ["x hunter2-hunter2 y"], "b": 3}) == {"a": ["x *** y"], "b": 3}
    rec = store.SweepRecorder(
        str(tmp_path), SweepRecord(options=SweepOptions(sets=("data=s3://u:hunter2-hunter2@h/x",))), "m", "max"
    )
    rec.open()
    rec.ended("t1", "ERROR", "ConnectionError: auth failed for hunter2-hunter2")
    assert b"hunter2" not in (tmp_path / "sweep.json").read_bytes()
    assert pd.read_parquet(tmp_path / "trials.parquet")["error"][0] == "ConnectionError: auth failed for ***"


@pytest.mark.slow
def test_tune_dashboard_starts_both_dashboards_on_loopback(tmp_path):
    ray_tmp = tempfile.mkdtemp(prefix="/tmp/sld-")  # short: Ray's socket paths live under it
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "SWEEPLAB_DASHBOARD_PORT": "0"}
    env.pop("RAY_ADDRESS", None)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "sweeplab",
                "tune",
                "freq",
                "--smoke",
                "--dashboard",
                "--num-cpus",
                "2",
                "--storage",
                str(tmp_path),
                "--name",
                "d",
                "--quiet",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            start_new_session=True,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    ray_url = next(ln for ln in lines if ln.startswith("Ray dashboard: "))
    ours = next(ln for ln in lines if ln.startswith("sweeplab dashboard: "))
    assert ray_url.startswith("Ray dashboard: http://127.0.0.1:")
    assert ours.startswith("sweeplab dashboard: http://127.0.0.1:") and ours.endswith("/sweep/d")
    assert (tmp_path / "d" / "trials.parquet").exists()


def test_a_sweep_warm_started_from_an_earlier_one_runs_its_best_configs_first(tmp_path, storage):
    """Through a real Tune: the earlier sweep's two best configs are the new sweep's first two
    trials, and sweep.json keeps where it learnt from."""
    code_file = tmp_path / "quad.py"
    code_file.write_text(
        textwrap.dedent("""
        from ray import tune

        def objective(config):
            for step in range(1, 4):
                tune.report({"score": -(config["x"] - 0.3) ** 2 * step, "step": step})
    """)
    )
    space = tmp_path / "space.yaml"
    space.write_text(
        "metric: {name: score, goal: maximize}\nmethod: bayes\nscheduler: {name: fifo}\n"
        "parameters:\n  x: {distribution: uniform, min: 0, max: 1}\n  epochs: {value: 3}\n"
    )
    common = [
        "--trainable",
        f"{code_file}:objective",
        "--space",
        str(space),
        "--storage",
        str(storage),
        "--quiet",
        "--max-concurrent",
        "2",
    ]
    assert main(["tune", *common, "--name", "earlier", "--num-samples", "5", "--seed", "1"]) == 0
    earlier, _ = frames(storage / "earlier")
    best_two = earlier.sort_values("best/score", ascending=False)["config/x"].head(2).tolist()
    assert (
        main(
            [
                "tune",
                *common,
                "--name",
                "warm",
                "--num-samples",
                "3",
                "--seed",
                "2",
                "--warm-start",
                str(storage / "earlier"),
            ]
        )
        == 0
    )
    warm, _ = frames(storage / "warm")
    # the first two to start (the store's order; which of the two Ray starts first is its own)
    assert sorted(warm["config/x"].head(2)) == sorted(best_two)
    assert json.loads((storage / "warm" / "sweep.json").read_text())["options"]["warm_start"] == [
        str(storage / "earlier")
    ]


def test_the_default_search_pauses_promotes_and_keeps_to_its_epoch_budget(tmp_path, storage):
    """Promotion ASHA + RungTPE through a real Tune: trials below a rung's cutoff pause and
    may resume from their checkpoint; the sweep spends num_samples x epochs, not num_samples
    trials, records every decision, and ends with nothing left paused."""
    space = tmp_path / "s.yaml"
    space.write_text(
        textwrap.dedent("""
        experiment: freq
        method: bayes
        metric: {name: val_mse, goal: minimize}
        scheduler: {name: promotion, grace_period: 1, reduction_factor: 2}
        num_samples: 3
        fixed: {epochs: 4, hidden_size: 8, seq_length: 50, duration: 0.5, lr_schedule: none}
        parameters:
          lr: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-1}
    """)
    )
    assert (
        main(
            [
                "tune",
                "freq",
                "--space",
                str(space),
                "--storage",
                str(storage),
                "--name",
                "d",
                "--quiet",
                "--max-concurrent",
                "2",
            ]
        )
        == 0
    )
    trials, history = frames(storage / "d")
    decisions = pd.read_parquet(storage / "d" / "decisions.parquet")
    spent = history.groupby("trial_id")["training_iteration"].max()
    assert len(trials) > 3  # pauses bought more configs than num_samples full trials
    assert 3 * 4 <= spent.sum() <= 3 * 4 + 2 * 4  # the budget, and at most the trials in flight beyond it
    assert set(trials["status"]) == {"TERMINATED"}  # nothing left paused
    assert "pause" in set(decisions["action"]) and set(decisions["rung"]) <= {1, 2}
    for trial_id, rows in history.groupby("trial_id"):  # a resumed trial goes on from its checkpoint
        assert sorted(rows["training_iteration"]) == list(range(1, len(rows) + 1)), trial_id
    cut = set(decisions.loc[decisions["action"] == "stop", "trial_id"])
    assert (
        cut == set(trials.loc[trials["stopped_at_rung"].notna(), "trial_id"])
        if "stopped_at_rung" in trials
        else not cut
    )
    # Tune's saved state lists each trial's checkpoints without a copy of the result each was
    # reported with (that copy grew every state save with the epochs run); the newest is whole
    from ray.tune.trainable.metadata import _TrainingRunMetadata

    (state_file,) = (storage / "d").glob("experiment_state-*.json")
    for _, metadata in json.loads(state_file.read_text())["trial_data"]:
        manager = _TrainingRunMetadata.from_json_state(metadata).checkpoint_manager
        listed = manager._checkpoint_results
        assert listed and all(r.metrics == {} for r in listed)
        assert "val_mse" in manager._latest_checkpoint_result.metrics
