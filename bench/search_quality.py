"""Search quality: search methods side by side on the same epoch budget, on a surrogate
benchmark, over tasks and seeds. Built to find (and then prove) a better default search
for sweeplab than today's ASHA + Optuna TPE.

    python bench/search_quality.py lcbench [--tasks ID ...] [--seeds N] [--data DIR]
                                           [--methods a,b] [--budget-trials 40] [--quick]
    python bench/search_quality.py freq|seqclf [--seeds N] [--methods a,b] [--quick]

Benchmarks ``freq`` and ``seqclf``: real trainings through sweeplab's own tuning path, on
the grids of bench/search_efficiency.py, with 25 % of the grid's epochs for every method
(bench/_sq_real.py says how; default 3 seeds). Same tables and JSON as below, with the
seed's full grid as the reference.

Benchmark ``lcbench``: YAHPO Gym's LCBench surrogate (../shared/benchmarks/lcbench, an
ONNX model run with onnxruntime): val_accuracy (%) of an MLP config after each of 52
epochs, on OpenML tasks. Only the 8 development tasks run by default; any other task needs
``--heldout`` (they are checked separately: choose nothing by looking at them).

Budget: ``--budget-trials`` x 52 epochs (a "40-trial-equivalent", 2080 epochs), the same
for every method. A trial's epochs are those it actually trained: one report per epoch,
a paused trial resumed later continues where it stopped (the surrogate's curve is its
checkpoint). A method runs until it has spent the budget or stops on its own (its curve is
then flat).

Concurrency: 2 simulated workers (bench/_sq_sim.py). A trial occupies a worker; every
epoch takes one tick; each tick both busy workers train one epoch and their results are
handled in worker order, then free workers ask the method for work. The budget counts
epochs on both workers, so concurrency changes only what a method knows when it decides.
No Ray runtime, no processes: each method's own scheduler/searcher objects are called the
way its own tuning loop calls them (bench/_sq_methods.py), so a run is a pure function of
(method, task, seed) and takes seconds.

Anytime curve: the best val_accuracy seen so far (any trial, any epoch) after each epoch
spent. Per method, over task-seeds:

* mean rank at 25 / 50 / 100 % of the budget: rank of the best-so-far value among the
  methods run (1 = best, ties averaged; an alias such as ``sweeplab`` -> ray_asha_optuna
  runs once and takes its target's rank, so it does not push others down);
* mean normalised regret at 25 / 50 / 100 %: (best known - value) / (best known - worst),
  per task; ``worst`` is the lowest epoch-52 val_accuracy of 10,000 uniform random configs,
  ``best known`` the best val_accuracy at any epoch found by that sample plus a local
  search from its 8 best (bench/_sq_lcbench.py, ``reference``; cached in
  bench/results/search_quality_reference.json with the model's digest). 0 = best known,
  1 = the worst full-length random config, below 0 = beat the best known;
* lost_to_random: task-seeds where the method ends (100 %) strictly below random search.

Output: Markdown tables (methods; final regret per task), the anytime-curve PNG (mean
normalised regret vs fraction of budget, log y) and the sampled curves (CSV, every 52
epochs) under bench/results/, one JSON entry appended to bench/results/search_quality.jsonl
(date, machine, versions of every peer, command, figures), and as the last stdout line:
{"bench": "search_quality", "figures": {"default": NAME, "methods": {NAME: {"mean_rank",
"regret": {"25", "50", "100"}, "lost_to_random"}}}}. ``--quick`` (2 tasks, 1 seed, a
10-trial budget) writes its PNG and CSV as *_quick.*, any other non-default run as *_custom.*
(its JSON entry says which).

Peers (the ``bench`` extra of pyproject.toml): onnxruntime, hpbandster + ConfigSpace
(Ray's BOHB), statsmodels, and Syne Tune 0.14.2, the last release with promotion-type
ASHA, BOHB and DEHB; its metadata pins numpy<1.27, so it is installed on its own with
``pip install --no-deps syne-tune==0.14.2 dill`` (it runs as used here on numpy 2).
"""
from __future__ import annotations

import argparse
import datetime as dt
import importlib
import importlib.metadata
import json
import logging
import math
import os
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import RESULTS, machine, table, versions  # noqa: E402
from _sq_curves import mean_regret_curves, plot, write_curves  # noqa: E402

import _sq_lcbench as lcb  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "benchmarks" / "lcbench"
FRACTIONS = (0.25, 0.5, 1.0)
REAL = ("freq", "seqclf")  # real trainings (bench/_sq_real.py)
QUICK = {"tasks": lcb.DEV_TASKS[:2], "seeds": 1, "budget_trials": 10}
PEER_DISTS = ("ray", "optuna", "syne-tune", "hpbandster", "ConfigSpace", "statsmodels", "onnxruntime", "numpy",
              "scipy", "matplotlib")
INSTALL = {"syne_tune": "pip install --no-deps syne-tune==0.14.2 dill==0.4.1",
           "hpbandster": "pip install hpbandster==0.7.4 ConfigSpace==1.2.2",
           "ConfigSpace": "pip install ConfigSpace==1.2.2", "statsmodels": "pip install statsmodels",
           "onnxruntime": "pip install onnxruntime==1.32.0"}


def fail(msg: str) -> None:
    print(f"search_quality: {msg}", file=sys.stderr)
    raise SystemExit(2)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("benchmark", choices=["lcbench", *REAL])
    p.add_argument("--tasks", nargs="+", metavar="ID", help="OpenML task ids (default: the 8 development tasks)")
    p.add_argument("--seeds", type=int, metavar="N", help="seeds 0..N-1 (default 5; --quick: 1)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, metavar="DIR",
                   help="the surrogate's folder (default: ../shared/benchmarks/lcbench beside the repo)")
    p.add_argument("--methods", metavar="a,b", help="a subset of the methods (random is always added: "
                   "lost_to_random needs it); default: all but the extras (synetune_asha_promotion_nomid)")
    p.add_argument("--budget-trials", type=int, metavar="K", help="budget = K x 52 epochs (default 40; --quick: 10)")
    p.add_argument("--quick", action="store_true", help="a fast check: 2 tasks, 1 seed, a 10-trial budget")
    p.add_argument("--heldout", action="store_true", help="allow tasks outside the development set (for the "
                   "separate held-out check only)")
    args = p.parse_args(argv)
    if args.benchmark in REAL:
        if args.tasks or args.budget_trials or args.heldout:
            fail(f"{args.benchmark}: --tasks, --budget-trials and --heldout are LCBench's")
        args.seeds = 3 if args.seeds is None else args.seeds
        if args.seeds < 1:
            fail("--seeds must be at least 1")
        return args
    defaults = QUICK if args.quick else {"tasks": lcb.DEV_TASKS, "seeds": 5, "budget_trials": 40}
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


def choose_methods(spec: str | None) -> list[str]:
    import _sq_methods as sqm

    names = [n for n in sqm.METHODS if n not in sqm.EXTRA] if not spec else [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in sqm.METHODS]
    if unknown:
        fail(f"--methods: unknown {', '.join(unknown)}; known: {', '.join(sqm.METHODS)}")
    if "random" not in names:
        names.insert(0, "random")
    for name in names:
        for mod in sqm.PEERS[name]:
            try:
                importlib.import_module(mod)
            except ImportError as e:
                fail(f"method {name} needs {mod} ({e}); install: {INSTALL.get(mod, 'pip install ' + mod)}")
    return list(dict.fromkeys(names))


def quiet() -> None:
    """The peers log every trial decision (and Ray warns about its own experimental
    paths); one run makes thousands of decisions."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    for name in ("syne_tune", "hpbandster", "ray", "optuna"):
        logging.getLogger(name).setLevel(logging.ERROR)


def peer_versions() -> dict:
    out = {}
    for dist in PEER_DISTS:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def run_all(args, names: list[str], budget: int) -> tuple[dict, dict, dict]:
    """Every (canonical method, task, seed): its Run. Returns runs, references, timing."""
    import _sq_methods as sqm
    from _sq_sim import simulate

    sqm.BUDGET = budget
    canon = list(dict.fromkeys(sqm.canonical(n) for n in names))
    runs: dict[tuple[str, str, int], object] = {}
    refs = {}
    cache = RESULTS / "search_quality_reference.json"
    for task in args.tasks:
        t0 = time.perf_counter()
        refs[task] = lcb.reference(args.data, task, cache)
        if time.perf_counter() - t0 > 1:
            print(f"task {task}: reference computed in {time.perf_counter() - t0:.0f} s "
                  f"(best {refs[task]['best']:.2f}, worst {refs[task]['worst']:.2f})", flush=True)
        bench = lcb.LCBench(args.data, task)
        for seed in range(args.seeds):
            line = []
            for name in canon:
                t0 = time.perf_counter()
                method = sqm.make(name, seed)
                run = simulate(method, bench.curve, budget, sqm.WORKERS, lcb.MAX_EPOCHS)
                run.wall_s = time.perf_counter() - t0
                runs[(name, task, seed)] = run
                line.append(f"{name} {run.curve[-1]:.2f} ({run.wall_s:.1f}s)")
            print(f"task {task} seed {seed}: " + ", ".join(line), flush=True)
    return runs, refs, {"canonical": canon}


def summarise(names, canon, runs, refs, tasks, seeds, budget) -> dict:
    from scipy.stats import rankdata

    import _sq_methods as sqm

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
    out = {}
    for m in canon:
        finals = {(t, s): runs[(m, t, s)].curve[-1] for t, s in cells}
        lost = sum(finals[c] < runs[("random", *c)].curve[-1] for c in cells)
        per_task = {t: float(np.mean([regret(t, finals[(t, s)]) for s in range(seeds)])) for t in tasks}
        out[m] = {
            "mean_rank": float(np.mean(rank[m][1.0])),
            "regret": {str(int(f * 100)): float(np.mean([regret(t, runs[(m, t, s)].curve[i]) for t, s in cells]))
                       for f, i in idx.items()},
            "lost_to_random": int(lost),
            "rank": {str(int(f * 100)): float(np.mean(rank[m][f])) for f in FRACTIONS},
            "regret_per_task_100": per_task,
            "epochs_used": float(np.mean([runs[(m, t, s)].epochs_used for t, s in cells])),
            "trials": float(np.mean([runs[(m, t, s)].trials for t, s in cells])),
            "full_trials": float(np.mean([runs[(m, t, s)].full_trials for t, s in cells])),
            "resumes": float(np.mean([runs[(m, t, s)].resumes for t, s in cells])),
            "wall_s_per_run": float(np.mean([runs[(m, t, s)].wall_s for t, s in cells])),
            "final_accuracy": {f"{t}/{s}": float(finals[(t, s)]) for t, s in cells},
        }
        notes = sorted({n for t, s in cells for n in runs[(m, t, s)].notes})
        if notes:
            out[m]["notes"] = notes[:5]
    for n in names:
        if n not in out:
            out[n] = {**out[sqm.canonical(n)], "alias_of": sqm.canonical(n)}
    return {n: out[n] for n in names}


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
    rows = [{"method": n + (" (default)" if n == "sweeplab" else ""), "rank@25%": f["rank"]["25"],
             "rank@50%": f["rank"]["50"], "rank@100%": f["mean_rank"], "regret@25%": f["regret"]["25"],
             "regret@50%": f["regret"]["50"], "regret@100%": f["regret"]["100"],
             "lost_to_random": f"{f['lost_to_random']}/{len(tasks)}", "trials": f["trials"],
             "full-length": f["full_trials"], "s/run": f["wall_s_per_run"]} for n, f in methods.items()]
    print()
    print(table(rows, list(rows[0])))
    suffix = "_quick" if args.quick else "" if args.methods is None and args.seeds == 3 else "_custom"
    png = RESULTS / f"search_quality_{args.benchmark}{suffix}.png"
    RESULTS.mkdir(exist_ok=True)
    plot(png, names, mean_regret_curves(names, runs, refs, tasks, 1, budget), budget,
         f"{args.benchmark}, real trainings, {args.seeds} seeds, budget {budget} epochs "
         f"(25 % of the grid's), 2 CPUs")
    wall = time.perf_counter() - t_start
    print(f"\nanytime curves: {png.relative_to(REPO)}; total wall time {wall:.0f} s")
    compact = {"default": "sweeplab", "methods": {n: {"mean_rank": f["mean_rank"], "regret": f["regret"],
                                                      "lost_to_random": f["lost_to_random"]} for n, f in methods.items()}}
    figures = {**compact, "methods_detail": methods, "benchmark": args.benchmark, "seeds": args.seeds,
               "budget_epochs": budget, "quick": args.quick, "reference": refs, "png": str(png.relative_to(REPO)),
               "arms": {n: dict(zip(("search", "scheduler"), se.ARMS[n])) for n in names}, "wall_s": wall}
    write_entry(figures, compact, argv)


def write_entry(figures: dict, compact: dict, argv) -> None:
    entry = {"bench": "search_quality", "date": dt.datetime.now().isoformat(timespec="seconds"),
             "command": "python " + " ".join(["bench/" + Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
             "machine": machine(), "versions": {**versions(), **peer_versions()}, "figures": figures}
    with open(RESULTS / "search_quality.jsonl", "a") as f:
        f.write(json.dumps(entry, default=float) + "\n")
    print(json.dumps({"bench": "search_quality", "figures": compact}, default=float))


def main(argv=None) -> None:
    args = parse(argv)
    quiet()
    if args.benchmark in REAL:
        return real_main(args, argv)
    t_start = time.perf_counter()
    names = choose_methods(args.methods)
    import _sq_methods as sqm

    budget = args.budget_trials * lcb.MAX_EPOCHS
    print(f"search_quality {args.benchmark}: {len(args.tasks)} tasks x {args.seeds} seeds x {len(names)} methods, "
          f"budget {args.budget_trials} x {lcb.MAX_EPOCHS} = {budget} epochs, {sqm.WORKERS} simulated workers",
          flush=True)
    runs, refs, info = run_all(args, names, budget)
    canon = info["canonical"]
    methods = summarise(names, canon, runs, refs, args.tasks, args.seeds, budget)
    cells = len(args.tasks) * args.seeds
    rows = []
    for n, f in methods.items():
        rows.append({"method": n + (" (default)" if n == sqm.DEFAULT else ""),
                     "rank@25%": f["rank"]["25"], "rank@50%": f["rank"]["50"], "rank@100%": f["mean_rank"],
                     "regret@25%": f["regret"]["25"], "regret@50%": f["regret"]["50"],
                     "regret@100%": f["regret"]["100"], "lost_to_random": f"{f['lost_to_random']}/{cells}",
                     "epochs used": f"{100 * f['epochs_used'] / budget:.0f}%", "trials": f["trials"],
                     "full-length": f["full_trials"], "s/run": f["wall_s_per_run"]})
    print()
    print(table(rows, list(rows[0])))
    print()
    per_task = [{"task": t, **{n: methods[n]["regret_per_task_100"][t] for n in canon}} for t in args.tasks]
    print("Normalised regret at 100 % per task (mean over seeds):")
    print(table(per_task, ["task", *canon]))
    standard = (args.methods is None and args.tasks == list(lcb.DEV_TASKS) and args.seeds == 5
                and args.budget_trials == 40)
    suffix = "_quick" if args.quick else "" if standard else "_custom"  # a subset never overwrites the full run's
    png = RESULTS / f"search_quality{suffix}.png"
    curves_csv = RESULTS / f"search_quality{suffix}_curves.csv"
    RESULTS.mkdir(exist_ok=True)
    plot(png, names, mean_regret_curves(canon, runs, refs, args.tasks, args.seeds, budget), budget,
         f"LCBench surrogate, {len(args.tasks)} tasks x {args.seeds} seeds, budget {args.budget_trials} x 52 epochs, "
         f"{sqm.WORKERS} workers")
    write_curves(curves_csv, canon, runs, args.tasks, args.seeds, budget, lcb.MAX_EPOCHS)
    wall = time.perf_counter() - t_start
    print(f"\nanytime curves: {png.relative_to(REPO)}; sampled curves: {curves_csv.relative_to(REPO)}; "
          f"total wall time {wall:.0f} s")
    compact = {"default": sqm.DEFAULT,
               "methods": {n: {"mean_rank": f["mean_rank"], "regret": f["regret"],
                               "lost_to_random": f["lost_to_random"]} for n, f in methods.items()}}
    figures = {**compact, "methods_detail": methods, "benchmark": args.benchmark, "tasks": args.tasks,
               "seeds": args.seeds, "budget_trials": args.budget_trials, "budget_epochs": budget,
               "max_epochs": lcb.MAX_EPOCHS, "workers": sqm.WORKERS,
               "concurrency": "simulated workers in lockstep (one epoch = one tick), results in worker order",
               "quick": args.quick, "reference": {t: {k: refs[t][k] for k in ("best", "worst", "random_best_52")}
                                                  for t in args.tasks},
               "png": str(png.relative_to(REPO)), "curves_csv": str(curves_csv.relative_to(REPO)), "wall_s": wall}
    write_entry(figures, compact, argv)


if __name__ == "__main__":
    main()
