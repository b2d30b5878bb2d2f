"""What a sweep costs over the same trainings in a bare loop.

N trials (default 16) of about S seconds each (default 10) through sweeplab's own tuning path
(`sweeplab tune`: a local Ray started in-process, 1 CPU and 1 torch thread a trial, as many
trials at once as CPUs), against the same configs trained one after another in one process
with no Ray, same epochs, same threads.

    ratio = sweep wall time / (sum of bare times / parallel slots)        goal <= 1.10

    python bench/overhead.py [--trials 16] [--seconds 10] [--cpus 2] [--search fifo|default]

``--search default`` runs the same trainings under the default search (promotion ASHA +
RungTPE over lr, a budget of --trials full-length trials' epochs): trials pause at rungs and
resume from their checkpoints, and each pause and resume is paid in the sweep's wall time.
Its ideal is the epochs the sweep trained (trials.parquet's epochs_trained), at the bare
loop's time an epoch (three full-length bare trainings; every config costs the same, only
lr differs), divided by the slots.

The bare trainings run one at a time on an otherwise idle machine; the sweep runs --cpus of
them at once, and on a machine whose cores share caches, memory bandwidth and clocks each
then runs slower. So the same trainings also run bare in --cpus processes at once (no Ray,
the same split of trials a slot): the machine's own parallel slowdown, which no tuning
layer can remove, against what the sweep adds on top of it (Ray's start, Tune, sweeplab).

Prints where the sweep's extra time goes, and appends the figures to bench/results/overhead.jsonl.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pandas as pd  # noqa: E402
from _common import cpu_split, record, table, timed_sweep  # noqa: E402

from sweeplab import engine, registry  # noqa: E402
from sweeplab.local_training import LocalSession  # noqa: E402

BASE = {"hidden_size": 32, "seq_length": 50, "lr_schedule": "none", "duration": 40.0}


def bare(trainable, exp, values: dict) -> float:
    """One training in this process, no Ray: the engine with a plain local session."""
    cfg = trainable.config.from_dict(values)
    data = trainable.load_data(cfg)  # a sweep builds it once in the driver; not timed here either
    t0 = time.perf_counter()
    with TemporaryDirectory() as out:
        engine.fit(
            trainable.task,
            cfg,
            data,
            LocalSession(out, cpus=1, echo=lambda _: None),
            engine.Monitor(exp.metric, exp.mode),
        )
    return time.perf_counter() - t0


def bare_share(lrs: list[float], epochs: int) -> list[float]:
    """One slot's share of the trainings, bare, in a process of its own."""
    exp = registry.get("freq")
    trainable = exp.load()
    bare(trainable, exp, {**BASE, "epochs": 1})  # first-call costs of a new process, as a reused actor has paid them
    return [bare(trainable, exp, {**BASE, "epochs": epochs, "lr": lr}) for lr in lrs]


def bare_parallel(lrs: list[float], epochs: int, slots: int) -> list[list[float]]:
    """The trainings bare in ``slots`` processes at once, trial i in slot i % slots."""
    with multiprocessing.get_context("spawn").Pool(slots) as pool:
        return pool.starmap(bare_share, [(lrs[i::slots], epochs) for i in range(slots)])


def where_cpu_went(sweep, cpus: int) -> tuple[list[dict], dict]:
    """The machine's CPU seconds over the sweep's wall time: the trials' processes, the driver
    while Tune ran, Ray's own processes. On a machine the trials fill, the driver's and Ray's
    share is taken from the trials."""
    trials_cpu, ray_kinds = cpu_split(sweep.processes, sweep.history["pid"].unique())
    ray_cpu = sum(ray_kinds.values())
    by_kind = ", ".join(f"{k} {v:.1f}" for k, v in sorted(ray_kinds.items(), key=lambda kv: -kv[1]))
    rows = [
        {"what": f"CPU the machine had in the sweep's wall time ({cpus} x wall)", "seconds": cpus * sweep.wall},
        {"what": "  used by the trials' worker processes", "seconds": trials_cpu},
        {
            "what": "  used by the driver while Tune ran (Tune, the searcher, sweeplab's store)",
            "seconds": sweep.driver_cpu,
        },
        {"what": f"  used by Ray's own processes ({by_kind})", "seconds": ray_cpu},
    ]
    figures = {
        "cpu_available_s": cpus * sweep.wall,
        "cpu_trials_s": trials_cpu,
        "cpu_driver_s": sweep.driver_cpu,
        "cpu_ray_s": ray_cpu,
        "cpu_ray_by_process_s": {k: round(v, 2) for k, v in ray_kinds.items()},
    }
    return rows, figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0, help="about how long one trial trains")
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument(
        "--search",
        choices=["fifo", "default"],
        default="fifo",
        help="fifo: a grid of --trials configs, none paused; default: promotion ASHA + RungTPE",
    )
    args = p.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    exp = registry.get("freq")
    trainable = exp.load()

    # calibrate: epochs so that a trial trains for about --seconds (after a warm-up: a first
    # training pays the process's one-time costs, which would make every trial too short)
    bare(trainable, exp, {**BASE, "epochs": 1})
    per_epoch = bare(trainable, exp, {**BASE, "epochs": 3}) / 3
    epochs = max(2, round(args.seconds / per_epoch))
    lrs = [round(1e-3 * (1 + i), 6) for i in range(args.trials)]  # same cost, different configs
    space = (
        f"experiment: freq\nmethod: grid\nmetric: {{name: val_mse, goal: minimize}}\nscheduler: fifo\n"
        f"fixed: {{epochs: {epochs}, " + ", ".join(f"{k}: {v}" for k, v in BASE.items()) + "}\n"
        f"parameters:\n  lr: {{values: {lrs}}}\n"
    )

    if args.search == "default":
        return default_search(args, trainable, exp, epochs)
    with TemporaryDirectory() as tmp:
        sweep = timed_sweep(tmp, "overhead", space, args.cpus)
    trials, history, sweep_wall, ray_start = sweep.trials, sweep.history, sweep.wall, sweep.ray_start
    assert len(trials) == args.trials

    bare_times = [bare(trainable, exp, {**BASE, "epochs": epochs, "lr": lr}) for lr in lrs]
    ideal = sum(bare_times) / args.cpus
    ratio = sweep_wall / ideal
    shares = bare_parallel(lrs, epochs, args.cpus)
    parallel = max(sum(share) for share in shares)  # the slowest slot ends the bare parallel run
    # inside the sweep: the epochs themselves, Tune's report + checkpoint per epoch, trial set-up
    in_trials = float(trials["wall_time_s"].sum())
    epochs_in_sweep = float(history["epoch_seconds"].sum())
    extra = history["time_this_iter_s"] - history["epoch_seconds"]  # what Tune timed beyond the engine's epoch
    first = history["training_iteration"] == 1  # a trial's first iteration also holds its set-up
    per_report = float(extra[~first].median()) if (~first).any() else 0.0
    reporting = per_report * len(history)
    setup = float(extra[first].sum()) - per_report * int(first.sum())
    rows = [
        {"what": f"sweep: {args.trials} trials x {epochs} epochs, {args.cpus} at once (wall)", "seconds": sweep_wall},
        {"what": "  Ray start (ray.init, in-process)", "seconds": ray_start},
        {"what": "  time inside trials, summed", "seconds": in_trials},
        {"what": "    epochs (train + validation), summed", "seconds": epochs_in_sweep},
        {
            "what": f"    report + checkpoint after each epoch ({per_report * 1000:.0f} ms, median), summed",
            "seconds": reporting,
        },
        {"what": "    trial set-up (data from the object store, model, session), summed", "seconds": setup},
        {"what": "bare loop: the same trainings one after another, summed", "seconds": sum(bare_times)},
        {"what": f"  divided by {args.cpus} slots (the ideal sweep)", "seconds": ideal},
        {"what": "ratio sweep / ideal (goal <= 1.10)", "seconds": ratio},
        {
            "what": "  the same without Ray's start (a sweep on a running cluster)",
            "seconds": (sweep_wall - ray_start) / ideal,
        },
        {
            "what": f"bare in {args.cpus} processes at once, no Ray (the slowest slot's trainings, summed)",
            "seconds": parallel,
        },
        {"what": "  the machine's own parallel slowdown: that / ideal", "seconds": parallel / ideal},
        {"what": "  what the sweep adds on top: sweep / bare parallel", "seconds": sweep_wall / parallel},
        {"what": "    without Ray's start", "seconds": (sweep_wall - ray_start) / parallel},
    ]
    cpu, cpu_figures = where_cpu_went(sweep, args.cpus)
    print(table(rows + cpu, ["what", "seconds"]))
    slowdown = epochs_in_sweep / sum(bare_times)
    print(
        f"\nepochs in the sweep ran {slowdown:.3f}x as long as the whole bare trainings "
        f"({args.cpus} trainings sharing the machine's memory and caches, plus the driver)"
    )
    record(
        "overhead",
        {
            "trials": args.trials,
            "epochs": epochs,
            "cpus": args.cpus,
            "trial_seconds_bare": sum(bare_times) / len(bare_times),
            "sweep_wall_s": sweep_wall,
            "ray_start_s": ray_start,
            "bare_sum_s": sum(bare_times),
            "ideal_s": ideal,
            "ratio": ratio,
            "bare_parallel_s": parallel,
            "machine_parallel_slowdown": parallel / ideal,
            "ratio_to_bare_parallel": sweep_wall / parallel,
            "ratio_to_bare_parallel_without_ray_start": (sweep_wall - ray_start) / parallel,
            "ratio_without_ray_start": (sweep_wall - ray_start) / ideal,
            "inside_trials_s": in_trials,
            "epochs_in_sweep_s": epochs_in_sweep,
            "report_checkpoint_s": reporting,
            "report_checkpoint_per_epoch_s": per_report,
            "trial_setup_s": setup,
            **cpu_figures,
        },
    )


def default_search(args, trainable, exp, epochs: int) -> None:
    """The same trainings under the default search: pauses and resumes included."""
    space = (
        f"experiment: freq\nmethod: bayes\nmetric: {{name: val_mse, goal: minimize}}\nscheduler: promotion\n"
        f"num_samples: {args.trials}\n"
        f"fixed: {{epochs: {epochs}, " + ", ".join(f"{k}: {v}" for k, v in BASE.items()) + "}\n"
        "parameters:\n  lr: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-2}\n"
    )
    with TemporaryDirectory() as tmp:
        sweep = timed_sweep(tmp, "overhead", space, args.cpus)
        trials, history, sweep_wall, ray_start = sweep.trials, sweep.history, sweep.wall, sweep.ray_start
        decisions = pd.read_parquet(Path(tmp) / "overhead" / "decisions.parquet")
    per_epoch = sum(bare(trainable, exp, {**BASE, "epochs": epochs, "lr": 1e-3 * (1 + i)}) for i in range(3)) / (
        3 * epochs
    )
    trained = int(trials["epochs_trained"].sum())
    ideal = per_epoch * trained / args.cpus
    # the machine's own parallel slowdown: the same three trainings a slot, --cpus slots at once, no Ray
    shares = bare_parallel([1e-3 * (1 + i) for i in range(3 * args.cpus)], epochs, args.cpus)
    slowdown = sum(map(sum, shares)) / (3 * args.cpus * epochs) / per_epoch
    pauses, resumes = int((decisions["action"] == "pause").sum()), int((decisions["action"] == "promote").sum())
    processes = int(history["pid"].nunique())  # Tune reuses actors: a process's imports are paid once
    rows = [
        {
            "what": f"sweep, default search: {len(trials)} trials, {trained} epochs trained (budget {args.trials} x "
            f"{epochs}), {pauses} pauses, {resumes} resumes, {args.cpus} at once, in {processes} worker "
            "processes (wall)",
            "seconds": sweep_wall,
        },
        {"what": "  Ray start (ray.init, in-process)", "seconds": ray_start},
        {
            "what": "  epochs (train + validation) inside the trials, summed",
            "seconds": float(history["epoch_seconds"].sum()),
        },
        {
            "what": f"bare loop: {per_epoch * 1000:.0f} ms an epoch x {trained} epochs / {args.cpus} slots (the ideal)",
            "seconds": ideal,
        },
        {"what": "ratio sweep / ideal (goal <= 1.10)", "seconds": sweep_wall / ideal},
        {"what": "  the same without Ray's start", "seconds": (sweep_wall - ray_start) / ideal},
        {
            "what": f"the machine's own parallel slowdown: an epoch bare, {args.cpus} processes at once, no Ray / alone",
            "seconds": slowdown,
        },
        {"what": "  what the sweep adds on top: sweep / (ideal x that)", "seconds": sweep_wall / (ideal * slowdown)},
        {"what": "    without Ray's start", "seconds": (sweep_wall - ray_start) / (ideal * slowdown)},
    ]
    cpu, cpu_figures = where_cpu_went(sweep, args.cpus)
    print(table(rows + cpu, ["what", "seconds"]))
    record(
        "overhead",
        {
            "search": "default",
            "trials": len(trials),
            "budget_trials": args.trials,
            "epochs": epochs,
            "cpus": args.cpus,
            "epochs_trained": trained,
            "pauses": pauses,
            "resumes": resumes,
            "worker_processes": processes,
            "bare_epoch_s": per_epoch,
            "sweep_wall_s": sweep_wall,
            "ray_start_s": ray_start,
            "ideal_s": ideal,
            "ratio": sweep_wall / ideal,
            "ratio_without_ray_start": (sweep_wall - ray_start) / ideal,
            "machine_parallel_slowdown": slowdown,
            "ratio_to_bare_parallel": sweep_wall / (ideal * slowdown),
            "ratio_to_bare_parallel_without_ray_start": (sweep_wall - ray_start) / (ideal * slowdown),
            **cpu_figures,
        },
    )


if __name__ == "__main__":
    main()
