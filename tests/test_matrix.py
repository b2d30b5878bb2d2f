"""Every scheduler with every searcher finishes, through a real Tune: a registered
experiment, and a user's own trainable with and without checkpoints. A user's trainable
counts each epoch it really trains in a file, and the store's ``epochs_trained`` must
equal that count (restarts and restores included), and no trial may be left paused."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from sweeplab.cli import main
from sweeplab.options import SCHEDULERS, SEARCHERS
from user_code import TRAINABLE

pytestmark = pytest.mark.usefixtures("ray_local")


def user_sweep(tmp_path, storage, scheduler: str, search: str, checkpoints: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    code = tmp_path / "mine.py"
    code.write_text(textwrap.dedent(TRAINABLE))
    log = tmp_path / "epochs.log"
    space = tmp_path / "space.yaml"
    space.write_text(
        textwrap.dedent(f"""
        method: {"grid" if search == "grid" else "random"}
        metric: {{name: loss, goal: minimize}}
        parameters:
          lr: {{values: [0.01, 0.1, 0.5]}}
          width: {{values: [8, 16]}}
          epochs: {{value: 6}}
          log: {{value: {str(log)!r}}}
          checkpoints: {{value: {str(checkpoints).lower()}}}
    """)
    )
    samples = "1" if search == "grid" else "6"
    assert (
        main(
            [
                "tune",
                "--trainable",
                f"{code}:objective",
                "--space",
                str(space),
                "--scheduler",
                scheduler,
                "--search",
                search,
                "--num-samples",
                samples,
                "--seed",
                "3",
                "--storage",
                str(storage),
                "--name",
                "m",
                "--quiet",
            ]
        )
        == 0
    )
    trials = pd.read_parquet(storage / "m" / "trials.parquet")
    trained = pd.read_csv(log, sep=" ", names=["trial_id", "epoch"])
    return trials, trained


CELLS = [(sched, search) for sched in SCHEDULERS for search in SEARCHERS]
# the default tier keeps the cells that hung before (promotion with random and grid)
FAST = {("promotion", "random"), ("promotion", "grid")}


def cells():
    return [pytest.param(*c, marks=() if c in FAST else pytest.mark.slow) for c in CELLS]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("checkpoints", [True, False], ids=["checkpoints", "no-checkpoints"])
@pytest.mark.parametrize("scheduler, search", cells())
def test_every_scheduler_and_searcher_finishes_a_user_trainable_and_counts_every_epoch(
    scheduler, search, checkpoints, tmp_path, storage
):
    trials, trained = user_sweep(tmp_path, storage, scheduler, search, checkpoints)
    assert set(trials["status"]) == {"TERMINATED"}  # nothing left paused or running
    if search == "grid":
        assert len(trials) == 6
    by_trial = trained.groupby("trial_id").size()
    counted = trials.set_index("trial_id")["epochs_trained"]
    pd.testing.assert_series_equal(
        counted.sort_index().astype(int), by_trial.sort_index().astype(int), check_names=False
    )
    if scheduler != "pbt":  # a PBT exploit restores another trial's checkpoint, its epochs included
        assert (trials["iterations"] <= trials["epochs_trained"]).all()
    assert (trials["best_iteration"] <= trials["iterations"]).all()  # a trial's rows agree


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("scheduler, search", CELLS)
def test_every_scheduler_and_searcher_finishes_a_registered_experiment(scheduler, search, storage, capsys):
    target = "freq_noise" if search == "grid" else "freq"  # freq's own space searches lr as a distribution
    code = main(
        [
            "tune",
            target,
            "--smoke",
            "--scheduler",
            scheduler,
            "--search",
            search,
            "--num-samples",
            "3",
            "--seed",
            "5",
            "--storage",
            str(storage),
            "--name",
            "f",
            "--quiet",
        ]
    )
    if (scheduler, search) == ("pbt", "grid"):  # freq_noise's grid is over the signal, which PBT cannot mutate
        assert code == 2 and "scheduler pbt: none of the searched parameters" in capsys.readouterr().err
        return
    assert code == 0
    trials = pd.read_parquet(storage / "f" / "trials.parquet")
    assert set(trials["status"]) == {"TERMINATED"} and len(trials) >= 2
    if scheduler != "pbt":
        assert (trials["iterations"] <= trials["epochs_trained"]).all()


BAD_REPORT = """
    from ray.tune import report  # imported by name: the check sits in the session, not in the module

    def objective(config):
        for epoch in range(1, 5):
            if config["bad"] == "dict" and epoch >= 3:
                report({"loss": {"value": 0.5}})
            elif config["bad"] == "missing" and epoch >= 2:
                report({"lost": 0.5})
            else:
                report({"loss": 1.0 / epoch + config["lr"], "status": "TERMINATED"})
"""


@pytest.mark.timeout(300)
def test_a_bad_report_fails_its_trial_not_the_sweep(tmp_path, storage, capsys):
    """Issue 34.3: a dict as the metric (or no metric) from one trial; Tune's driver would die on it."""
    code = tmp_path / "bad.py"
    code.write_text(textwrap.dedent(BAD_REPORT))
    space = tmp_path / "space.yaml"
    space.write_text(
        "method: grid\nmetric: {name: loss, goal: minimize}\n"
        "parameters:\n  bad: {values: [none, dict, missing]}\n  lr: {values: [0.1, 0.2]}\n"
    )
    assert (
        main(
            [
                "tune",
                "--trainable",
                f"{code}:objective",
                "--space",
                str(space),
                "--scheduler",
                "fifo",
                "--storage",
                str(storage),
                "--name",
                "b",
                "--quiet",
            ]
        )
        == 0
    )
    trials = pd.read_parquet(storage / "b" / "trials.parquet")
    by_bad = trials.groupby("config/bad")
    assert set(by_bad.get_group("none")["status"]) == {"TERMINATED"}
    assert list(by_bad.get_group("none")["iterations"]) == [4, 4]
    assert set(by_bad.get_group("dict")["status"]) == set(by_bad.get_group("missing")["status"]) == {"ERROR"}
    assert all(
        "BadReport: reported loss = {'value': 0.5} (dict), not a number" in e for e in by_bad.get_group("dict")["error"]
    )
    assert all(
        "BadReport: reported ['lost'] without the sweep's metric 'loss'" in e
        for e in by_bad.get_group("missing")["error"]
    )
    assert list(by_bad.get_group("dict")["iterations"]) == [2, 2]  # the rows before the bad one are kept
    assert "note: trial" in capsys.readouterr().out  # 'status' reported: kept apart, said once


def test_a_trial_whose_worker_process_is_killed_is_named_so(tmp_path, storage):
    """Issue 34.12: a worker killed as the OOM killer kills (SIGKILL, no error of its own) read
    as Ray's 'connection error code 2' and two tracebacks; now the error says what it was."""
    code = tmp_path / "hog.py"
    code.write_text(
        textwrap.dedent("""
        import os, signal
        from ray import tune

        def objective(config):
            for epoch in range(1, 4):
                if config["die"] and epoch == 2:
                    os.kill(os.getpid(), signal.SIGKILL)
                tune.report({"loss": 1.0 / epoch})
    """)
    )
    space = tmp_path / "space.yaml"
    space.write_text(
        "method: grid\nmetric: {name: loss, goal: minimize}\nparameters:\n  die: {values: [false, true]}\n"
    )
    assert (
        main(
            [
                "tune",
                "--trainable",
                f"{code}:objective",
                "--space",
                str(space),
                "--scheduler",
                "fifo",
                "--storage",
                str(storage),
                "--name",
                "o",
                "--quiet",
            ]
        )
        == 0
    )
    trials = pd.read_parquet(storage / "o" / "trials.parquet").set_index("config/die")
    assert trials.loc[False, "status"] == "TERMINATED" and trials.loc[True, "status"] == "ERROR"
    assert trials.loc[True, "error"].startswith(
        "WorkerDied: the trial's worker process was killed without an error "
        "of its own; the usual cause is the kernel's OOM killer"
    )
