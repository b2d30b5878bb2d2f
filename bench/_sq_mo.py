"""The search-quality bench with several objectives (``lcbench --objectives
val_accuracy,time``): LCBench's val_accuracy (up) and the training seconds a config has
spent so far (down), searched together on the same epoch budget and event loop as the
single-objective bench (``_sq_sim``: 2 lockstep workers, every trained epoch counted).

Every reported (config, epoch) is a point: its model exists (the checkpoint of that epoch)
and cost that many seconds to train. A method's **observed front** after n epochs spent is
the non-dominated set of the points reported so far, whichever trial reported them.

Hypervolume, normalised per task: accuracy as the single-objective bench's regret,
(best known - value) / (best known - worst), counted 0 below 0; time as seconds / T90,
T90 the 90th percentile of a full-length (52-epoch) trial's seconds over the reference's
own 10,000 seeded random configs (``LCBench.trial_seconds``; T90 / 52 for ``epoch_time``,
a config's mean seconds an epoch). Reference point (regret 1,
time 1): the worst full-length random config, and a trial as long as T90. The volume the
front dominates inside the unit box is the hypervolume: 0 = nothing better than the
reference, 1 = a config as good as the best known that took no time (unreachable).

Per method, over task-seeds: hypervolume at 25 / 50 / 100 % of the budget (mean), mean
rank at each (1 = largest hypervolume, ties averaged), and lost_to_random: task-seeds where
its hypervolume at 100 % is strictly below random search's.

Methods (each its own library's objects, driven as in ``_sq_methods`` / ``_sq_peers``):

* ``sweeplab``: the default search as ``sweeplab tune`` builds it for a space with two
  ``metrics:``: promotion MO-ASHA (each rung ranked by non-dominated sorting, then crowding)
  + RungTPE with a multi-objective TPE study per rung, behind the PausingLimiter;
* ``synetune_moasha``: Syne Tune 0.14.2's MOASHA (stopping type; non-dominated sorting; its
  random sampler), grace period 1, reduction factor 3;
* ``optuna_nsga2``: Optuna's NSGAIISampler, full-length trials; population 20 (what
  ``sweeplab tune --search nsga2`` picks for 40 trials: half the trials, at most 50;
  Optuna's own 50 would make 40 trials one random generation);
* ``optuna_motpe``: Optuna's TPESampler on a two-objective study (MOTPE), full-length trials;
* ``optuna_motpe_pruned``: the same, pruned by Optuna's HyperbandPruner (1, 52, 3) on
  val_accuracy. Optuna's pruners do not take a multi-objective study (``Trial.report``
  refuses one), so each trial reports to a single-objective twin study that only prunes:
  what a user of Optuna has to write;
* ``random``: full-length trials of uniform configs.
"""

from __future__ import annotations

import contextlib
import io
import math
import time

import numpy as np
from _common import RESULTS, table
from _sq_output import choose_methods, suffix, write_entry

import _sq_lcbench as lcb
from _sq_sim import CONTINUE, STOP

FRACTIONS = (0.25, 0.5, 1.0)
CURVE_POINTS = 40  # the hypervolume curve's instants, for the picture
TIME_QUANTILE = 0.9  # T90: the time axis' reference
OBJECTIVES = (("val_accuracy", "max"), ("time", "min"))
# time: the seconds trained so far (grows with every epoch); epoch_time: a config's mean
# seconds an epoch (a property of the config, like a model's latency or size)
SUPPORTED = (("val_accuracy", "time"), ("val_accuracy", "epoch_time"))


# ------------------------------------------------------------------ methods


class OptunaMOMethod:
    """A two-objective Optuna study asked as workers free up; full-length trials told their
    values at 52 epochs. ``pruner``: a single-objective twin study per trial's first
    objective decides when to stop (PRUNED in both studies)."""

    def __init__(self, sampler, name: str, pruner=None):
        import optuna

        from _sq_peers import optuna_space

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        directions = ["maximize" if m == "max" else "minimize" for _, m in OBJECTIVES]
        self.study = optuna.create_study(directions=directions, sampler=sampler, study_name=name)
        self.twin = (
            optuna.create_study(direction=directions[0], pruner=pruner, study_name=name + "_pruning")
            if pruner is not None
            else None
        )
        self.space = optuna_space()
        self.trials: dict[int, tuple[object, object]] = {}

    def next(self):
        trial = self.study.ask(self.space)
        self.trials[trial.number] = (trial, self.twin.ask() if self.twin else None)
        return trial.number, dict(trial.params)

    def report(self, key, epoch, value):
        trial, twin = self.trials[key]
        if epoch >= lcb.MAX_EPOCHS:
            self.study.tell(trial, list(value))
            if twin is not None:
                self.twin.tell(twin, value[0])
            return STOP
        if twin is not None:
            twin.report(value[0], epoch)
            if twin.should_prune():
                pruned = self.optuna.trial.TrialState.PRUNED
                self.study.tell(trial, state=pruned)
                self.twin.tell(twin, state=pruned)
                return STOP
        return CONTINUE


def optuna_nsga2(seed: int) -> OptunaMOMethod:
    import optuna

    return OptunaMOMethod(optuna.samplers.NSGAIISampler(seed=seed, population_size=20), f"mo_nsga2_{seed}")


def optuna_motpe(seed: int) -> OptunaMOMethod:
    import optuna

    return OptunaMOMethod(optuna.samplers.TPESampler(seed=seed), f"mo_motpe_{seed}")


def optuna_motpe_pruned(seed: int) -> OptunaMOMethod:
    import optuna

    from _sq_peers import REDUCTION_FACTOR

    pruner = optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=lcb.MAX_EPOCHS, reduction_factor=REDUCTION_FACTOR
    )
    return OptunaMOMethod(optuna.samplers.TPESampler(seed=seed), f"mo_motpe_pruned_{seed}", pruner=pruner)


def synetune_moasha(seed: int):
    from syne_tune.optimizer.schedulers.multiobjective import LegacyMOASHA

    from _sq_peers import REDUCTION_FACTOR, SyneMethod, syne_space

    class QuietMOASHA(LegacyMOASHA):  # its on_trial_add prints a line per trial
        def on_trial_add(self, trial):
            with contextlib.redirect_stdout(io.StringIO()):
                super().on_trial_add(trial)

    scheduler = QuietMOASHA(
        syne_space(),
        metrics=[m for m, _ in OBJECTIVES],
        mode=[mode for _, mode in OBJECTIVES],
        time_attr=lcb.RESOURCE,
        max_t=lcb.MAX_EPOCHS,
        grace_period=1,
        reduction_factor=REDUCTION_FACTOR,
    )
    return SyneMethod(scheduler, objectives=tuple(m for m, _ in OBJECTIVES))


def sweeplab_mo(seed: int):
    from _sq_methods import RayMethod, sweeplab_parts

    return RayMethod(*sweeplab_parts(seed, objectives=OBJECTIVES), objectives=tuple(m for m, _ in OBJECTIVES))


def random_search(seed: int):
    from _sq_methods import RandomSearch

    return RandomSearch(seed)


METHODS = {
    "random": random_search,
    "sweeplab": sweeplab_mo,
    "synetune_moasha": synetune_moasha,
    "optuna_nsga2": optuna_nsga2,
    "optuna_motpe": optuna_motpe,
    "optuna_motpe_pruned": optuna_motpe_pruned,
}
DEFAULT = "sweeplab"
PEERS = {
    "random": (),
    "sweeplab": ("ray", "optuna", "sweeplab"),
    "synetune_moasha": ("syne_tune",),
    "optuna_nsga2": ("optuna",),
    "optuna_motpe": ("optuna",),
    "optuna_motpe_pruned": ("optuna",),
}


# ------------------------------------------------------------------ scoring


def normalised(points: np.ndarray, ref: dict, t90: float) -> np.ndarray:
    """(regret, time / T90) of each (val_accuracy, seconds) point; regret below 0 is 0."""
    regret = np.maximum((ref["best"] - points[:, 0]) / (ref["best"] - ref["worst"]), 0.0)
    return np.column_stack([regret, points[:, 1] / t90])


def hypervolume(norm: np.ndarray) -> float:
    """The area the points (both axes smaller-is-better) dominate inside the unit box."""
    from sweeplab.search.pareto import hypervolume as hv

    inside = norm[(norm[:, 0] < 1.0) & (norm[:, 1] < 1.0)]
    return hv([(-a, -b) for a, b in inside], (-1.0, -1.0))


def hypervolume_curve(norm: np.ndarray, instants: list[int]) -> list[float]:
    """The observed front's hypervolume after each of ``instants`` epochs spent (a run that
    stopped early keeps its last front)."""
    return [hypervolume(norm[: min(n, len(norm))]) for n in instants]


# ------------------------------------------------------------------ runs


def parse_objectives(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if tuple(names) not in SUPPORTED:
        raise ValueError(
            f"--objectives {text!r}: the surrogate gives val_accuracy (max) and time or epoch_time (min): "
            "--objectives val_accuracy,time (or val_accuracy,epoch_time)"
        )
    return names


def run_all(args, names: list[str], budget: int) -> tuple[dict, dict]:
    import _sq_methods as sqm
    from _sq_sim import simulate

    sqm.BUDGET, sqm.WORKERS, sqm.CHECKPOINT = budget, args.workers, not args.no_checkpoint
    cache = RESULTS / "search_quality_reference.json"
    instants = [max(1, math.ceil(budget * (i + 1) / CURVE_POINTS)) for i in range(CURVE_POINTS)]
    instants = sorted(set(instants) | {max(1, math.ceil(f * budget)) for f in FRACTIONS})
    runs: dict[tuple[str, str, int], dict] = {}
    refs: dict[str, dict] = {}
    per_epoch = parse_objectives(args.objectives)[1] == "epoch_time"
    for task in args.tasks:
        bench = lcb.LCBench(args.data, task)
        t90 = bench.trial_seconds(TIME_QUANTILE) / (lcb.MAX_EPOCHS if per_epoch else 1)
        refs[task] = {**lcb.reference(args.data, task, cache), "t90": t90}
        curves = bench.accuracy_and_epoch_time if per_epoch else bench.accuracy_and_time
        for seed in range(args.seeds):
            line = []
            for name in names:
                t0 = time.perf_counter()
                sqm.seed_globals(seed)
                run = simulate(
                    METHODS[name](seed),
                    curves,
                    budget,
                    args.workers,
                    lcb.MAX_EPOCHS,
                    checkpoint=not args.no_checkpoint,
                )
                norm = normalised(run.points, refs[task], refs[task]["t90"])
                curve = dict(zip(instants, hypervolume_curve(norm, instants)))
                runs[(name, task, seed)] = {
                    "curve": curve,
                    "epochs_used": run.epochs_used,
                    "trials": run.trials,
                    "full_trials": run.full_trials,
                    "resumes": run.resumes,
                    "wall_s": time.perf_counter() - t0,
                    "notes": run.notes,
                }
                line.append(f"{name} {curve[budget]:.3f} ({runs[(name, task, seed)]['wall_s']:.1f}s)")
            print(f"task {task} seed {seed}: hypervolume " + ", ".join(line), flush=True)
    return runs, {"refs": refs, "instants": instants}


def summarise(names: list[str], runs: dict, tasks: list[str], seeds: int, budget: int) -> dict:
    from scipy.stats import rankdata

    cells = [(t, s) for t in tasks for s in range(seeds)]
    at = {f: max(1, math.ceil(f * budget)) for f in FRACTIONS}
    ranks: dict[str, dict[float, list[float]]] = {m: {f: [] for f in FRACTIONS} for m in names}
    for t, s in cells:
        for f, n in at.items():
            hv = np.array([runs[(m, t, s)]["curve"][n] for m in names])
            for m, r in zip(names, rankdata(-hv, method="average")):
                ranks[m][f].append(float(r))
    out = {}
    for m in names:
        final = {c: runs[(m, *c)]["curve"][budget] for c in cells}
        out[m] = {
            "mean_rank": float(np.mean(ranks[m][1.0])),
            "rank": {str(int(f * 100)): float(np.mean(ranks[m][f])) for f in FRACTIONS},
            "hypervolume": {
                str(int(f * 100)): float(np.mean([runs[(m, *c)]["curve"][n] for c in cells])) for f, n in at.items()
            },
            "lost_to_random": int(sum(final[c] < runs[("random", *c)]["curve"][budget] for c in cells)),
            "hypervolume_per_task_100": {t: float(np.mean([final[(t, s)] for s in range(seeds)])) for t in tasks},
            "trials": float(np.mean([runs[(m, *c)]["trials"] for c in cells])),
            "full_trials": float(np.mean([runs[(m, *c)]["full_trials"] for c in cells])),
            "resumes": float(np.mean([runs[(m, *c)]["resumes"] for c in cells])),
            "epochs_used": float(np.mean([runs[(m, *c)]["epochs_used"] for c in cells])),
            "wall_s_per_run": float(np.mean([runs[(m, *c)]["wall_s"] for c in cells])),
        }
    return out


def plot(png, names: list[str], runs: dict, tasks, seeds: int, instants: list[int], budget: int, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    x = [n / budget for n in instants]
    for m in names:
        y = [np.mean([runs[(m, t, s)]["curve"][n] for t in tasks for s in range(seeds)]) for n in instants]
        ax.plot(x, y, label=m + (" (default)" if m == DEFAULT else ""), lw=2.2 if m == DEFAULT else 1.2)
    ax.set_xlabel("fraction of the epoch budget spent")
    ax.set_ylabel("hypervolume (normalised, mean over task-seeds)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def main(args, argv) -> None:
    """``search_quality.py lcbench --objectives val_accuracy,time``."""
    t_start = time.perf_counter()
    objectives = parse_objectives(args.objectives)
    names = choose_methods(args.methods, METHODS, PEERS, EXTRA)
    budget = args.budget_trials * lcb.MAX_EPOCHS
    print(
        f"search_quality lcbench, objectives {', '.join(objectives)}: {len(args.tasks)} tasks x {args.seeds} seeds x "
        f"{len(names)} methods, budget {args.budget_trials} x {lcb.MAX_EPOCHS} = {budget} epochs, "
        f"{args.workers} simulated workers" + (", no checkpoints" if args.no_checkpoint else ""),
        flush=True,
    )
    runs, info = run_all(args, names, budget)
    methods = summarise(names, runs, args.tasks, args.seeds, budget)
    cells = len(args.tasks) * args.seeds
    rows = [
        {
            "method": n + (" (default)" if n == DEFAULT else ""),
            "rank@25%": f["rank"]["25"],
            "rank@50%": f["rank"]["50"],
            "rank@100%": f["mean_rank"],
            "HV@25%": f["hypervolume"]["25"],
            "HV@50%": f["hypervolume"]["50"],
            "HV@100%": f["hypervolume"]["100"],
            "lost_to_random": f"{f['lost_to_random']}/{cells}",
            "trials": f["trials"],
            "full-length": f["full_trials"],
            "s/run": f["wall_s_per_run"],
        }
        for n, f in methods.items()
    ]
    print()
    print(table(rows, list(rows[0])))
    print()
    per_task = [{"task": t, **{n: methods[n]["hypervolume_per_task_100"][t] for n in names}} for t in args.tasks]
    print("Hypervolume at 100 % per task (mean over seeds):")
    print(table(per_task, ["task", *names]))
    tag = suffix(args, before="_mo" + ("" if objectives[1] == "time" else "_" + objectives[1]))
    RESULTS.mkdir(exist_ok=True)
    png = RESULTS / f"search_quality{tag}.png"
    plot(
        png,
        names,
        runs,
        args.tasks,
        args.seeds,
        info["instants"],
        budget,
        f"LCBench surrogate, {' x '.join(objectives)}, {len(args.tasks)} tasks x {args.seeds} seeds, "
        f"budget {args.budget_trials} x 52 epochs, {args.workers} workers",
    )
    wall = time.perf_counter() - t_start
    print(f"\nhypervolume curves: {png.relative_to(RESULTS.parent.parent)}; total wall time {wall:.0f} s")
    compact = {
        "default": DEFAULT,
        "objectives": objectives,
        "methods": {
            n: {
                "mean_rank": f["mean_rank"],
                "rank": f["rank"],
                "hypervolume": f["hypervolume"],
                "lost_to_random": f["lost_to_random"],
            }
            for n, f in methods.items()
        },
    }
    refs = info["refs"]
    figures = {
        **compact,
        "clock": "epochs",
        "methods_detail": methods,
        "benchmark": "lcbench",
        "tasks": args.tasks,
        "seeds": args.seeds,
        "budget_trials": args.budget_trials,
        "budget_epochs": budget,
        "max_epochs": lcb.MAX_EPOCHS,
        "workers": args.workers,
        "checkpoint": not args.no_checkpoint,
        "quick": args.quick,
        "hypervolume_reference": "regret 1 (the worst full-length random config), time 1 (T90: the 90th percentile "
        "of a full-length trial's seconds over 10,000 seeded random configs"
        + ("; epoch_time: T90 / 52" if objectives[1] == "epoch_time" else "")
        + "); regret below 0 counted 0",
        "reference": {t: {k: refs[t][k] for k in ("best", "worst", "t90")} for t in args.tasks},
        "png": str(png.relative_to(RESULTS.parent.parent)),
        "wall_s": wall,
    }
    write_entry(figures, compact, argv)


# ------------------------------------------------------------------ variants (the record of how the default was chosen)


def _sweeplab_variant(
    first_only: bool = False, grace_period: int = 0, searcher_first: bool = False, primary_share: float = 0.5
):
    """The default with one thing changed: ``first_only`` ranks rungs by the first objective
    (no fronts), ``searcher_first`` gives RungTPE the first objective alone, ``primary_share``
    the share of its proposals from the first objective's study (0: MOTPE alone)."""

    def searcher_cls(**kw):
        from sweeplab.search.rung_tpe import RungTPE

        return RungTPE(**{**kw, **({"objectives": ()} if searcher_first else {})}, primary_share=primary_share)

    def make(seed: int):
        from _sq_methods import RayMethod, sweeplab_parts

        scheduler, searcher, pending = sweeplab_parts(
            seed, grace_period=grace_period, objectives=OBJECTIVES, searcher_cls=searcher_cls
        )
        if first_only:
            scheduler.fronts = {}  # the scheduler's one-metric path: ranks by val_accuracy
        return RayMethod(scheduler, searcher, pending, objectives=tuple(m for m, _ in OBJECTIVES))

    return make


METHODS.update(
    sweeplab_first=_sweeplab_variant(first_only=True),
    sweeplab_g1=_sweeplab_variant(grace_period=1),
    sweeplab_first_g1=_sweeplab_variant(first_only=True, grace_period=1),
    sweeplab_tpe_first=_sweeplab_variant(searcher_first=True),
    sweeplab_so=_sweeplab_variant(first_only=True, searcher_first=True),
    sweeplab_motpe=_sweeplab_variant(primary_share=0.0),
)
EXTRA = (
    "sweeplab_first",
    "sweeplab_g1",
    "sweeplab_first_g1",
    "sweeplab_tpe_first",
    "sweeplab_so",
    "sweeplab_motpe",
)  # run only when named in --methods
PEERS.update({n: PEERS["sweeplab"] for n in EXTRA})
