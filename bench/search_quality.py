"""Search quality: search methods side by side on the same epoch budget, on a surrogate
benchmark, over tasks and seeds. Built to find (and then prove) a better default search
for sweeplab than today's ASHA + Optuna TPE.

    python bench/search_quality.py lcbench [--tasks ID ...] [--seeds N] [--data DIR]
                                           [--methods a,b] [--budget-trials 40] [--quick]
                                           [--clock epochs|wall] [--no-checkpoint] [--workers 2]
    python bench/search_quality.py lcbench --objectives val_accuracy,time [--tasks ...] [--seeds N]
                                           [--methods a,b] [--budget-trials 40] [--quick]
    python bench/search_quality.py lcbench --real [--tasks ID ...] [--seeds N] [--scale S]
                                           [--budget-trials 20] [--no-checkpoint]
    python bench/search_quality.py freq|seqclf [--seeds N] [--methods a,b] [--quick]

``lcbench --real`` (bench/_sq_lcreal.py): the wall clock checked against real sweeps: a user
trainable that sleeps the surrogate's epoch seconds x S per epoch, swept by ``sweeplab tune``
(default, asha + optuna, fifo + random; the simulator's time budget x S) beside the simulator
on the same task-seed-budget; default 2 development tasks x 2 seeds, 20 trials, S: each
sweep's budget 80 s. Appends to bench/results/search_quality_real_lcbench.jsonl.

``lcbench --objectives val_accuracy,time`` (bench/_sq_mo.py, which says how it scores):
accuracy and training time searched together; each method's observed Pareto front scored
by its normalised hypervolume at 25 / 50 / 100 % of the budget, mean rank, lost to random;
sweeplab's multi-objective default beside Syne Tune's MO-ASHA, Optuna's NSGA-II and MOTPE
(with and without a pruner) and random. JSON last line: {"bench": "search_quality",
"figures": {"default": NAME, "objectives": [...], "methods": {NAME: {"mean_rank", "rank":
{"25", "50", "100"}, "hypervolume": {"25", "50", "100"}, "lost_to_random"}}}}.

Benchmarks ``freq`` and ``seqclf``: real trainings through sweeplab's own tuning path, on
the grids of bench/search_efficiency.py, with 25 % of the grid's epochs for every method
(bench/_sq_real.py says how; default 3 seeds). Same tables and JSON as below, with the
seed's full grid as the reference.

Benchmark ``lcbench``: YAHPO Gym's LCBench surrogate (../shared/benchmarks/lcbench, an
ONNX model run with onnxruntime): val_accuracy (%) of an MLP config after each of 52
epochs, on OpenML tasks. Only the 8 development tasks run by default; any other task needs
``--heldout`` (they are checked separately: choose nothing by looking at them).

Budget (``--clock epochs``, the default): ``--budget-trials`` x 52 epochs (a
"40-trial-equivalent", 2080 epochs), the same for every method. A trial's epochs are those
it actually trained: one report per epoch, a paused trial resumed later continues where it
stopped (the surrogate's curve is its checkpoint). A method runs until it has spent the
budget or stops on its own (its curve is then flat).

Concurrency: ``--workers`` simulated workers (1, 2, 4 or 8; default 2; bench/_sq_sim.py),
which methods that limit concurrency are told too. A trial occupies a worker; every epoch
takes one tick; each tick the busy workers train one epoch each and their results are
handled in worker order, then free workers ask the method for work. The budget counts
epochs on all workers, so concurrency changes only what a method knows when it decides.
No Ray runtime, no processes: each method's own scheduler/searcher objects are called the
way its own tuning loop calls them (bench/_sq_methods.py), so a run is a pure function of
(method, task, seed) and takes seconds.

``--clock wall`` (bench/_sq_wall.py): continuous time. An epoch takes what the surrogate
says that config's epoch took (its ``time`` output, the real run's cumulative seconds,
differenced), and a worker also spends the seconds bench/trial_costs.py measured through
``sweeplab tune`` on starting a trial, pausing one (after its report) and resuming one
(the latest entry of bench/results/trial_costs.jsonl; stated round defaults, said in the
output, where there is none). Events run in time order, ties in worker order. Budget:

    budget_s = K x M / W

K = ``--budget-trials``, M = the task's median full-length (52-epoch) trial, in seconds:
the surrogate's cumulative time at epoch 52, median over the reference's own 10,000 random
configs (the same seeded sample); W = ``--workers``: K median trials' worth of work spread
over the workers. A method that takes an epoch budget (sweeplab's) is given K x 52 epochs,
as ``--num-samples K`` gives it; the run ends at budget_s. The best-so-far curve is read at
500 instants over budget_s, and every figure below is read on them (fractions of the time
budget); before a method's first report it holds the task's ``worst`` (regret 1).

``--no-checkpoint``: trials save no checkpoints. A paused trial that is resumed starts
again at epoch 1 (every epoch trained, and under the wall clock paid for, again; the method
sees epochs 1, 2, ... again; a pause then saves nothing and costs nothing), and Ray's and
sweeplab's schedulers are told so: the result's ``checkpoint_dir_name`` is None, as Tune's
is for a report that carried none (else ``checkpoint_NNNNNN``).

Anytime curve: the best val_accuracy seen so far (any trial, any epoch) after each epoch
spent (the wall clock: by each instant). Per method, over task-seeds:

* mean rank at 25 / 50 / 100 % of the budget: rank of the best-so-far value among the
  methods run (1 = best, ties averaged; an alias such as ``sweeplab`` -> ray_asha_optuna
  runs once and takes its target's rank, so it does not push others down);
* mean normalised regret at 25 / 50 / 100 %: (best known - value) / (best known - worst),
  per task; ``worst`` is the lowest epoch-52 val_accuracy of 10,000 uniform random configs,
  ``best known`` the best val_accuracy at any epoch found by that sample plus a local
  search from its 8 best (bench/_sq_lcbench.py, ``reference``; cached in
  bench/results/search_quality_reference.json with the model's digest). 0 = best known,
  1 = the worst full-length random config, below 0 = beat the best known;
* lost_to_random: task-seeds where the method ends (100 %) strictly below random search;
* time_to_random_best: the fraction of the budget after which the method first reaches
  random search's final best value of that task-seed; ``mean`` counts a task-seed where it
  never does as 1.0, ``never`` counts those task-seeds.

Output: Markdown tables (methods; final regret per task), the anytime-curve PNG (mean
normalised regret vs fraction of budget, log y) and the sampled curves (CSV, every 52
epochs) under bench/results/, one JSON entry appended to bench/results/search_quality.jsonl
(date, machine, versions of every peer, command, figures), and as the last stdout line:
{"bench": "search_quality", "figures": {"default": NAME, "clock": "epochs"|"wall", "methods":
{NAME: {"mean_rank", "regret": {"25", "50", "100"}, "lost_to_random", "time_to_random_best":
{"mean", "never"}}}}}. ``--quick`` (2 tasks, 1 seed, a 10-trial budget) writes its PNG and
CSV as *_quick.*, any other non-default run as *_custom.* (its JSON entry says which); the
wall clock adds _wall, --no-checkpoint _nockpt, --workers K other than 2 _wK.

Peers (the ``bench`` extra of pyproject.toml): onnxruntime, hpbandster + ConfigSpace
(Ray's BOHB), statsmodels, and Syne Tune 0.14.2, the last release with promotion-type
ASHA, BOHB and DEHB; its metadata pins numpy<1.27, so it is installed on its own with
``pip install --no-deps syne-tune==0.14.2 dill`` (it runs as used here on numpy 2).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, table  # noqa: E402
from _sq_curves import mean_regret_curves, plot, write_curves  # noqa: E402
from _sq_output import choose_methods, fail, suffix, write_entry  # noqa: E402
from _sq_runs import run_all, summarise  # noqa: E402
from _sq_wall import POINTS  # noqa: E402

import _sq_lcbench as lcb  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "benchmarks" / "lcbench"
REAL = ("freq", "seqclf")  # real trainings (bench/_sq_real.py)
QUICK = {"tasks": lcb.DEV_TASKS[:2], "seeds": 1, "budget_trials": 10}
REAL_LCBENCH = {"tasks": lcb.DEV_TASKS[:2], "seeds": 2, "budget_trials": 20}  # --real's defaults
WORKER_CHOICES = (1, 2, 4, 8)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("benchmark", choices=["lcbench", *REAL])
    p.add_argument("--tasks", nargs="+", metavar="ID", help="OpenML task ids (default: the 8 development tasks)")
    p.add_argument("--seeds", type=int, metavar="N", help="seeds 0..N-1 (default 5; --quick: 1)")
    p.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        metavar="DIR",
        help="the surrogate's folder (default: ../shared/benchmarks/lcbench beside the repo)",
    )
    p.add_argument(
        "--methods",
        metavar="a,b",
        help="a subset of the methods (random is always added: "
        "lost_to_random needs it); default: all but the extras (synetune_asha_promotion_nomid)",
    )
    p.add_argument(
        "--budget-trials",
        type=int,
        metavar="K",
        help="budget = K x 52 epochs (the wall clock: K median "
        "full-length trials' seconds / --workers; default 40; --quick: 10)",
    )
    p.add_argument("--quick", action="store_true", help="a fast check: 2 tasks, 1 seed, a 10-trial budget")
    p.add_argument(
        "--heldout",
        action="store_true",
        help="allow tasks outside the development set (for the separate held-out check only)",
    )
    p.add_argument(
        "--clock",
        choices=["epochs", "wall"],
        help="epochs: one epoch = one tick, "
        "the budget in epochs (default); wall: the surrogate's epoch seconds plus measured trial "
        "start/pause/resume costs, the budget in seconds",
    )
    p.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="trials save no checkpoints: a resumed paused trial starts again at epoch 1",
    )
    p.add_argument("--workers", type=int, choices=WORKER_CHOICES, default=2, help="simulated workers (default 2)")
    p.add_argument(
        "--real",
        action="store_true",
        help="lcbench: real sweeps of a sleeping trainable beside the wall-clock simulator (bench/_sq_lcreal.py)",
    )
    p.add_argument(
        "--scale",
        type=float,
        metavar="S",
        help="--real: seconds slept per surrogate second (default: each task's, making a sweep's time budget 80 s)",
    )
    p.add_argument(
        "--objectives",
        metavar="a,b",
        help="lcbench: several objectives searched together (val_accuracy,time): hypervolume of the observed "
        "front instead of the best value (bench/_sq_mo.py)",
    )
    args = p.parse_args(argv)
    if args.objectives is not None:
        if args.benchmark != "lcbench" or args.real or args.clock == "wall":
            fail("--objectives: lcbench on the epoch clock only (no --real, no --clock wall)")
        import _sq_mo

        try:
            _sq_mo.parse_objectives(args.objectives)
        except ValueError as e:
            fail(str(e))
    if args.real:
        if args.benchmark != "lcbench" or args.quick or args.methods or args.clock or args.workers != 2:
            fail("--real: lcbench only, on the wall clock with 2 workers; no --quick, --methods, --clock, --workers")
        if args.scale is not None and args.scale <= 0:
            fail("--scale must be above 0")
    elif args.scale is not None:
        fail("--scale is --real's")
    args.clock = args.clock or "epochs"
    if args.benchmark in REAL:
        if (
            args.tasks
            or args.budget_trials
            or args.heldout
            or args.clock != "epochs"
            or args.no_checkpoint
            or args.workers != 2
        ):
            fail(
                f"{args.benchmark}: --tasks, --budget-trials, --heldout, --clock, --no-checkpoint and --workers "
                "are LCBench's"
            )
        args.seeds = 3 if args.seeds is None else args.seeds
        if args.seeds < 1:
            fail("--seeds must be at least 1")
        return args
    defaults = (
        QUICK
        if args.quick
        else REAL_LCBENCH
        if args.real
        else {"tasks": lcb.DEV_TASKS, "seeds": 5, "budget_trials": 40}
    )
    args.tasks = [str(t) for t in (args.tasks or defaults["tasks"])]
    args.seeds = defaults["seeds"] if args.seeds is None else args.seeds
    args.budget_trials = defaults["budget_trials"] if args.budget_trials is None else args.budget_trials
    if args.seeds < 1 or args.budget_trials < 1:
        fail("--seeds and --budget-trials must be at least 1")
    if not (args.data / "model.onnx").is_file():
        fail(f"--data {args.data}: no model.onnx there (the LCBench surrogate folder)")
    codes = json.loads((args.data / "encoding.json").read_text())["OpenML_task_id"]
    for t in args.tasks:
        if t not in codes:
            fail(f"--tasks {t}: not a task of the surrogate")
        if t not in lcb.DEV_TASKS and not args.heldout:
            fail(f"--tasks {t}: not a development task ({' '.join(lcb.DEV_TASKS)}); held-out tasks need --heldout")
    return args


def quiet() -> None:
    """The peers log every trial decision (and Ray warns about its own experimental
    paths); one run makes thousands of decisions."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    for name in ("syne_tune", "hpbandster", "ray", "optuna"):
        logging.getLogger(name).setLevel(logging.ERROR)


def real_main(args, argv) -> None:
    """freq / seqclf: the arms of search_efficiency.ARMS on real trainings."""
    import _sq_real
    import search_efficiency as se

    names = list(se.ARMS) if not args.methods else [n.strip() for n in args.methods.split(",") if n.strip()]
    unknown = [n for n in names if n not in se.ARMS]
    if unknown:
        fail(f"--methods: unknown {', '.join(unknown)} for {args.benchmark}; known: {', '.join(se.ARMS)}")
    if "random" not in names:
        names.insert(0, "random")
    t_start = time.perf_counter()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    runs, refs, budget = _sq_real.run_all(args.benchmark, args.seeds, names, quick=args.quick)
    tasks = list(refs)
    methods = summarise(names, names, runs, refs, tasks, 1, budget)
    rows = [
        {
            "method": n + (" (default)" if n == "sweeplab" else ""),
            "rank@25%": f["rank"]["25"],
            "rank@50%": f["rank"]["50"],
            "rank@100%": f["mean_rank"],
            "regret@25%": f["regret"]["25"],
            "regret@50%": f["regret"]["50"],
            "regret@100%": f["regret"]["100"],
            "lost_to_random": f"{f['lost_to_random']}/{len(tasks)}",
            "trials": f["trials"],
            "full-length": f["full_trials"],
            "s/run": f["wall_s_per_run"],
        }
        for n, f in methods.items()
    ]
    print()
    print(table(rows, list(rows[0])))
    tag = "_quick" if args.quick else "" if args.methods is None and args.seeds == 3 else "_custom"
    png = RESULTS / f"search_quality_{args.benchmark}{tag}.png"
    RESULTS.mkdir(exist_ok=True)
    plot(
        png,
        names,
        mean_regret_curves(names, runs, refs, tasks, 1, budget),
        budget,
        f"{args.benchmark}, real trainings, {args.seeds} seeds, budget {budget} epochs (25 % of the grid's), 2 CPUs",
    )
    wall = time.perf_counter() - t_start
    print(f"\nanytime curves: {png.relative_to(REPO)}; total wall time {wall:.0f} s")
    compact = {
        "default": "sweeplab",
        "methods": {
            n: {"mean_rank": f["mean_rank"], "regret": f["regret"], "lost_to_random": f["lost_to_random"]}
            for n, f in methods.items()
        },
    }
    figures = {
        **compact,
        "methods_detail": methods,
        "benchmark": args.benchmark,
        "seeds": args.seeds,
        "budget_epochs": budget,
        "quick": args.quick,
        "reference": refs,
        "png": str(png.relative_to(REPO)),
        "arms": {n: dict(zip(("search", "scheduler"), se.ARMS[n])) for n in names},
        "wall_s": wall,
    }
    write_entry(figures, compact, argv)


def main(argv=None) -> None:
    args = parse(argv)
    quiet()
    if args.benchmark in REAL:
        return real_main(args, argv)
    if args.real:
        import _sq_lcreal

        return _sq_lcreal.main(args, argv)
    if args.objectives:
        import _sq_mo

        return _sq_mo.main(args, argv)
    t_start = time.perf_counter()
    import _sq_methods as sqm

    names = choose_methods(args.methods, sqm.METHODS, sqm.PEERS, sqm.EXTRA)

    wall_clock = args.clock == "wall"
    budget = args.budget_trials * lcb.MAX_EPOCHS  # the epoch clock's budget; sweeplab's epoch budget on both
    costs, costs_source = None, None
    if wall_clock:
        import trial_costs
        from _sq_wall import Costs

        figures, costs_source = trial_costs.latest()
        costs = Costs(
            start=figures["start_s"], pause=figures["pause_s"], resume=figures["resume_s"], restart=figures["restart_s"]
        )
    print(
        f"search_quality {args.benchmark}: {len(args.tasks)} tasks x {args.seeds} seeds x {len(names)} methods, "
        + (
            f"time budget {args.budget_trials} median trials / {args.workers} workers (wall clock)"
            if wall_clock
            else f"budget {args.budget_trials} x {lcb.MAX_EPOCHS} = {budget} epochs"
        )
        + f", {args.workers} simulated workers"
        + (", no checkpoints" if args.no_checkpoint else ""),
        flush=True,
    )
    if wall_clock:
        print(
            f"trial costs (s): start {costs.start:.3g}, pause {costs.pause:.3g}, resume {costs.resume:.3g}, "
            f"restart {costs.restart:.3g}; {costs_source}",
            flush=True,
        )
    runs, refs, info = run_all(args, names, budget, costs)
    canon = info["canonical"]
    points = POINTS if wall_clock else budget  # each run's curve: instants of the time budget, or epochs
    methods = summarise(
        names, canon, runs, refs, args.tasks, args.seeds, points, budget_s=info["budget_s"], workers=args.workers
    )
    cells = len(args.tasks) * args.seeds
    rows = []
    for n, f in methods.items():
        reach = f["time_to_random_best"]
        row = {
            "method": n + (" (default)" if n == sqm.DEFAULT else ""),
            "rank@25%": f["rank"]["25"],
            "rank@50%": f["rank"]["50"],
            "rank@100%": f["mean_rank"],
            "regret@25%": f["regret"]["25"],
            "regret@50%": f["regret"]["50"],
            "regret@100%": f["regret"]["100"],
            "lost_to_random": f"{f['lost_to_random']}/{cells}",
            "to random's best": f"{reach['mean']:.2f} ({reach['never']}/{cells} never)",
            ("time used" if wall_clock else "epochs used"): f"{100 * f['budget_used']:.0f}%",
        }
        if wall_clock:
            row["overhead"] = f"{100 * f['overhead_share']:.2g}%"
        if args.no_checkpoint:
            row["retrained"] = f["retrained_epochs"]
        rows.append({**row, "trials": f["trials"], "full-length": f["full_trials"], "s/run": f["wall_s_per_run"]})
    print()
    print(table(rows, list(rows[0])))
    print()
    per_task = [{"task": t, **{n: methods[n]["regret_per_task_100"][t] for n in canon}} for t in args.tasks]
    print("Normalised regret at 100 % per task (mean over seeds):")
    print(table(per_task, ["task", *canon]))
    tag = suffix(args, after="_wall" if wall_clock else "")
    png = RESULTS / f"search_quality{tag}.png"
    curves_csv = RESULTS / f"search_quality{tag}_curves.csv"
    RESULTS.mkdir(exist_ok=True)
    what = (
        f"time budget {args.budget_trials} median trials / {args.workers} workers, wall clock"
        if wall_clock
        else f"budget {args.budget_trials} x 52 epochs, {args.workers} workers"
    )
    plot(
        png,
        names,
        mean_regret_curves(canon, runs, refs, args.tasks, args.seeds, points),
        points,
        f"LCBench surrogate, {len(args.tasks)} tasks x {args.seeds} seeds, {what}"
        + (", no checkpoints" if args.no_checkpoint else ""),
        xlabel="fraction of the time budget" if wall_clock else "fraction of the epoch budget spent",
    )
    if wall_clock:  # every 10th instant: 50 columns, named by the fraction of the time budget
        write_curves(curves_csv, canon, runs, args.tasks, args.seeds, points, 10, lambda p: f"t{p / points:.2f}")
    else:
        write_curves(curves_csv, canon, runs, args.tasks, args.seeds, budget, lcb.MAX_EPOCHS)
    wall = time.perf_counter() - t_start
    print(
        f"\nanytime curves: {png.relative_to(REPO)}; sampled curves: {curves_csv.relative_to(REPO)}; "
        f"total wall time {wall:.0f} s"
    )
    compact = {
        "default": sqm.DEFAULT,
        "clock": args.clock,
        "methods": {
            n: {
                "mean_rank": f["mean_rank"],
                "regret": f["regret"],
                "lost_to_random": f["lost_to_random"],
                "time_to_random_best": f["time_to_random_best"],
            }
            for n, f in methods.items()
        },
    }
    figures = {
        **compact,
        "methods_detail": methods,
        "benchmark": args.benchmark,
        "tasks": args.tasks,
        "seeds": args.seeds,
        "budget_trials": args.budget_trials,
        "budget_epochs": budget,
        "max_epochs": lcb.MAX_EPOCHS,
        "workers": args.workers,
        "checkpoint": not args.no_checkpoint,
        "concurrency": (
            "simulated workers in continuous time (the surrogate's epoch seconds plus trial "
            "costs), events in time order, ties in worker order"
            if wall_clock
            else "simulated workers in lockstep (one epoch = one tick), results in worker order"
        ),
        "quick": args.quick,
        "reference": {t: {k: refs[t][k] for k in ("best", "worst", "random_best_52")} for t in args.tasks},
        "png": str(png.relative_to(REPO)),
        "curves_csv": str(curves_csv.relative_to(REPO)),
        "wall_s": wall,
    }
    if wall_clock:
        figures.update(
            costs=vars(costs),
            costs_source=costs_source,
            points=POINTS,
            median_trial_s=info["median_trial_s"],
            budget_s=info["budget_s"],
            budget_rule="budget_s = budget_trials x median full-length trial seconds / workers",
        )
    write_entry(figures, compact, argv)


if __name__ == "__main__":
    main()
