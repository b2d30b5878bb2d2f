"""Reliability (issue 9): a driver killed at five points and resumed, crashing and diverging
trials with and without restarts, a killed trial actor, and determinism. Faults come from
sweeplab's fault-injection setting (faults.py), never from patching the code under test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading

import pandas as pd
import pytest

from conftest import sweeplab_process
from sweeplab import faults, store
from sweeplab.cli import main

pytestmark = pytest.mark.usefixtures("ray_local")

EPOCHS, SAMPLES = 4, 6
SPACE = textwrap.dedent(f"""
    experiment: freq
    method: bayes
    metric: {{name: val_mse, goal: minimize}}
    scheduler: fifo
    num_samples: {SAMPLES}
    fixed: {{epochs: {EPOCHS}, duration: 20.0, seq_length: 50, lr_schedule: none}}  # epochs of ~0.3 s
    parameters:
      hidden_size: {{values: [4, 8, 16]}}
      lr: {{distribution: log_uniform_values, min: 1.0e-3, max: 1.0e-2}}
""")


@pytest.fixture
def space(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(SPACE)
    return path


def frames(sweep):
    """What the store holds: the trial table, and every row (Parquet plus the journal)."""
    return store.read_tables(str(sweep), "val_mse", "min")


def rows_lost(before, after) -> int:
    """(trial, iteration) rows stored before that are not stored after."""
    pairs = set(zip(before["trial_id"], before["training_iteration"]))
    return len(pairs - set(zip(after["trial_id"], after["training_iteration"])))


def rows_twice(history) -> int:
    return int((history.groupby(["trial_id", "training_iteration"]).size() > 1).sum())


def assert_complete(sweep, n=SAMPLES, epochs=EPOCHS):
    """Every trial finished, each with every iteration exactly once."""
    trials, history = frames(sweep)
    assert len(trials) == n and set(trials["status"]) == {"TERMINATED"}, trials[["trial_id", "status"]]
    assert set(history["trial_id"]) == set(trials["trial_id"])
    counts = history.groupby(["trial_id", "training_iteration"]).size()
    assert (counts == 1).all(), counts[counts > 1]  # none twice
    per_trial = history.groupby("trial_id")["training_iteration"].apply(sorted)
    assert all(its == list(range(1, epochs + 1)) for its in per_trial), per_trial  # none lost
    assert (history["epoch"] == history["training_iteration"]).all()
    return trials, history


# ---------------------------------------------------------------- killed driver


def run_until_killed(args, env_faults, timeout=240, **env_extra):
    """A sweep in its own process group with a kill fault; returns once the fault has
    killed it (the group: the driver and the Ray it started, nothing else)."""
    with sweeplab_process(args, stderr=subprocess.PIPE, **{faults.ENV: env_faults, **env_extra}) as proc:
        _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == -signal.SIGKILL, err.decode()[-3000:]


KILL_POINTS = [
    ("trial-start", "kill@trial-start:3"),  # the third trial is being started
    ("mid-epoch", "kill@mid-epoch:3"),  # halfway through a trial's third epoch
    ("checkpoint", "kill@checkpoint:7"),  # while the seventh trial checkpoint is registered
    # inside the first experiment-state save (one a second) after the fourth trial checkpoint
    ("experiment-state", "kill@experiment-state:4"),
    ("near-end", "kill@near-end:1"),  # as the next-to-last trial completes
]


@pytest.mark.slow
@pytest.mark.parametrize("point, spec", KILL_POINTS, ids=[p for p, _ in KILL_POINTS])
def test_driver_killed_then_resumed_loses_and_repeats_nothing(point, spec, space, storage):
    killed_then_resumed(point, spec, space, storage, str(storage))


@pytest.mark.slow
@pytest.mark.parametrize("point, spec", KILL_POINTS, ids=[p for p, _ in KILL_POINTS])
def test_on_file_uri_storage_a_killed_driver_loses_and_repeats_nothing(point, spec, space, storage):
    """What the README recommends for a cluster's shared mount: the same journal as a path."""
    killed_then_resumed(point, spec, space, storage, f"file://{storage}")


@pytest.mark.slow
def test_a_user_trainables_finished_trials_are_not_trained_again_after_a_kill(tmp_path, storage):
    """The same as above for a user's own trainable (no checkpoints), which trained such a trial
    again from epoch 1 on resume and counted none of it (found killing and resuming a bayes
    sweep by hand: a trial of 11 epochs had trained 20). Every epoch it really trains, written
    to a file, is an epoch the store counts, and a finished trial trains no epoch after the kill."""
    from user_code import TRAINABLE

    code = tmp_path / "mine.py"
    code.write_text(textwrap.dedent(TRAINABLE))
    log = tmp_path / "epochs.log"
    space = tmp_path / "space.yaml"
    space.write_text(
        f"method: random\nmetric: {{name: loss, goal: minimize}}\nparameters:\n"
        f"  lr: {{distribution: log_uniform_values, min: 0.01, max: 1.0}}\n  width: {{values: [8, 16]}}\n"
        f"  epochs: {{value: {EPOCHS}}}\n  log: {{value: {str(log)!r}}}\n  checkpoints: {{value: false}}\n"
    )
    sweep = storage / "u"
    run_until_killed(
        [
            "tune",
            "--trainable",
            f"{code}:objective",
            "--space",
            str(space),
            "--scheduler",
            "fifo",
            "--num-samples",
            str(SAMPLES),
            "--storage",
            str(storage),
            "--name",
            "u",
            "--max-concurrent",
            "1",
            "--num-cpus",
            "1",
            "--quiet",
        ],
        "kill@trial-start:4",
        TUNE_GLOBAL_CHECKPOINT_S="3600",
    )
    before, _ = store.read_tables(str(sweep), "loss", "min")
    finished = set(before.loc[before["status"] == "TERMINATED", "trial_id"])
    assert len(finished) == 3
    trained_before = sum(1 for _ in open(log))

    with sweeplab_process(["resume", str(sweep)], stderr=subprocess.PIPE) as proc:
        err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err.decode()[-3000:]
    after, _ = store.read_tables(str(sweep), "loss", "min")
    assert len(after) == SAMPLES and set(after["status"]) == {"TERMINATED"}
    trained = pd.read_csv(log, sep=" ", names=["trial_id", "epoch"])
    assert not trained.iloc[trained_before:]["trial_id"].isin(finished).any()  # none of them trained again
    kept = trained[trained["trial_id"].isin(after["trial_id"])].groupby("trial_id").size()
    counted = after.set_index("trial_id")["epochs_trained"]
    pd.testing.assert_series_equal(counted.sort_index().astype(int), kept.sort_index().astype(int), check_names=False)


@pytest.fixture
def s3(monkeypatch):
    """A real S3 server (moto's, in its own process group, stopped by the test) and the
    environment a user points pyarrow and Ray at it with; yields the bucket's URI."""
    import socket
    import time
    import urllib.request

    moto = pytest.importorskip("moto.server")
    boto3 = pytest.importorskip("boto3")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", moto.__name__, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
        for key, value in {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing-secret-key",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }.items():
            monkeypatch.setenv(key, value)
        boto3.client("s3").create_bucket(Bucket="sweeps")
        yield "s3://sweeps/storage"
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("point, spec", KILL_POINTS, ids=[p for p, _ in KILL_POINTS])
def test_on_a_real_s3_server_a_killed_driver_loses_and_repeats_nothing_and_every_reader_reads_it(
    point, spec, space, s3, tmp_path
):
    """Issue 34.13: the object-store path (one journal object an event) against a real S3
    server through pyarrow's S3 filesystem, not an in-memory one: killed at each kill point,
    resumed; after the mid-epoch kill, analyze, report and the dashboard read the sweep from
    the bucket. (bench/kill_matrix.py's S3 column.)"""
    sweep = f"{s3}/k"
    run_until_killed(
        [
            "tune",
            "freq",
            "--space",
            str(space),
            "--storage",
            s3,
            "--name",
            "k",
            "--max-concurrent",
            "2",
            "--num-cpus",
            "2",
            "--quiet",
        ],
        spec,
    )
    before, before_hist = frames(sweep)
    finished = set(before.loc[before["status"] == "TERMINATED", "trial_id"])
    assert len(finished) < SAMPLES
    # in a process of its own, as a user runs it: its Ray's workers get the AWS settings from it
    # (sweeplab keeps credentials out of Ray's runtime environments; this test's shared Ray started without them)
    with sweeplab_process(["resume", sweep], stderr=subprocess.PIPE) as proc:
        err = proc.communicate(timeout=300)[1]
    assert proc.returncode == 0, err.decode()[-3000:]
    after, after_hist = assert_complete(sweep)
    kept = before_hist[before_hist["trial_id"].isin(after["trial_id"])]
    assert rows_lost(kept, after_hist) == 0 and rows_twice(after_hist) == 0
    old = before_hist[before_hist["trial_id"].isin(finished)].sort_values(["trial_id", "epoch"]).reset_index(drop=True)
    new = after_hist[after_hist["trial_id"].isin(finished)].sort_values(["trial_id", "epoch"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(old[["trial_id", "epoch", "timestamp"]], new[["trial_id", "epoch", "timestamp"]])
    lost = set(before["trial_id"]) - set(after["trial_id"])
    print(
        f"\n{point}: finished before kill {len(finished)}, trials dropped {len(lost)}, "
        f"rows before {len(before_hist)}, after {len(after_hist)}, lost {rows_lost(kept, after_hist)}, "
        f"duplicated {rows_twice(after_hist)}"
    )
    if point != "mid-epoch":
        return
    assert main(["analyze", sweep]) == 0
    assert main(["report", sweep, "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "REPORT.md").read_text().count("| freq ") >= 1
    from test_dashboard import Served

    served = Served([s3])
    try:
        assert [s["id"] for s in served.json("/api/sweeps")] == ["k"]
        assert len(served.json("/api/sweeps/k/trials")["rows"]) == SAMPLES
        assert served.json("/api/sweeps/k/best_so_far")
    finally:
        served.close()


def test_a_damaged_journal_object_is_named_in_the_error(s3):
    """On an object store each event is an object of its own: an event that is not what it says
    is named by that object (the error used to name the local journal's path, None there)."""
    from sweeplab import files

    good = b'{"event": "start", "trial_id": "a", "preset": null, "config": {"x": 1}}'
    bad = b'{"event": "start", "trial_id": "b"}'
    folder = store.join(f"{s3}/d", store.JOURNAL_SEGMENTS)
    for name, body in (("0001.json", good), ("0002.json", bad)):
        fs, path = files.filesystem(store.join(folder, name))
        with fs.open_output_stream(path) as f:
            f.write(body)
    with pytest.raises(store.CorruptStore) as info:
        store.read_tables(f"{s3}/d")
    assert str(info.value) == f"{store.join(folder, '0002.json')}: not a start event (KeyError: 'preset')"


def killed_then_resumed(point, spec, space, storage, where: str) -> None:
    sweep = storage / "k"
    run_until_killed(
        [
            "tune",
            "freq",
            "--space",
            str(space),
            "--storage",
            where,
            "--name",
            "k",
            "--max-concurrent",
            "2",
            "--num-cpus",
            "2",
            "--quiet",
        ],
        spec,
    )
    before, before_hist = frames(sweep)
    finished = set(before.loc[before["status"] == "TERMINATED", "trial_id"])
    assert len(finished) < SAMPLES  # the kill really cut the sweep short

    assert main(["resume", f"{where}/k"]) == 0
    after, after_hist = assert_complete(sweep)  # exactly num_samples: the searcher's count survived
    assert finished <= set(after["trial_id"])  # no finished trial was unknown to Tune's saved state
    # no stored row is lost: every (trial, iteration) recorded before the kill is still there,
    # save those of trials started after Tune's last saved state (dropped and suggested again)
    kept = before_hist[before_hist["trial_id"].isin(after["trial_id"])]
    assert set(zip(kept["trial_id"], kept["training_iteration"])) <= set(
        zip(after_hist["trial_id"], after_hist["training_iteration"])
    )
    # finished trials are not rerun: their rows are the very rows stored before the kill
    old = before_hist[before_hist["trial_id"].isin(finished)].sort_values(["trial_id", "epoch"]).reset_index(drop=True)
    new = after_hist[after_hist["trial_id"].isin(finished)].sort_values(["trial_id", "epoch"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(old[["trial_id", "epoch", "timestamp"]], new[["trial_id", "epoch", "timestamp"]])
    assert not (sweep / "journal.jsonl").read_text()  # the journal is folded into the Parquet
    lost = set(before["trial_id"]) - set(after["trial_id"])
    checkpoints = len(
        list(sweep.glob("trial_*/checkpoint_*"))
    )  # after the end: each trial's last, and dropped trials' folders
    print(
        f"\n{point}: finished before kill {len(finished)}, trials dropped {len(lost)}, "
        f"rows before {len(before_hist)}, after {len(after_hist)}, lost {rows_lost(kept, after_hist)}, "
        f"duplicated {rows_twice(after_hist)}, "
        f"checkpoints kept {checkpoints} of {len(after_hist)}"
    )


@pytest.mark.slow
@pytest.mark.parametrize("method", ["random", "bayes"])
def test_trials_that_finished_after_tunes_last_saved_state_are_neither_lost_nor_miscounted(
    method, tmp_path, storage, capsys
):
    """Tune saves its experiment state once a second; a trial can finish, and the next start,
    between two saves, and the driver die there (seen in CI). Here Tune saves only at the start,
    so trials that finished before the kill are ones its restored state does not know. Its
    restored searcher suggests their configs again: random, under the same ids (their rows
    stay and they are not trained again); bayes, under new ids (trained again, in their place)."""
    space = tmp_path / "space.yaml"
    space.write_text(SPACE.replace("method: bayes", f"method: {method}"))
    sweep = storage / "k"
    run_until_killed(
        [
            "tune",
            "freq",
            "--space",
            str(space),
            "--storage",
            str(storage),
            "--name",
            "k",
            "--max-concurrent",
            "1",
            "--num-cpus",
            "1",
            "--quiet",
        ],
        "kill@trial-start:4",
        TUNE_GLOBAL_CHECKPOINT_S="3600",
    )
    before, before_hist = frames(sweep)
    finished = set(before.loc[before["status"] == "TERMINATED", "trial_id"])
    assert len(finished) == 3

    assert main(["resume", str(sweep)]) == 0
    out = capsys.readouterr().out
    after, after_hist = assert_complete(sweep)
    kept = finished & set(after["trial_id"])
    old = before_hist[before_hist["trial_id"].isin(kept)].sort_values(["trial_id", "epoch"]).reset_index(drop=True)
    new = after_hist[after_hist["trial_id"].isin(kept)].sort_values(["trial_id", "epoch"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(old[["trial_id", "epoch", "timestamp"]], new[["trial_id", "epoch", "timestamp"]])
    assert after["epochs_trained"].sum() == SAMPLES * EPOCHS
    if method == "random":
        assert kept == finished
    else:
        dropped = sorted(finished - kept)
        assert (
            dropped
            and f"note: {len(dropped)} trial(s) finished after Ray's last saved experiment state ({', '.join(dropped)})"
            in out
        )


# ---------------------------------------------------------------- crashing trials


def drawn(trials, spec):
    """The trials whose config draws ``spec``'s fault: what the sweep must show."""
    from sweeplab.trainables.freq import FreqConfig

    fault = faults.parse(spec)[0]
    configs = {
        t: FreqConfig.from_dict({k[7:]: v for k, v in row.items() if k.startswith("config/")}).to_dict()
        for t, row in trials.set_index("trial_id").to_dict("index").items()
    }
    return {t for t, c in configs.items() if faults._drawn(fault, c)}


# the random searcher samples every config up front (from the seed), so which trials a fault
# draws does not depend on the order results come back in
CRASH_SPACE = SPACE.replace(f"num_samples: {SAMPLES}", "num_samples: 10").replace("method: bayes", "method: random")


@pytest.mark.slow
def test_crashing_and_diverging_trials_are_recorded_and_the_sweep_completes(tmp_path, storage, monkeypatch, capsys):
    space = tmp_path / "crash.yaml"
    space.write_text(CRASH_SPACE)
    monkeypatch.setenv(faults.ENV, "raise@3:0.1,nan@3:0.05")
    assert main(["tune", "freq", "--space", str(space), "--storage", str(storage), "--name", "c", "--quiet"]) == 0
    trials, history = frames(storage / "c")
    crashed, diverged = drawn(trials, "raise@3:0.1"), drawn(trials, "nan@3:0.05") - drawn(trials, "raise@3:0.1")
    assert len(crashed) == len(diverged) == 1  # 20 % of the 10 trials, one of each (the draws are seeded)
    status = trials.set_index("trial_id")
    assert set(status.index[status["status"] == "ERROR"]) == crashed | diverged
    assert all("InjectedFault: injected fault: trial crashed at epoch 3" in status.loc[t, "error"] for t in crashed)
    assert all("TrialDiverged: loss became nan at epoch 3" in status.loc[t, "error"] for t in diverged)
    assert (status.loc[list(set(status.index) - crashed - diverged), "iterations"] == EPOCHS).all()
    # analysis lists the failures with their errors
    capsys.readouterr()
    assert main(["analyze", str(storage / "c")]) == 0
    out = capsys.readouterr().out
    assert out.count("failed: sweeplab.faults.InjectedFault: injected fault: trial crashed at epoch 3") == len(crashed)
    assert out.count("diverged: loss became nan at epoch 3") == len(diverged)


@pytest.mark.slow
def test_max_failures_restarts_a_crashed_trial_from_its_last_checkpoint(tmp_path, storage, monkeypatch):
    space = tmp_path / "crash.yaml"
    space.write_text(CRASH_SPACE)
    monkeypatch.setenv(faults.ENV, "raise@3:0.2")
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
                "m",
                "--max-failures",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    trials, history = assert_complete(storage / "m", n=10)
    crashed = drawn(trials, "raise@3:0.2")
    assert crashed
    status = trials.set_index("trial_id")
    assert (status.loc[list(crashed), "restarts"] == 1).all()
    assert status.loc[list(set(status.index) - crashed), "restarts"].isna().all()
    assert all("InjectedFault" in status.loc[t, "last_error"] for t in crashed)
    for t in crashed:  # epochs 1-2 ran before the crash; 3-4 after a restart from the epoch-2 checkpoint
        starts = history[history["trial_id"] == t].sort_values("epoch")["started_at"].tolist()
        assert starts[0] == starts[1] < starts[2] == starts[3], starts


# ---------------------------------------------------------------- dead worker


def _trial_actors() -> list[int]:
    """Pids of this test process's descendants that are Tune trial actors (by their title)."""
    parents, titles = {}, {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    titles[int(entry)] = f.read().decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue

    def mine(pid):
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == os.getpid():
                return True
        return False

    return [pid for pid, title in titles.items() if "ImplicitFunc" in title and mine(pid)]


@pytest.mark.slow
def test_a_killed_trial_actor_restarts_from_its_checkpoint(space, storage):
    sweep = storage / "w"
    killed = []

    def kill_one_actor_mid_trial():
        while not done.wait(0.2) and not killed:
            try:
                rows = store.read_tables(str(sweep))[1]
            except (OSError, ValueError):  # a Parquet file being replaced
                continue
            if rows is None:
                continue
            latest = rows.sort_values("timestamp").groupby("pid")["training_iteration"].last()  # actors are reused
            pids = {int(pid) for pid, it in latest.items() if 2 <= it < EPOCHS}  # mid-trial, two epochs in
            for pid in sorted(pids & set(_trial_actors()))[:1]:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

    done = threading.Event()
    watcher = threading.Thread(target=kill_one_actor_mid_trial, daemon=True)
    watcher.start()
    try:
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
                    "w",
                    "--max-concurrent",
                    "2",
                    "--max-failures",
                    "3",
                    "--quiet",
                ]
            )
            == 0
        )
    finally:
        done.set()
        watcher.join()
    assert killed
    trials, history = assert_complete(sweep)
    # Ray sometimes counts one dead actor as two failures (its task and the actor itself)
    restarted = trials[trials["restarts"] >= 1]
    assert len(restarted) == 1 and restarted["last_error"].iloc[0].startswith(
        "WorkerDied: the trial's worker process was killed without an error of its own"
    )
    rows = history[history["trial_id"] == restarted["trial_id"].iloc[0]].sort_values("epoch")
    # the rows before the kill kept their start; the rest came from a new actor, restored, not rerun from epoch 1
    assert rows["started_at"].iloc[0] < rows["started_at"].iloc[-1]


# ---------------------------------------------------------------- determinism


@pytest.mark.slow
def test_the_same_seed_gives_the_same_configs_and_metrics(space, storage):
    runs = []
    for name in ("a", "b"):
        # one trial at a time: TPE's later suggestions depend on which results came back first
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
                    name,
                    "--seed",
                    "11",
                    "--max-concurrent",
                    "1",
                    "--quiet",
                ]
            )
            == 0
        )
        trials, _ = frames(storage / name)
        cols = ["config/hidden_size", "config/lr", "config/seed", "val_mse", "test_mse", "train_loss"]
        runs.append(trials[cols].sort_values(["config/lr"]).reset_index(drop=True))
    assert runs[0]["config/lr"].nunique() == SAMPLES and (runs[0]["config/seed"] == 11).all()
    pd.testing.assert_frame_equal(runs[0], runs[1], check_exact=True)


@pytest.mark.slow
def test_the_default_search_resumes_after_a_killed_driver(tmp_path, storage):
    """Promotion ASHA + RungTPE: the searcher's state comes back from Tune's, the scheduler's
    rungs from the results store; paused trials resume, nothing is lost or run twice."""
    space = tmp_path / "promotion.yaml"
    space.write_text(
        SPACE.replace("scheduler: fifo", "scheduler: {name: promotion, grace_period: 1, reduction_factor: 2}")
    )
    sweep = storage / "k"
    run_until_killed(
        [
            "tune",
            "freq",
            "--space",
            str(space),
            "--storage",
            str(storage),
            "--name",
            "k",
            "--max-concurrent",
            "2",
            "--num-cpus",
            "2",
            "--quiet",
        ],
        "kill@mid-epoch:3",
    )
    before, before_hist = frames(sweep)
    assert main(["resume", str(sweep)]) == 0
    after, after_hist = frames(sweep)
    assert set(after["status"]) == {"TERMINATED"}, after[["trial_id", "status"]]
    counts = after_hist.groupby(["trial_id", "training_iteration"]).size()
    assert (counts == 1).all(), counts[counts > 1]
    for trial_id, rows in after_hist.groupby("trial_id"):
        assert sorted(rows["training_iteration"]) == list(range(1, len(rows) + 1)), trial_id
    kept = before_hist[before_hist["trial_id"].isin(after["trial_id"])]
    assert set(zip(kept["trial_id"], kept["training_iteration"])) <= set(
        zip(after_hist["trial_id"], after_hist["training_iteration"])
    )
    assert after_hist.groupby("trial_id")["training_iteration"].max().sum() >= SAMPLES * EPOCHS  # the budget spent
