"""The pure parts of ``search_quality.py lcbench --real`` (bench/_sq_lcreal.py): the user
trainable's curve and sleep schedule for a config and a scale (run here with a stand-in
``ray.tune``, no Ray), and the time budget / scale arithmetic."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np
import pytest
import yaml

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))
import _sq_lcbench as lcb  # noqa: E402
import _sq_lcreal as real  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "lcbench"
CONFIG = {
    "batch_size": 64,
    "learning_rate": 0.01,
    "momentum": 0.9,
    "weight_decay": 0.001,
    "num_layers": 3,
    "max_units": 256,
    "max_dropout": 0.2,
    "epochs": lcb.MAX_EPOCHS,
}


def test_each_epoch_sleeps_the_surrogates_epoch_seconds_times_the_scale_a_dip_floored_as_the_simulator_does():
    cumulative = np.array([10.0, 20.0, 30.0, 29.0, 40.0])  # a dip at epoch 4, as the surrogate has now and then
    s = real.sleeps(cumulative, 0.01)
    floor = 0.01 * 40.0 / 5  # 1 % of the mean epoch
    assert s == pytest.approx(0.01 * np.array([10.0, 10.0, 10.0, floor, 11.0]))
    assert s == pytest.approx(0.01 * lcb.epoch_seconds(cumulative))


def test_the_time_budget_is_the_simulators_and_the_auto_scale_makes_it_the_target():
    assert real.budget_s(20, 992.4) == pytest.approx(9924.0)  # K median trials over 2 workers
    assert real.budget_s(40, 100.0, workers=4) == pytest.approx(1000.0)
    scale = real.auto_scale(real.budget_s(20, 992.4))
    assert scale * 9924.0 == pytest.approx(real.TARGET_S)
    # the median trial's mean epoch then sleeps TARGET_S / (K / 2 x 52): about 0.15 s at K = 20
    assert scale * 992.4 / lcb.MAX_EPOCHS == pytest.approx(real.TARGET_S / (10 * 52))
    assert scale * 992.4 / lcb.MAX_EPOCHS > 0.1


def fake_tune(restore_epoch: int | None, reports: list):
    """A stand-in ``ray.tune``: report records (metrics, the checkpoint's epoch or None)."""

    class Checkpoint:
        def __init__(self, state):
            self.state = state

        @classmethod
        def from_directory(cls, folder):
            with open(os.path.join(folder, "state.json")) as f:
                return cls(json.load(f))

        @contextlib.contextmanager
        def as_directory(self):
            folder = tempfile.mkdtemp()
            with open(os.path.join(folder, "state.json"), "w") as f:
                json.dump(self.state, f)
            yield folder
            shutil.rmtree(folder)

    tune = types.ModuleType("ray.tune")
    tune.Checkpoint = Checkpoint
    tune.get_checkpoint = lambda: None if restore_epoch is None else Checkpoint({"epoch": restore_epoch})
    tune.report = lambda metrics, checkpoint=None: reports.append((metrics, checkpoint and checkpoint.state["epoch"]))
    ray = types.ModuleType("ray")
    ray.tune = tune
    return ray, tune


def run_trainable(tmp_path, monkeypatch, checkpoint: bool, restore_epoch: int | None, scale: float = 0.01):
    curve = np.linspace(50.0, 90.0, lcb.MAX_EPOCHS)
    cumulative = np.cumsum(np.full(lcb.MAX_EPOCHS, 2.0))
    monkeypatch.setattr(real, "trial_plan", lambda data, task, config, s: (curve, real.sleeps(cumulative, s)))
    reports, slept = [], []
    ray, tune = fake_tune(restore_epoch, reports)
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.setitem(sys.modules, "ray.tune", tune)
    monkeypatch.setattr(time, "sleep", slept.append)
    path = tmp_path / "trainable.py"
    path.write_text(
        real.TRAINABLE.format(bench=str(BENCH), data="unused", task="7593", scale=scale, checkpoint=checkpoint)
    )
    spec = importlib.util.spec_from_file_location("lcreal_trainable", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.objective(dict(CONFIG))
    return curve, reports, np.array(slept)


def test_the_trainable_reports_its_curve_each_epoch_after_sleeping_that_epoch_with_a_checkpoint(tmp_path, monkeypatch):
    curve, reports, slept = run_trainable(tmp_path, monkeypatch, checkpoint=True, restore_epoch=None)
    assert [m["val_accuracy"] for m, _ in reports] == pytest.approx(list(curve))
    assert [epoch for _, epoch in reports] == list(range(1, 53))
    assert len(slept) == 52 and slept[1:] == pytest.approx(np.full(51, 0.02))
    assert 0.0 <= slept[0] <= 0.02  # the surrogate's call comes off the first sleep
    assert all(m["epoch_s"] == pytest.approx(0.02) for m, _ in reports)


def test_a_restored_trial_goes_on_after_its_checkpoints_epoch(tmp_path, monkeypatch):
    curve, reports, slept = run_trainable(tmp_path, monkeypatch, checkpoint=True, restore_epoch=36)
    assert [epoch for _, epoch in reports] == list(range(37, 53))
    assert [m["val_accuracy"] for m, _ in reports] == pytest.approx(list(curve[36:]))
    assert len(slept) == 16


def test_without_checkpoints_the_trainable_reports_none(tmp_path, monkeypatch):
    curve, reports, slept = run_trainable(tmp_path, monkeypatch, checkpoint=False, restore_epoch=None, scale=0.1)
    assert len(reports) == 52 and all(epoch is None for _, epoch in reports)
    assert slept[1:] == pytest.approx(np.full(51, 0.2))


@pytest.mark.skipif(not (DATA / "model.onnx").is_file(), reason="no LCBench surrogate beside the repo")
def test_the_trainables_plan_is_the_simulators_oracle_for_that_config():
    pytest.importorskip("onnxruntime")
    bench = lcb.LCBench(DATA, "7593")
    curve, sleeps = real.trial_plan(DATA, "7593", CONFIG, 0.005)
    assert curve == pytest.approx(bench.curve(CONFIG))
    assert sleeps == pytest.approx(0.005 * bench.seconds(CONFIG))
    assert len(curve) == len(sleeps) == lcb.MAX_EPOCHS and (sleeps > 0).all()


def test_the_space_file_is_lcbenchs_space_for_tune_and_asha_gets_the_simulators_rungs(tmp_path):
    space = yaml.safe_load(real.space_yaml("sweeplab"))
    assert space["metric"] == {"name": "val_accuracy", "goal": "maximize"}
    params = space["parameters"]
    assert params["epochs"] == {"value": 52}
    assert params["batch_size"] == {"distribution": "q_log_uniform_values", "q": 1, "min": 16, "max": 512}
    assert params["num_layers"] == {"distribution": "int_uniform", "min": 1, "max": 5}
    assert params["learning_rate"]["distribution"] == "log_uniform_values"
    assert params["momentum"]["distribution"] == "uniform"
    assert set(params) == set(lcb.NAMES) | {"epochs"} and "scheduler" not in space
    asha = yaml.safe_load(real.space_yaml("ray_asha_optuna"))
    assert asha["scheduler"] == {"name": "asha", "grace_period": 1, "reduction_factor": 3}
    cmd = real.command(tmp_path, "random", 1, 80.0, 20, "n")
    assert cmd[cmd.index("--num-samples") + 1] == str(real.UNCAPPED) and "--no-checkpoint" not in cmd
    cmd = real.command(tmp_path, "sweeplab", 1, 80.0, 20, "n")
    assert cmd[cmd.index("--num-samples") + 1] == "20" and "--scheduler" not in cmd


def test_a_real_sweeps_figures_from_its_tables(tmp_path):
    import pandas as pd

    pd.DataFrame(
        {
            "trial_id": ["a", "b", "c"],
            "status": ["TERMINATED", "PAUSED", "PENDING"],
            "best/val_accuracy": [70.0, 80.0, None],
            "iterations": [3, 2, 0],
            "epochs_trained": [3, 3, None],
            **{f"config/{n}": [CONFIG[n]] * 3 for n in lcb.NAMES},
        }
    ).to_parquet(tmp_path / "trials.parquet")
    # b was restarted without checkpoint: 3 epochs trained, its latest run's 2 rows kept
    # trial a enters at 100.0 (t0 = 100.0 - 0.5 start), epochs of 1 s reported 0.1 s late; b at 110.0
    a = [
        {"trial_id": "a", "t_enter": 100.0, "t_report": 101.1 + 1.1 * i, "val_accuracy": 60.0 + i, "epoch_s": 1.0}
        for i in range(3)
    ]
    b = [
        {"trial_id": "b", "t_enter": 110.0, "t_report": 111.1 + 1.1 * i, "val_accuracy": 79.0 + i, "epoch_s": 1.0}
        for i in range(2)
    ]
    pd.DataFrame(a + b).to_parquet(tmp_path / "history.parquet")
    f = real.real_figures(tmp_path, budget=20.0, start_s=0.5)
    assert (f["best"], f["epochs"], f["trials"], f["full_trials"]) == (80.0, 6, 2, 0)
    assert f["span_s"] == pytest.approx(112.2 - 99.5)
    assert f["best_at"] == {"25": 62.0, "50": 62.0, "100": 80.0}  # 5 s: a's 3 reports; 10 s: none more
    assert f["busy_share"] == pytest.approx(6.0 / 40.0) and f["report_s"] == pytest.approx(0.1)
    assert [c["batch_size"] for c in f["configs"]] == [64, 64]
    # one worker went from a's last report (103.3) to b's entry (110.0): a start
    assert f["switch_s"]["start"]["median"] == pytest.approx(6.7) and f["switch_s"]["start"]["n"] == 1
    assert f["switch_s"]["resume"] == {"median": None, "n": 0}
