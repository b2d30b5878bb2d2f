"""Warm start (``sweeplab tune --warm-start``) on LCBench's development tasks: sweeplab's
default search cold; warm-started from an earlier default sweep of the same task (another
search seed: the prior a user re-tuning the same problem has); warm-started from one of
another task (the next development task in the list: a prior that misleads); and, for the
record of the rule chosen, the same misleading prior steering the search throughout
instead of only until a rung has enough of the sweep's own scores. Random search beside
them, every method with the same epoch budget, 2 simulated workers (bench/_sq_sim.py).

    python bench/warm_start.py [--budget-trials 40] [--seeds 5] [--data DIR]

The freq and seqclf grids' warm start (from a sweep on another training seed) is in
``python bench/search_replay.py freq|seqclf``. Figures per method: mean normalised regret
at 100 % of the budget (bench/search_quality.py's, same reference) and the task-seeds it
ends strictly below random search; the last line is one JSON object, also appended to
bench/results/warm_start.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import RESULTS, record, table  # noqa: E402

METHODS = ("random", "cold", "warm_same_task", "warm_other_task", "warm_other_task_steering")


def steering_throughout():
    """RungTPE with the rule not taken: the warm-start studies before the sweep's own."""
    from sweeplab.search.rung_tpe import RungTPE

    class Steering(RungTPE):
        def _sources(self):
            top_down = list(reversed(self.milestones))
            return [self.warm[m] for m in top_down if m in self.warm] + [self.studies[m] for m in top_down]

    return Steering


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-trials", type=int, default=40, metavar="K", help="budget = K x 52 epochs (default 40)")
    p.add_argument("--seeds", type=int, default=5, metavar="N", help="seeds 0..N-1 (default 5)")
    p.add_argument(
        "--data",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "lcbench",
        metavar="DIR",
        help="the surrogate's folder (default: ../shared/benchmarks/lcbench beside the repo)",
    )
    args = p.parse_args(argv)
    if args.seeds < 1 or args.budget_trials < 1:
        p.error("--seeds and --budget-trials must be at least 1")
    if not (args.data / "model.onnx").is_file():
        p.error(f"--data {args.data}: no model.onnx there (the LCBench surrogate folder)")
    warnings.filterwarnings("ignore")
    import optuna

    import _sq_lcbench as lcb
    import _sq_methods as sqm
    from _sq_sim import Recorded, simulate

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    t0 = time.perf_counter()
    budget = sqm.BUDGET = args.budget_trials * lcb.MAX_EPOCHS
    tasks = lcb.DEV_TASKS
    benches = {t: lcb.LCBench(args.data, t) for t in tasks}
    refs = {t: lcb.reference(args.data, t, RESULTS / "search_quality_reference.json") for t in tasks}
    steering = steering_throughout()

    def run(method, task):
        return float(simulate(method, benches[task].curve, budget, sqm.WORKERS, lcb.MAX_EPOCHS).curve[-1])

    def earlier(task, seed):
        """An earlier default sweep of ``task`` (search seed 100 + seed), as its store keeps it."""
        sqm.seed_globals(100 + seed)
        recorded = Recorded(sqm.make("sweeplab", 100 + seed))
        simulate(recorded, benches[task].curve, budget, sqm.WORKERS, lcb.MAX_EPOCHS)
        return recorded.prior()

    def warm(seed, prior, cls=None):
        sqm.seed_globals(seed)
        return sqm.RayMethod(*sqm.sweeplab_parts(seed, prior=prior, searcher_cls=cls))

    finals = {m: {} for m in METHODS}
    for i, task in enumerate(tasks):
        other = tasks[(i + 1) % len(tasks)]
        for seed in range(args.seeds):
            same, misleading = earlier(task, seed), earlier(other, seed)
            made = {
                "random": lambda seed=seed: sqm.make("random", seed),
                "cold": lambda seed=seed: sqm.make("sweeplab", seed),
                "warm_same_task": lambda seed=seed, same=same: warm(seed, same),
                "warm_other_task": lambda seed=seed, misleading=misleading: warm(seed, misleading),
                "warm_other_task_steering": lambda seed=seed, misleading=misleading: warm(seed, misleading, steering),
            }
            for m in METHODS:
                finals[m][(task, seed)] = run(made[m](), task)
        print(
            f"task {task} (earlier sweep of another task: {other}): "
            + ", ".join(f"{m} {np.mean([finals[m][(task, s)] for s in range(args.seeds)]):.2f}" for m in METHODS),
            flush=True,
        )
    regret = lambda task, v: (refs[task]["best"] - v) / (refs[task]["best"] - refs[task]["worst"])  # noqa: E731
    methods = {
        m: {
            "regret_100": float(np.mean([regret(t, v) for (t, _), v in finals[m].items()])),
            "lost_to_random": int(sum(v < finals["random"][c] for c, v in finals[m].items())),
        }
        for m in METHODS
    }
    print(
        f"\nLCBench, {len(tasks)} development tasks x {args.seeds} seeds, budget {args.budget_trials} x 52 epochs, "
        f"{time.perf_counter() - t0:.0f} s"
    )
    print(table([{"method": m, **f} for m, f in methods.items()], ["method", "regret_100", "lost_to_random"]))
    record(
        "warm_start",
        {"tasks": list(tasks), "seeds": args.seeds, "budget_trials": args.budget_trials, "methods": methods},
    )


if __name__ == "__main__":
    main()
