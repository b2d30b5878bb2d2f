"""One driver a sweep folder: twin `tune --name same` and a second `resume` of a live
sweep are refused in one line; a killed driver's lock is taken over on its own host."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from sweeplab.cli import main
from sweeplab.errors import UserError
from sweeplab.lock import LOCK, SweepLock

from conftest import sweeplab_process


def test_a_live_lock_is_refused_a_dead_ones_is_taken_over_and_another_hosts_is_named(tmp_path, capsys):
    sweep = tmp_path / "s"
    first = SweepLock(str(sweep), "sweeplab tune s")
    first.create_folder()
    with pytest.raises(UserError, match="already exists"):
        SweepLock(str(sweep), "sweeplab tune s").create_folder()
    first.acquire()
    with pytest.raises(UserError, match=rf"{sweep} is in use by `sweeplab tune s` \(pid {os.getpid()} on "):
        SweepLock(str(sweep), "sweeplab resume s").acquire()
    first.release()
    assert not (sweep / LOCK).exists()

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (sweep / LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "command": "sweeplab tune s"}))
    with SweepLock(str(sweep), "sweeplab resume s").acquire() as lock:
        assert json.loads((sweep / LOCK).read_text())["pid"] == os.getpid() and lock.mine
    assert f"taking over the lock of pid {dead.pid}" in capsys.readouterr().err
    assert not (sweep / LOCK).exists()

    (sweep / LOCK).write_text(json.dumps({"pid": 1, "host": "elsewhere", "command": "sweeplab tune s"}))
    with pytest.raises(UserError, match=rf"pid 1 on elsewhere.*if that driver is dead delete {sweep / LOCK}"):
        SweepLock(str(sweep), "sweeplab resume s").acquire()


def test_twin_sweeps_and_a_second_resume_are_refused_while_the_first_runs(tmp_path, capsys):
    storage = tmp_path / "sweeps"
    argv = [
        "tune",
        "freq",
        "--smoke",
        "--set",
        "epochs=200",
        "--set",
        "seq_length=50",
        "--storage",
        str(storage),
        "--name",
        "same",
        "--quiet",
    ]
    with sweeplab_process(argv) as proc:
        deadline = time.time() + 120
        while not (storage / "same" / "sweep.json").exists() and time.time() < deadline:
            assert proc.poll() is None
            time.sleep(0.5)
        assert main(argv) == 2
        assert "already exists" in capsys.readouterr().err
        assert main(["resume", str(storage / "same")]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"sweeplab: error: {storage / 'same'} is in use by `sweeplab tune same` (pid {proc.pid} ")
        assert len(err.splitlines()) == 1


@pytest.mark.slow
def test_a_sweep_on_file_uri_storage_resumes_from_another_directory(tmp_path, monkeypatch):
    uri = f"file://{tmp_path}/sweeps"
    assert main(["tune", "freq", "--smoke", "--storage", uri, "--name", "u", "--quiet"]) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the stored space.yaml is read, not a path relative to where tune ran
    assert main(["resume", f"{uri}/u"]) == 0
    assert not (tmp_path / "sweeps" / "u" / LOCK).exists()


def test_on_uri_storage_a_dead_drivers_lock_is_taken_over_and_a_live_one_refused(tmp_path):
    sweep = tmp_path / "u"
    sweep.mkdir()
    uri = f"file://{sweep}"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (sweep / LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "command": "sweeplab tune u"}))
    with SweepLock(uri, "sweeplab resume u").acquire():
        assert json.loads((sweep / LOCK).read_text())["pid"] == os.getpid()
        with pytest.raises(UserError, match=rf"is in use by `sweeplab resume u` \(pid {os.getpid()} "):
            SweepLock(uri, "sweeplab resume u").acquire()
    assert not (sweep / LOCK).exists()


@pytest.mark.parametrize("left", [b"", b"\x00\x00garbage", b'{"pid": 12'])
def test_an_empty_or_garbage_lock_is_a_dead_drivers_and_taken_over(left, tmp_path):
    """What a driver killed between creating the lock file and writing it leaves (issue 34.5)."""
    sweep = tmp_path / "s"
    sweep.mkdir()
    (sweep / LOCK).write_bytes(left)
    SweepLock(str(sweep), "sweeplab resume s").refuse_if_held()  # not "in use by ? (pid ? on ?)"
    with SweepLock(str(sweep), "sweeplab resume s").acquire() as lock:
        assert json.loads((sweep / LOCK).read_text()) == lock.mine
    assert not (sweep / LOCK).exists()


def test_two_drivers_taking_over_one_stale_lock_at_once_one_wins(tmp_path):
    """Issue 34.5: a late driver used to unlink the winner's fresh lock (5 rounds in 60)."""
    import threading

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for round_ in range(40):
        sweep = tmp_path / f"s{round_}"
        sweep.mkdir()
        (sweep / LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "command": "x"}))
        won, refused, start = [], [], threading.Barrier(4)

        def take(sweep, start, won, refused):
            lock = SweepLock(str(sweep), "sweeplab resume")
            start.wait()
            try:
                won.append(lock.acquire())
            except UserError as e:
                refused.append(str(e))

        threads = [threading.Thread(target=take, args=(sweep, start, won, refused)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1 and len(refused) == 3, (round_, refused)
        assert json.loads((sweep / LOCK).read_text()) == won[0].mine  # the winner's lock is the file there
        won[0].release()


def test_a_storage_path_that_is_a_file_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match=f"--storage {tmp_path / 'file'}: exists and is not a folder"):
        SweepLock(str(tmp_path / "file" / "s"), "sweeplab tune s").create_folder()
