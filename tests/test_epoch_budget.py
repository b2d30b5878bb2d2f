"""--epoch-budget: a sweep stops once its trials have reported N epochs in total, and a
resumed sweep counts what it had already spent."""

from __future__ import annotations

import json
import re
import os
import signal
import time

import pandas as pd
import pytest

from conftest import sweeplab_process
from user_code import TRAINABLE
from sweeplab import plan, store, tuning
from sweeplab.cli import main
from sweeplab.errors import UserError
from sweeplab.record import SweepRecord

pytestmark = pytest.mark.usefixtures("ray_local")

BUDGET, CONCURRENT = 10, 2


def sweep_args(storage, name, budget=BUDGET):
    # 20 trials x 4 epochs = 80 epochs asked for: the budget, not num_samples, must end it
    return [
        "tune",
        "freq",
        "--smoke",
        "--search",
        "random",
        "--scheduler",
        "fifo",
        "--num-samples",
        "20",
        "--set",
        "epochs=4",
        "--max-concurrent",
        str(CONCURRENT),
        "--epoch-budget",
        str(budget),
        "--storage",
        str(storage),
        "--name",
        name,
        "--quiet",
    ]


def epochs_reported(sweep) -> tuple[int, pd.DataFrame, pd.DataFrame]:
    trials, history = store.read_tables(str(sweep), "val_mse", "min")  # Parquet plus the journal (a killed driver)
    # one history row a (trial, epoch) reported; a trial's iterations are its last epoch
    assert len(history) == int(trials["iterations"].sum())
    return len(history), trials, history


def test_epoch_budget_stops_the_sweep_and_a_resume_keeps_to_it(storage, capsys):
    assert main(sweep_args(storage, "b")) == 0
    sweep = storage / "b"
    total, trials, _ = epochs_reported(sweep)
    # The trial whose epoch reaches the budget stops at once; each other running trial may
    # report the one epoch it was training when the budget was reached, and no more.
    assert BUDGET <= total <= BUDGET + CONCURRENT - 1
    assert len(trials) < 20
    assert f"--epoch-budget {BUDGET}" in capsys.readouterr().out
    assert json.loads((sweep / "sweep.json").read_text())["options"]["epoch_budget"] == BUDGET

    # a sweep the budget ended is finished: resuming it trains nothing more
    assert main(["resume", str(sweep)]) == 0
    assert epochs_reported(sweep)[0] == total


@pytest.mark.slow
def test_a_sweep_stopped_before_its_budget_resumes_to_the_budget_not_past_it(storage):
    """The finished trials are not rerun, so only a stopper that kept its count across the
    restore (Tune's saved copy, topped up from the store) sees their epochs."""
    budget = 30
    args = sweep_args(storage, "r", budget=budget)
    sweep = storage / "r"
    with sweeplab_process([*args, "--num-cpus", "2"]) as proc:
        deadline = time.time() + 120
        while time.time() < deadline:  # Ctrl-C once two trials have finished
            trials, _ = store.read_tables(str(sweep), "val_mse", "min") if sweep.exists() else (None, None)
            if trials is not None and (trials["status"] == "TERMINATED").sum() >= 2:
                break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    before, trials, _ = epochs_reported(sweep)
    finished = int(trials.loc[trials["status"] == "TERMINATED", "iterations"].sum())
    assert finished >= 8 and before < budget

    assert main(["resume", str(sweep)]) == 0
    total, _, _ = epochs_reported(sweep)
    # a stopper that forgot the finished trials would go on to about budget + finished
    assert budget <= total <= budget + CONCURRENT - 1


def test_a_restored_stopper_counts_what_the_store_recorded_after_tunes_last_state_save(tmp_path):
    """Tune hands a resumed sweep the stopper of its last experiment-state save; epochs
    reported after that save (and before a kill) are in the results store."""
    import ray.cloudpickle as pickle

    uri = str(tmp_path / "s")
    stopper = tuning.epoch_budget_stopper(10, uri, "val_mse", "min")
    assert not stopper("a", {"training_iteration": 2}) and stopper.total() == 2
    saved = pickle.dumps(stopper)  # Tune's state save, here after trial a's second epoch
    recorder = store.SweepRecorder(uri, SweepRecord(name="s"), "val_mse", "min")
    recorder.open()
    recorder.started("a", {})
    recorder.started("b", {})
    for trial_id, it in [("a", 1), ("a", 2), ("a", 3), ("b", 1), ("b", 2)]:
        recorder.result(trial_id, {"training_iteration": it, "val_mse": 0.5})
    restored = pickle.loads(saved)
    assert restored.total() == 5 and not restored.stop_all()  # a: 3, b: 2
    assert restored("b", {"training_iteration": 2}) is False  # a re-reported epoch counts once
    assert restored("c", {"training_iteration": 5}) is True


def test_epoch_budget_must_be_positive(tmp_path):
    with pytest.raises(UserError, match=re.escape("--epoch-budget 0: must be in [1, 1000000000]")):
        plan.prepare(plan.SweepOptions(target="freq", storage=str(tmp_path), epoch_budget=0))
    assert main(["tune", "freq", "--epoch-budget", "-3", "--storage", str(tmp_path)]) == 2


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    "how, checkpoints",
    [(signal.SIGINT, True), (signal.SIGKILL, True), (signal.SIGKILL, False)],
    ids=["ctrl-c", "kill", "kill-no-checkpoint"],
)
def test_a_sweep_killed_with_trials_paused_resumes_them_paused_and_keeps_its_budget(
    tmp_path, storage, how, checkpoints
):
    """The default search stopped while trials wait at a rung: after ``resume`` each paused
    trial goes on only once promoted (one epoch at most if Tune itself ran it again), and
    the epochs trained stay within the budget plus a trial's epochs a worker. A trainable
    that saves no checkpoint trains nothing again for a trial still waiting (Tune brings
    paused trials back pending: started, each retrained from epoch 1 up to its rung)."""
    import textwrap

    code = tmp_path / "slow.py"
    code.write_text(textwrap.dedent(TRAINABLE))
    space = tmp_path / "space.yaml"
    space.write_text(
        "method: bayes\nmetric: {name: loss, goal: minimize}\nparameters:\n"
        "  lr: {distribution: log_uniform_values, min: 0.001, max: 1.0}\n  epochs: {value: 9}\n"
        f"  width: {{value: 16}}\n  checkpoints: {{value: {str(checkpoints).lower()}}}\n"
        "  sleep: {value: 0.15}\n"
    )
    samples, max_t, workers = 12, 9, 2
    args = [
        "tune",
        "--trainable",
        f"{code}:objective",
        "--space",
        str(space),
        "--num-samples",
        str(samples),
        "--seed",
        "1",
        "--max-concurrent",
        str(workers),
        "--storage",
        str(storage),
        "--name",
        "p",
        "--quiet",
    ]
    sweep = storage / "p"
    with sweeplab_process([*args, "--num-cpus", "2"]) as proc:
        deadline = time.time() + 240
        while time.time() < deadline:  # stop once three trials wait at a rung
            trials, _ = (
                store.read_tables(str(sweep), "loss", "min") if (sweep / "sweep.json").exists() else (None, None)
            )
            if trials is not None and (trials["status"] == "PAUSED").sum() >= 3:
                break
            time.sleep(0.2)
        os.kill(proc.pid, how)
        proc.wait(timeout=120)
    before, _ = store.read_tables(str(sweep), "loss", "min")
    paused = dict(
        zip(
            before.loc[before["status"] == "PAUSED", "trial_id"], before.loc[before["status"] == "PAUSED", "iterations"]
        )
    )
    trained = dict(zip(before["trial_id"], before["epochs_trained"]))
    assert paused  # three were paused at the poll; one may be promoted before the signal lands (seen here, under load)
    stopped_at = len(pd.read_parquet(sweep / "decisions.parquet")) if (sweep / "decisions.parquet").exists() else 0

    assert main(["resume", str(sweep)]) == 0
    trials, _ = store.read_tables(str(sweep), "loss", "min")
    decisions = store.SweepRecorder(str(sweep), None, "loss", "min")
    decisions.load()
    after = [d for d in decisions.decisions[stopped_at:]] if stopped_at else decisions.decisions
    promoted = {d["trial_id"] for d in after if d["action"] == "promote"}
    rows = trials.set_index("trial_id")
    for trial_id, rung in paused.items():  # a paused trial trained on only once promoted
        if trial_id not in rows.index:
            continue  # it started after Ray's last saved state: forgotten with the driver, its config made again
        if trial_id not in promoted:
            assert rows.loc[trial_id, "iterations"] <= rung + 1, trial_id
            if not checkpoints:  # left waiting, and stopped at the end: not one epoch trained again
                assert rows.loc[trial_id, "epochs_trained"] == trained[trial_id], trial_id
    assert set(trials["status"]) == {"TERMINATED"}
    assert trials["epochs_trained"].sum() <= samples * max_t + max_t * workers
