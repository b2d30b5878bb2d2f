"""What a sweep costs over a bare loop: a 16-trial freq smoke sweep through Ray Tune
(local Ray in-process, 2 CPUs, 1 CPU a trial) against the same 16 configs trained one
after another in one process with no Ray.

    python bench/sweep_overhead.py [--trials 16] [--epochs 2]

Prints wall times, their ratio, and where the sweep's extra time goes.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table  # noqa: E402

from sweeplab import engine, registry, store, tuning  # noqa: E402
from sweeplab.runner import LocalSession, cached_data  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--cpus", type=int, default=2)
    args = p.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    exp = registry.get("freq")
    module = exp.load()
    t = {}
    with TemporaryDirectory() as tmp:
        opts = tuning.SweepOptions(target="freq", smoke=True, num_samples=args.trials, search="random", scheduler="fifo",
                                   sets=[f"epochs={args.epochs}"], storage=tmp, name="bench", verbose=0, num_cpus=args.cpus)
        t0 = time.perf_counter()
        prep = tuning.prepare(opts)
        tuning.start_ray(prep)  # options carry num_cpus
        t["ray_init"] = time.perf_counter() - t0
        tuning.run(prep)
        t["sweep_wall"] = time.perf_counter() - t0
        trials = store.read_frame(store.join(prep.uri, store.TRIALS))
        t["sum_trial_time"] = float(trials["wall_time_s"].sum())
        history = store.read_frame(store.join(prep.uri, store.HISTORY))
        # Tune's time per iteration minus the engine's own epoch time = report + checkpoint
        # (a trial's first iteration also holds its set-up, so the typical cost comes from the others)
        later = history[history["training_iteration"] > 1]
        per_report = float((later["time_this_iter_s"] - later["epoch_seconds"]).median())
        t["reports"] = len(history)
        t["report_overhead_sum"] = per_report * len(history)
        t["epoch_compute_sum"] = float(history["epoch_seconds"].sum())
        configs = [{c.removeprefix("config/"): r[c] for c in trials.columns if c.startswith("config/")}
                   for r in trials.to_dict("records")]

        t0 = time.perf_counter()
        for raw in configs:
            cfg = module.Config.from_dict({k: (v.item() if hasattr(v, "item") else v) for k, v in raw.items()})
            with TemporaryDirectory() as out:
                engine.fit(module.Task, cfg, cached_data(module, cfg), LocalSession(out, cpus=1, echo=lambda _: None),
                           engine.Monitor(exp.metric, exp.mode))
        t["bare_loop_wall"] = time.perf_counter() - t0

    ideal = t["sum_trial_time"] / args.cpus
    per_report = t["report_overhead_sum"] / t["reports"]
    rows = [
        {"what": f"sweep of {len(configs)} trials (Ray Tune, {args.cpus} CPUs, 1 a trial)", "seconds": t["sweep_wall"]},
        {"what": "  of which Ray start (ray.init)", "seconds": t["ray_init"]},
        {"what": "  sum of time inside trials (training + reporting + checkpoints)", "seconds": t["sum_trial_time"]},
        {"what": f"    epochs themselves (train + eval, {t['reports']} epochs)", "seconds": t["epoch_compute_sum"]},
        {"what": f"    reporting + checkpointing them ({per_report * 1000:.0f} ms an epoch, median)", "seconds": t["report_overhead_sum"]},
        {"what": "    trial set-up (data from the object store, model build)", "seconds": t["sum_trial_time"] - t["epoch_compute_sum"] - t["report_overhead_sum"]},
        {"what": f"  that time spread over {args.cpus} CPUs", "seconds": ideal},
        {"what": "  the rest: actor start-up, scheduling, result and state syncing", "seconds": t["sweep_wall"] - t["ray_init"] - ideal},
        {"what": "bare loop, same configs, one process, no Ray", "seconds": t["bare_loop_wall"]},
        {"what": "ratio sweep / bare loop", "seconds": t["sweep_wall"] / t["bare_loop_wall"]},
    ]
    print(table(rows, ["what", "seconds"]))


if __name__ == "__main__":
    main()
