"""Shared fixtures. Tests that need Ray share one local, in-process Ray (2 CPUs, no
dashboard) so that a running cluster is never picked up; it is shut down at the end."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="rt", dir="/tmp"))
os.environ.setdefault("SWEEPLAB_CACHE", tempfile.mkdtemp(prefix="sweeplab-cache-"))  # not the user's cache
os.environ.pop("RAY_ADDRESS", None)

SHARED_DATA = Path(os.environ.get("SWEEPLAB_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    """A file of ../shared/data, or a clean skip where a fresh clone has none."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared sample data absent: {path}")
    return path


@pytest.fixture(autouse=True)
def settings_read_afresh():
    """sweeplab reads its environment variables once, as a command starts; each test is a
    new start (a test that sets one later calls settings.load() itself)."""
    from sweeplab import settings

    settings.load()


@pytest.fixture(scope="session")
def ray_local():
    import ray

    if not ray.is_initialized():  # a test run in-process before (main(["tune", ...])) may have started one
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def storage(tmp_path):
    return tmp_path / "sweeps"


@contextlib.contextmanager
def sweeplab_process(args: list[str], stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, **env):
    """``python -m sweeplab ARGS`` leading its own process group, with a short Ray temp dir of
    its own; on the way out that group (the driver and the Ray it started), and nothing
    else, is killed."""
    ray_tmp = tempfile.mkdtemp(prefix="rt", dir="/tmp")  # Ray's socket paths must stay short
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweeplab", *args],
        env={**os.environ, "RAY_TMPDIR": ray_tmp, **env},
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
    proc.ray_tmp = ray_tmp  # for tests that read Ray's session logs
    try:
        yield proc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=60)
        shutil.rmtree(ray_tmp, ignore_errors=True)
