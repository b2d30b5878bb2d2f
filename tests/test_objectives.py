"""Several objectives (issue 31): a space's ``metrics:`` and ``constraints:`` validated before
Ray starts, the choice from the Pareto front on known inputs, and a real multi-objective
sweep of a user's trainable through ``sweeplab tune`` and ``sweeplab best``."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest
import yaml
from analysis_fixtures import write_sweep

from sweeplab import plan, record
from sweeplab.analysis import front, load, select
from sweeplab.cli import main
from sweeplab.errors import UserError

MO = """
metrics:
  - {name: val_loss, goal: minimize}
  - {name: cost, goal: minimize}
parameters:
  lr: {distribution: log_uniform_values, min: 0.001, max: 1.0}
  width: {values: [4, 8, 16, 32, 64]}
  epochs: {value: 6}
"""

TRAINABLE = """
from ray import tune

def objective(config):
    for epoch in range(1, config["epochs"] + 1):
        loss = 1.0 / (1 + epoch * config["lr"] * 10) + 0.3 / config["width"]
        tune.report({"val_loss": loss, "cost": config["width"] * (1 + 0.01 * epoch)})
"""


def _space(tmp_path, text: str, **changes) -> str:
    raw = yaml.safe_load(text)
    raw.update(changes)
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"metrics": [{"name": "val_loss", "goal": "minimize"}]}, "metrics: expected a list of two or three"),
        (
            {"metrics": [{"name": "val_loss", "goal": "down"}, {"name": "cost", "goal": "minimize"}]},
            "metrics[0].goal: got 'down'; allowed: minimize, maximize",
        ),
        (
            {"metrics": [{"name": "test_loss", "goal": "minimize"}, {"name": "cost", "goal": "minimize"}]},
            "metrics[0]: 'test_loss': the test split is held out",
        ),
        (
            {"metrics": [{"name": "cost", "goal": "minimize"}, {"name": "cost", "goal": "maximize"}]},
            "metrics[1]: 'cost' twice",
        ),
        ({"metric": {"name": "val_loss", "goal": "minimize"}}, "metrics: give either metric (one) or metrics"),
        ({"constraints": ["cost = 3"]}, "constraints[0]: 'cost = 3': expected 'METRIC <= NUMBER'"),
        ({"constraints": "cost <= 3"}, "constraints: expected a list"),
        ({"choose": "pareto"}, "choose: got 'pareto'; allowed: one_se, knee, first"),
    ],
)
def test_a_bad_multi_objective_space_is_one_line_naming_the_key(tmp_path, change, message):
    (tmp_path / "mo_trainable.py").write_text(TRAINABLE)
    opts = plan.SweepOptions(
        trainable=f"{tmp_path}/mo_trainable.py:objective",
        space=_space(tmp_path, MO, **change),
        storage=str(tmp_path / "s"),
    )
    with pytest.raises(UserError) as info:
        plan.prepare(opts)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_an_objective_the_experiment_does_not_report_and_a_single_metric_scheduler_are_refused(tmp_path, capsys):
    space = _space(
        tmp_path,
        "experiment: freq\nparameters: {lr: {values: [0.001, 0.01]}}\n",
        metrics=[{"name": "val_mse", "goal": "minimize"}, {"name": "val_bleu", "goal": "maximize"}],
    )
    assert main(["tune", "freq", "--space", space, "--storage", str(tmp_path / "s")]) == 2
    assert "metrics[1]: freq reports no 'val_bleu'" in capsys.readouterr().err
    space = _space(
        tmp_path,
        "experiment: freq\nparameters: {lr: {values: [0.001, 0.01]}}\n",
        metrics=[{"name": "val_mse", "goal": "minimize"}, {"name": "epoch_seconds", "goal": "minimize"}],
    )
    assert main(["tune", "freq", "--space", space, "--scheduler", "asha", "--storage", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert (
        "--scheduler asha: ranks trials by one metric; a space with several metrics runs with promotion or fifo" in err
    )
    assert (
        main(["tune", "freq", "--space", space, "--warm-start", str(tmp_path), "--storage", str(tmp_path / "s")]) == 2
    )
    assert "--warm-start: learns from earlier sweeps' scores on one metric" in capsys.readouterr().err


# accuracy up, seconds down; e is the best on accuracy but breaks the time limit
POINTS = {"a": (0.90, 3.0), "b": (0.895, 1.0), "c": (0.80, 0.5), "d": (0.70, 2.0), "e": (0.95, 9.0)}


def _mo_sweep(tmp_path, constraints=(), choose="one_se"):
    trials, history = [], []
    for t, (acc, secs) in POINTS.items():
        trials.append(
            {
                "trial_id": t,
                "status": "TERMINATED",
                "preset": None,
                "error": None,
                "iterations": 2,
                "config/width": len(trials) + 1,
                "best/val_accuracy": acc,
                "best_iteration": 2,
            }
        )
        history += [
            {
                "trial_id": t,
                "training_iteration": i,
                "val_accuracy": acc - 0.1 * (2 - i),
                "epoch_seconds": secs,
                "time_total_s": secs * i,
            }
            for i in (1, 2)
        ]
    meta = {
        "metric": "val_accuracy",
        "mode": "max",
        "name": "mo",
        "scheduler": "promotion",
        "searcher": "rung_tpe",
        "objectives": {"val_accuracy": "max", "epoch_seconds": "min"},
        "constraints": list(constraints),
        "choose": choose,
    }
    return load.load_sweep(str(write_sweep(tmp_path / "mo", trials, history, meta)))


@pytest.mark.parametrize(
    "constraints, rule, chosen",
    [
        ((), "first", "e"),
        ((), "knee", "b"),  # scaled to the front (e, a, b, c): b is nearest the ideal corner
        ((), "one_se", "e"),  # no predictions: a 1 % band around 0.95 holds only e
        (("epoch_seconds <= 5",), "first", "a"),
        (("epoch_seconds <= 5",), "one_se", "b"),  # 0.895 is within 1 % of 0.90 and faster
        (("epoch_seconds <= 0.1",), "first", "c"),  # none keeps it: the least broken
    ],
)
def test_best_chooses_from_the_front_by_the_rule_constraints_first(tmp_path, constraints, rule, chosen):
    sweep = _mo_sweep(tmp_path, constraints)
    pick = select.choice(sweep, rule=rule)
    assert pick.trial_id == chosen, pick.reason
    table = front.points(sweep, select.candidates(sweep))
    assert "d" not in set(table.loc[table["front"] == 0].index)  # dominated by b


def test_the_front_table_and_the_reason_name_the_objectives(tmp_path):
    sweep = _mo_sweep(tmp_path, ("epoch_seconds <= 5",))
    pick = select.choice(sweep)
    assert pick.reason == (
        "run #2 (trial b): val_accuracy 0.895, epoch_seconds 1.000, on the Pareto front of val_accuracy, epoch_seconds "
        "(3 trials, 4 of 5 trials keep epoch_seconds <= 5); within 1% (no stored predictions to bootstrap) of the "
        "best val_accuracy (0.900), the best on epoch_seconds"
    )
    table = front.front_table(sweep, select.candidates(sweep))
    assert table.headers == [
        "Model",
        "Trial",
        "val_accuracy (max)",
        "epoch_seconds (min)",
        "Keeps constraints",
        "Front",
    ]
    # the front's extremes first (crowding), then its middle, the next front, the breaker last
    assert [(r[1], r[-2], r[-1]) for r in table.rows] == [
        ("a", "yes", "1"),
        ("c", "yes", "1"),
        ("b", "yes", "1"),
        ("d", "yes", "2"),
        ("e", "no", "-"),
    ]


def test_a_multi_objective_sweep_of_a_user_trainable_runs_records_and_chooses(tmp_path, ray_local, capsys):
    code = tmp_path / "mo_trainable.py"
    code.write_text(textwrap.dedent(TRAINABLE))
    space = _space(tmp_path, MO, constraints=["cost <= 40"])
    storage = tmp_path / "sweeps"
    assert (
        main(
            [
                "tune",
                "--trainable",
                f"{code}:objective",
                "--space",
                space,
                "--num-samples",
                "8",
                "--seed",
                "1",
                "--storage",
                str(storage),
                "--name",
                "mo",
                "--quiet",
            ]
        )
        == 0
    )
    rec = record.read(str(storage / "mo"))
    assert dict(rec.objectives) == {"val_loss": "min", "cost": "min"} and rec.constraints == ("cost <= 40",)
    trials = pd.read_parquet(storage / "mo" / "trials.parquet")
    assert set(trials["status"]) == {"TERMINATED"} and trials["epochs_trained"].sum() <= 8 * 6 + 2 * 6
    out = tmp_path / "best.yaml"
    capsys.readouterr()
    assert main(["best", str(storage / "mo"), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    assert "on the Pareto front of val_loss, cost" in said
    chosen = yaml.safe_load(out.read_text())
    assert chosen["width"] * (1 + 0.01 * chosen["chosen"]["epoch"]) <= 40  # the constraint holds for the choice


def test_analyze_shows_the_front_of_a_multi_objective_sweep(tmp_path, capsys):
    sweep = _mo_sweep(tmp_path, ("epoch_seconds <= 5",))
    assert main(["analyze", sweep.uri]) == 0
    out = capsys.readouterr().out
    assert "Pareto front" in out and "Keeps constraints" in out


def test_the_nsga2_searcher_pickles_with_the_tuner(tmp_path):
    """Tune saves the searcher with its experiment state; Optuna's NSGA-II sampler holds a
    thread lock, which made every --search nsga2 sweep fail before its first trial."""
    import pickle

    from sweeplab.search import factories

    prep = plan.prepare(
        plan.SweepOptions(target="freq", smoke=True, search="nsga2", scheduler="fifo", storage=str(tmp_path))
    )
    searcher = factories.make_searcher("nsga2", prep.spec, 0, 2, num_samples=6, scheduler=prep.scheduler)
    again = pickle.loads(pickle.dumps(searcher))
    assert type(again.searcher).__name__ == "DistinctOptunaSearch"


def test_the_shipped_cost_space_sweeps_chooses_and_train_reproduces_every_objective(tmp_path, ray_local, capsys):
    """seqclf_gru_cost: macro F1 against seconds an epoch; best's config records both at the
    chosen epoch, and train gives the F1 again to the digit and measures the time again."""
    storage = tmp_path / "sweeps"
    assert main(["tune", "seqclf_gru_cost", "--smoke", "--storage", str(storage), "--name", "c", "--quiet"]) == 0
    out = tmp_path / "best.yaml"
    assert main(["best", str(storage / "c"), "--out", str(out)]) == 0
    block = yaml.safe_load(out.read_text())["chosen"]
    assert block["metric"] == "val_macro_f1" and set(block["objectives"]) == {"epoch_seconds"}
    capsys.readouterr()
    assert main(["train", "seqclf", "--config", str(out), "--out", str(tmp_path / "run")]) == 0
    said = capsys.readouterr().out
    assert f"val_macro_f1 at epoch {block['epoch']}: " in said and "; reproduced)" in said
    assert f"epoch_seconds at epoch {block['epoch']}: " in said and "a time, measured again)" in said


SLOW_MO = """
import json, os, tempfile, time

from ray import tune

def objective(config):
    start, ckpt = 1, tune.get_checkpoint()
    if ckpt is not None:
        with ckpt.as_directory() as folder:
            start = json.load(open(os.path.join(folder, "state.json")))["epoch"] + 1
    for epoch in range(start, config["epochs"] + 1):
        time.sleep(0.15)
        loss = 1.0 / (1 + epoch * config["lr"] * 10) + 0.3 / config["width"]
        with tempfile.TemporaryDirectory() as folder:
            json.dump({"epoch": epoch}, open(os.path.join(folder, "state.json"), "w"))
            tune.report({"val_loss": loss, "cost": float(config["width"])},
                        checkpoint=tune.Checkpoint.from_directory(folder))
"""


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_multi_objective_sweep_killed_with_trials_paused_resumes_and_loses_nothing(tmp_path):
    """MO-ASHA's rungs (the trials' vectors, who waits where) come back from the store after
    a SIGKILL: every trial ends, no reported row is lost or doubled, the budget holds, and best
    chooses from the front."""
    import os
    import signal
    import time

    from conftest import sweeplab_process

    from sweeplab import store

    code = tmp_path / "mo_trainable.py"
    code.write_text(SLOW_MO)
    space = _space(tmp_path, MO.replace("{value: 6}", "{value: 9}"))
    samples, max_t, workers = 10, 9, 2
    storage = tmp_path / "sweeps"
    args = [
        "tune",
        "--trainable",
        f"{code}:objective",
        "--space",
        space,
        "--num-samples",
        str(samples),
        "--seed",
        "2",
        "--max-concurrent",
        str(workers),
        "--storage",
        str(storage),
        "--name",
        "mo",
        "--quiet",
    ]
    sweep = storage / "mo"
    with sweeplab_process([*args, "--num-cpus", "2"]) as proc:
        deadline = time.time() + 240
        while time.time() < deadline:
            trials, _ = (
                store.read_tables(str(sweep), "val_loss", "min") if (sweep / "sweep.json").exists() else (None, None)
            )
            if trials is not None and (trials["status"] == "PAUSED").sum() >= 2:
                break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=120)
    assert main(["resume", str(sweep)]) == 0
    trials, history = store.read_tables(str(sweep), "val_loss", "min")
    assert set(trials["status"]) == {"TERMINATED"}
    assert not history.duplicated(["trial_id", "training_iteration"]).any()
    reached = history.groupby("trial_id")["training_iteration"].max().to_dict()
    # every trial trained (none stopped before its first epoch), and its rows agree with it
    assert {t: reached.get(t, 0) for t in trials["trial_id"]} == dict(zip(trials["trial_id"], trials["iterations"]))
    assert (trials["iterations"] >= 1).all()
    assert trials["epochs_trained"].sum() <= samples * max_t + max_t * workers
    assert main(["best", str(sweep), "--rule", "knee"]) == 0
