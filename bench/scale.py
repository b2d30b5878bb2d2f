"""Many tiny trials: what Tune and sweeplab cost per trial when the training is nearly free.

N trials (default 1,000) of one tiny epoch each (freq, a 4-unit LSTM on 0.2 s of signal)
through sweeplab's own tuning path on a local Ray with 2 CPUs, against the theoretical
minimum: N x (one such training, measured in a bare loop: model, one epoch, validation, test,
checkpoint) / CPUs.

    ratio = sweep wall time / theoretical minimum                       goal <= 1.5

    python bench/scale.py [--trials 1000] [--cpus 2]

It also runs the same number of trials of a trainable that does nothing but report once,
through the same path (sweeplab's --trainable): the floor per trial of Tune as sweeplab
drives it. What the sweep costs beyond that floor and the bare training is sweeplab's. And
the same do-nothing trials through a plain ``tune.Tuner`` with Ray's defaults (its loggers,
its experiment-state period) and the same reuse_actors / concurrency: Ray Tune's own floor,
with no sweeplab code at all.

Prints the per-trial costs and appends the figures to bench/results/scale.jsonl.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import record, table, timed_sweep  # noqa: E402

from sweeplab import engine, registry  # noqa: E402
from sweeplab.local_training import LocalSession  # noqa: E402

TINY = {"epochs": 1, "hidden_size": 4, "seq_length": 10, "duration": 0.2, "lr_schedule": "none"}


NOOP = """from ray import tune


def objective(config):
    tune.report({"val_mse": config["lr"]})
"""


def plain_tune_floor(trials: int, cpus: int) -> float:
    """Seconds for ``trials`` do-nothing trials through a plain Tuner, Ray's defaults, on a
    fresh local Ray (its start not counted)."""
    import ray
    from ray import tune

    def objective(config):
        tune.report({"val_mse": config["lr"]})

    ours = {
        k: os.environ.pop(k)
        for k in ("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "TUNE_GLOBAL_CHECKPOINT_S")
        if k in os.environ
    }  # what sweeplab's init_ray set: Ray's defaults here
    ray.init(address="local", num_cpus=cpus, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    try:
        with TemporaryDirectory() as tmp:
            tuner = tune.Tuner(
                tune.with_resources(objective, {"cpu": 1}),
                param_space={"lr": tune.loguniform(1e-4, 1e-2)},
                tune_config=tune.TuneConfig(
                    metric="val_mse",
                    mode="min",
                    num_samples=trials,
                    reuse_actors=True,
                    search_alg=tune.search.BasicVariantGenerator(max_concurrent=cpus),
                ),
                run_config=tune.RunConfig(storage_path=tmp, name="plain", verbose=0),
            )
            t0 = time.perf_counter()
            tuner.fit()
            return time.perf_counter() - t0
    finally:
        ray.shutdown()
        os.environ.update(ours)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=1000)
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument(
        "--default-search",
        action="store_true",
        help="sweeplab's default search (promotion ASHA + RungTPE, whose budget is num_samples epochs) "
        "instead of random + fifo: what the scheduler and searcher cost a trial",
    )
    args = p.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    exp = registry.get("freq")
    trainable = exp.load()

    # one tiny training, bare: the floor a trial cannot go under
    cfg = trainable.config.from_dict({**TINY, "lr": 1e-3})
    data = trainable.load_data(cfg)
    times = []
    with TemporaryDirectory() as out:
        for i in range(30):
            t0 = time.perf_counter()
            engine.fit(
                trainable.task,
                cfg,
                data,
                LocalSession(Path(out) / str(i), cpus=1, echo=lambda _: None),
                engine.Monitor(exp.metric, exp.mode),
            )
            times.append(time.perf_counter() - t0)
    per_trial = sorted(times)[len(times) // 2]
    minimum = args.trials * per_trial / args.cpus

    def space(search: str) -> str:
        return (
            "experiment: freq\n" + search + "metric: {name: val_mse, goal: minimize}\n"
            "fixed: {" + ", ".join(f"{k}: {v}" for k, v in TINY.items()) + "}\n"
            "parameters:\n  lr: {distribution: log_uniform_values, min: 1.0e-4, max: 1.0e-2}\n"
        )

    fifo = space("method: random\nscheduler: fifo\n")
    if args.default_search:
        default_search(args, space("method: bayes\nscheduler: promotion\n"), fifo, per_trial, minimum)
        return
    with TemporaryDirectory() as tmp:
        sweep = timed_sweep(tmp, "scale", fifo, args.cpus, num_samples=args.trials)
        wall, ray_start = sweep.wall, sweep.ray_start
        noop = Path(tmp) / "noop.py"
        noop.write_text(NOOP)
        floor_space = (
            fifo.split("fixed:")[0].replace("experiment: freq\n", "") + "parameters:" + fifo.split("parameters:")[1]
        )
        floor_sweep = timed_sweep(
            tmp, "floor", floor_space, args.cpus, num_samples=args.trials, trainable=f"{noop}:objective"
        )
        floor_wall, floor_start = floor_sweep.wall, floor_sweep.ray_start
    plain_wall = plain_tune_floor(args.trials, args.cpus)
    per_slot = (wall - ray_start) * args.cpus / args.trials  # wall a trial holds a CPU for
    floor = (floor_wall - floor_start) * args.cpus / args.trials
    plain = plain_wall * args.cpus / args.trials
    rows = [
        {"what": "one tiny training, bare (median of 30)", "value": per_trial},
        {"what": f"theoretical minimum: {args.trials} x that / {args.cpus} CPUs", "value": minimum},
        {"what": f"sweep of {args.trials} trials (wall, Ray start included)", "value": wall},
        {"what": "  Ray start", "value": ray_start},
        {"what": "  a CPU's wall per trial", "value": per_slot},
        {"what": "  the driver's CPU per trial", "value": sweep.driver_cpu / args.trials},
        {"what": "  Tune's floor per trial as sweeplab drives it (a trainable that only reports once)", "value": floor},
        {"what": "    the same trials through a plain tune.Tuner with Ray's defaults", "value": plain},
        {"what": "  the bare training", "value": per_trial},
        {"what": "  sweeplab's own per trial (the rest)", "value": per_slot - floor - per_trial},
        {"what": "ratio sweep / minimum (goal <= 1.5)", "value": wall / minimum},
        {
            "what": "ratio if trials held no Tune floor: (wall - floor x trials / CPUs) / minimum",
            "value": (wall - floor * args.trials / args.cpus) / minimum,
        },
    ]
    print(table(rows, ["what", "value"]))
    record(
        "scale",
        {
            "search": "fifo+random",
            "trials": args.trials,
            "cpus": args.cpus,
            "bare_trial_s": per_trial,
            "minimum_s": minimum,
            "wall_s": wall,
            "ray_start_s": ray_start,
            "cpu_wall_per_trial_s": per_slot,
            "driver_cpu_per_trial_s": sweep.driver_cpu / args.trials,
            "tune_floor_per_trial_s": floor,
            "plain_tune_floor_per_trial_s": plain,
            "sweeplab_per_trial_s": per_slot - floor - per_trial,
            "ratio": wall / minimum,
        },
    )


def default_search(args, default: str, fifo: str, per_trial: float, minimum: float) -> None:
    """The same tiny trials through the default search (promotion ASHA + RungTPE, its budget
    ``trials`` one-epoch trials) and through fifo + random: what the default scheduler and
    searcher cost a trial, as the driver's CPU and as wall."""
    with TemporaryDirectory() as tmp:
        ours = timed_sweep(tmp, "default", default, args.cpus, num_samples=args.trials)
        base = timed_sweep(tmp, "fifo", fifo, args.cpus, num_samples=args.trials)
    n_ours, n_base = len(ours.trials), len(base.trials)
    cpu_ours, cpu_base = ours.driver_cpu / n_ours, base.driver_cpu / n_base
    wall_ours = (ours.wall - ours.ray_start) * args.cpus / n_ours
    wall_base = (base.wall - base.ray_start) * args.cpus / n_base
    rows = [
        {"what": "one tiny training, bare (median of 30)", "default": per_trial, "fifo + random": per_trial},
        {"what": "trials run", "default": n_ours, "fifo + random": n_base},
        {"what": "sweep wall (Ray start included)", "default": ours.wall, "fifo + random": base.wall},
        {"what": "a CPU's wall per trial", "default": wall_ours, "fifo + random": wall_base},
        {"what": "the driver's CPU per trial", "default": cpu_ours, "fifo + random": cpu_base},
        {"what": "ratio sweep / minimum", "default": ours.wall / minimum, "fifo + random": base.wall / minimum},
    ]
    print(table(rows, ["what", "default", "fifo + random"]))
    print(
        f"the default search costs the driver {1000 * (cpu_ours - cpu_base):.1f} ms of CPU a trial "
        f"and a CPU {1000 * (wall_ours - wall_base):.1f} ms of wall a trial beyond fifo + random"
    )
    record(
        "scale",
        {
            "search": "promotion+rung_tpe",
            "trials": n_ours,
            "cpus": args.cpus,
            "bare_trial_s": per_trial,
            "wall_s": ours.wall,
            "ray_start_s": ours.ray_start,
            "cpu_wall_per_trial_s": wall_ours,
            "driver_cpu_per_trial_s": cpu_ours,
            "ratio": ours.wall / minimum,
            "fifo_random": {
                "trials": n_base,
                "wall_s": base.wall,
                "cpu_wall_per_trial_s": wall_base,
                "driver_cpu_per_trial_s": cpu_base,
            },
            "search_cpu_per_trial_s": cpu_ours - cpu_base,
            "search_wall_per_trial_s": wall_ours - wall_base,
        },
    )


if __name__ == "__main__":
    main()
