"""The search-quality bench's LCBench runs and its per-method figures
(bench/search_quality.py says what they mean): every (method, task, seed) simulated on
the epoch clock (``_sq_sim``) or the wall clock (``_sq_wall``), then ranks, regrets,
lost_to_random and time_to_random_best over task-seeds (the real-training benchmarks'
runs are summarised here too)."""

from __future__ import annotations

import math
import time

import numpy as np
from _common import RESULTS

import _sq_lcbench as lcb

FRACTIONS = (0.25, 0.5, 1.0)


def run_all(args, names: list[str], budget: int, costs=None) -> tuple[dict, dict, dict]:
    """Every (canonical method, task, seed): its Run, on the epoch clock, or on the wall
    clock where ``costs`` (a _sq_wall.Costs) are given. Returns runs, references, and the
    canonical names with each task's time budget (the wall clock)."""
    import _sq_methods as sqm
    from _sq_sim import simulate
    from _sq_wall import simulate_wall

    sqm.BUDGET, sqm.WORKERS, sqm.CHECKPOINT = budget, args.workers, not args.no_checkpoint
    canon = list(dict.fromkeys(sqm.canonical(n) for n in names))
    runs: dict[tuple[str, str, int], object] = {}
    refs, median_s, budget_s = {}, {}, {}
    cache = RESULTS / "search_quality_reference.json"
    for task in args.tasks:
        t0 = time.perf_counter()
        refs[task] = lcb.reference(args.data, task, cache)
        if time.perf_counter() - t0 > 1:
            print(
                f"task {task}: reference computed in {time.perf_counter() - t0:.0f} s "
                f"(best {refs[task]['best']:.2f}, worst {refs[task]['worst']:.2f})",
                flush=True,
            )
        bench = lcb.LCBench(args.data, task)
        if costs is not None:
            median_s[task] = bench.median_trial_seconds()
            budget_s[task] = args.budget_trials * median_s[task] / args.workers
            print(
                f"task {task}: median full-length trial {median_s[task]:.1f} s, time budget "
                f"{args.budget_trials} x {median_s[task]:.1f} / {args.workers} = {budget_s[task]:.0f} s",
                flush=True,
            )
        sqm.TIME_BUDGET = budget_s.get(task)
        for seed in range(args.seeds):
            line = []
            for name in canon:
                t0 = time.perf_counter()
                method = sqm.make(name, seed)
                if costs is None:
                    run = simulate(
                        method, bench.curve, budget, args.workers, lcb.MAX_EPOCHS, checkpoint=not args.no_checkpoint
                    )
                else:
                    run = simulate_wall(
                        method,
                        bench.curve,
                        bench.seconds,
                        budget_s[task],
                        args.workers,
                        lcb.MAX_EPOCHS,
                        costs,
                        checkpoint=not args.no_checkpoint,
                    )
                    # nothing reported yet hands the user nothing: the worst full-length random config's value
                    run.curve = np.where(np.isnan(run.curve), refs[task]["worst"], run.curve)
                run.wall_s = time.perf_counter() - t0
                runs[(name, task, seed)] = run
                line.append(f"{name} {run.curve[-1]:.2f} ({run.wall_s:.1f}s)")
            print(f"task {task} seed {seed}: " + ", ".join(line), flush=True)
    return runs, refs, {"canonical": canon, "median_trial_s": median_s, "budget_s": budget_s}


def summarise(names, canon, runs, refs, tasks, seeds, budget, budget_s=None, workers=2) -> dict:
    """Per method, its figures over task-seeds; ``budget``: the curves' length (epochs, or
    the wall clock's instants), ``budget_s``: each task's time budget (the wall clock; none
    on the epoch clock)."""
    from scipy.stats import rankdata

    import _sq_methods as sqm
    from _sq_curves import time_to_reach

    idx = {f: max(1, math.ceil(f * budget)) - 1 for f in FRACTIONS}
    cells = [(t, s) for t in tasks for s in range(seeds)]

    def regret(task, value):
        r = refs[task]
        return (r["best"] - value) / (r["best"] - r["worst"])

    rank = {m: {f: [] for f in FRACTIONS} for m in canon}
    for t, s in cells:
        for f, i in idx.items():
            vals = np.array([runs[(m, t, s)].curve[i] for m in canon])
            for m, r in zip(canon, rankdata(-vals, method="average")):
                rank[m][f].append(float(r))

    def used(run, task):
        return run.seconds_used / budget_s[task] if budget_s else run.epochs_used / budget

    out = {}
    for m in canon:
        finals = {(t, s): runs[(m, t, s)].curve[-1] for t, s in cells}
        lost = sum(finals[c] < runs[("random", *c)].curve[-1] for c in cells)
        reach = [time_to_reach(runs[(m, *c)].curve, runs[("random", *c)].curve[-1]) for c in cells]
        per_task = {t: float(np.mean([regret(t, finals[(t, s)]) for s in range(seeds)])) for t in tasks}
        out[m] = {
            "mean_rank": float(np.mean(rank[m][1.0])),
            "regret": {
                str(int(f * 100)): float(np.mean([regret(t, runs[(m, t, s)].curve[i]) for t, s in cells]))
                for f, i in idx.items()
            },
            "lost_to_random": int(lost),
            "time_to_random_best": {
                "mean": float(np.mean([1.0 if r is None else r for r in reach])),
                "never": sum(r is None for r in reach),
            },
            "rank": {str(int(f * 100)): float(np.mean(rank[m][f])) for f in FRACTIONS},
            "regret_per_task_100": per_task,
            "epochs_used": float(np.mean([runs[(m, t, s)].epochs_used for t, s in cells])),
            "budget_used": float(np.mean([used(runs[(m, t, s)], t) for t, s in cells])),
            "retrained_epochs": float(np.mean([runs[(m, t, s)].retrained for t, s in cells])),
            "trials": float(np.mean([runs[(m, t, s)].trials for t, s in cells])),
            "full_trials": float(np.mean([runs[(m, t, s)].full_trials for t, s in cells])),
            "resumes": float(np.mean([runs[(m, t, s)].resumes for t, s in cells])),
            "wall_s_per_run": float(np.mean([runs[(m, t, s)].wall_s for t, s in cells])),
            "final_accuracy": {f"{t}/{s}": float(finals[(t, s)]) for t, s in cells},
        }
        if budget_s:  # worker seconds spent starting, pausing and resuming trials
            out[m]["overhead_share"] = float(
                np.mean([runs[(m, t, s)].overhead_s / (workers * budget_s[t]) for t, s in cells])
            )
        notes = sorted({n for t, s in cells for n in runs[(m, t, s)].notes})
        if notes:
            out[m]["notes"] = notes[:5]
    for n in names:
        if n not in out:
            out[n] = {**out[sqm.canonical(n)], "alias_of": sqm.canonical(n)}
    return {n: out[n] for n in names}
