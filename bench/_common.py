"""Helpers shared by the bench scripts (not part of the package)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, NamedTuple

SHARED_DATA = Path(os.environ.get("SWEEPLAB_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table of ``rows``; floats to 4 significant digits."""

    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


RESULTS = Path(__file__).resolve().parent / "results"
T0 = time.perf_counter()  # the bench script's start, for say()


def say(line: str) -> None:
    print(f"[{time.perf_counter() - T0:5.0f} s] {line}", flush=True)


def bench_session(out: Path, cpus: int, device: str):
    from sweeplab.local_training import LocalSession

    class BenchSession(LocalSession):
        """LocalSession keeping each row and the checkpoint's size, without copying the
        checkpoint (the engine has written it already; a Tune trial hands it to Tune)."""

        ckpt_mb = 0.0

        def report(self, metrics, checkpoint_dir):
            self.history.append({**metrics, "reported_at": time.perf_counter()})
            if checkpoint_dir:
                self.ckpt_mb = sum(f.stat().st_size for f in Path(checkpoint_dir).rglob("*") if f.is_file()) / 2**20

    return BenchSession(out, cpus=cpus, echo=lambda _: None, device=device)


class Sweep(NamedTuple):
    trials: Any  # the store's tables
    history: Any
    wall: float  # seconds, Ray's start included
    ray_start: float
    driver_cpu: float  # CPU seconds of the driver process (all its threads) while Tune ran
    processes: dict  # pid -> (what it is, CPU seconds) for the driver's descendants (ProcessCpu)


class ProcessCpu:
    """The CPU seconds (user + system) each descendant of this process spent, sampled every
    0.2 s in a thread: Ray's processes (raylet, GCS, agents, workers) are the driver's children
    when it starts a local Ray. A process that ends between two samples loses at most its last
    0.2 s. ``stop()`` returns pid -> (what it is, CPU seconds)."""

    # Ray's processes by name (its agents and workers are named ray::...), else by the script
    # their command line runs (log_monitor.py before monitor.py, which it contains)
    NAMES = {
        "raylet": "raylet",
        "gcs_server": "gcs_server",
        "ray::DashboardAgent": "dashboard agent",
        "ray::RuntimeEnvAgent": "runtime_env agent",
    }
    SCRIPTS = ("log_monitor.py", "monitor.py", "dashboard.py")

    def __init__(self):
        import threading

        import ray  # noqa: F401  (Ray ships psutil and puts it on the path as it is imported)
        import psutil

        self._me, self._seen, self._done = psutil.Process(), {}, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _what(self, proc) -> str:
        name = proc.name()
        if name in self.NAMES:
            return self.NAMES[name]
        if name.startswith("ray::"):
            return "worker"
        cmd = " ".join(proc.cmdline())
        return next((s.removesuffix(".py") for s in self.SCRIPTS if s in cmd), "other")

    def _run(self) -> None:
        import psutil

        while not self._done.is_set():
            for proc in self._me.children(recursive=True):
                try:
                    t = proc.cpu_times()  # what it is, again: a new worker takes its ray:: name once started
                    self._seen[proc.pid] = (self._what(proc), t.user + t.system)
                except psutil.Error:  # ended since the listing
                    pass
            self._done.wait(0.2)

    def stop(self) -> dict:
        self._done.set()
        self._thread.join()
        return dict(self._seen)


def cpu_split(processes: dict, trial_pids) -> tuple[float, dict]:
    """CPU seconds of the trials' worker processes (those ``trial_pids`` names), and of Ray's
    own (every other descendant: raylet, GCS, agents, idle workers) by kind."""
    trial_pids = set(trial_pids)
    trials, ray_kinds = 0.0, {}
    for pid, (what, cpu) in processes.items():
        if pid in trial_pids:
            trials += cpu
        else:
            ray_kinds[what] = ray_kinds.get(what, 0.0) + cpu
    return trials, ray_kinds


def timed_sweep(folder: str, name: str, space: str, cpus: int, **options) -> Sweep:
    """One sweep through sweeplab's own tuning path (a local Ray started in-process, as many
    trials at once as CPUs), every trial required to finish. Ray is shut down after."""
    import time

    import ray

    from sweeplab import plan, session, store, tuning

    space_file = Path(folder) / f"{name}.yaml"
    space_file.write_text(space)
    if not options.get("trainable"):
        options.setdefault("target", "freq")
    opts = plan.SweepOptions(
        space=str(space_file), storage=folder, name=name, verbose=0, num_cpus=cpus, max_concurrent=cpus, **options
    )
    sampler = ProcessCpu()
    t0 = time.perf_counter()
    prep = plan.prepare(opts)
    prep = session.start_ray(prep)
    ray_start = time.perf_counter() - t0
    cpu0 = time.process_time()
    tuning.run(prep)
    driver_cpu = time.process_time() - cpu0
    wall = time.perf_counter() - t0
    processes = sampler.stop()
    ray.shutdown()
    trials, history = store.read_tables(prep.uri, prep.metric, prep.mode)
    assert set(trials["status"]) == {"TERMINATED"}, trials["status"].value_counts()
    return Sweep(trials, history, wall, ray_start, driver_cpu, processes)


def machine() -> dict:
    """What the figures were measured on."""
    import platform

    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in _lines("/proc/cpuinfo") if ln.startswith("model name")),
        platform.processor(),
    )
    mem_kb = next((int(ln.split()[1]) for ln in _lines("/proc/meminfo") if ln.startswith("MemTotal")), 0)
    info = {
        "host": platform.node(),
        "os": platform.platform(),
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
    }
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return info


def versions() -> dict:
    import platform
    import subprocess

    out = {"python": platform.python_version()}
    for mod in ("torch", "ray", "optuna", "sweeplab"):
        try:
            out[mod] = __import__(mod).__version__
        except (ImportError, AttributeError):
            pass
    try:
        repo = Path(__file__).resolve().parents[1]
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo, capture_output=True, text=True
        ).stdout.strip()
        out["commit"] = commit + ("+dirty" if dirty else "")
    except OSError:
        pass
    return out


def record(bench: str, figures: dict) -> dict:
    """Append one run's figures to bench/results/BENCH.jsonl (with date, machine, versions
    and the command) and print them as one JSON line."""
    import datetime as dt
    import json
    import sys

    entry = {
        "bench": bench,
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": "python " + " ".join(["bench/" + Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": machine(),
        "versions": versions(),
        "figures": figures,
    }
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / f"{bench}.jsonl", "a") as f:
        f.write(json.dumps(entry, default=float) + "\n")
    print(json.dumps(entry, default=float))
    return entry


def _lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []
