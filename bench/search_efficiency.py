"""Search efficiency: a full grid trained to the full epoch budget against a search given
25 % of the grid's total epochs, on ``freq`` and synthetic ``seqclf``, over seeds. Goal:
the budgeted search's best metric / the grid's best >= 0.99 (oriented so that >= 1 means
the budgeted search did at least as well).

    python bench/search_efficiency.py [--experiments freq seqclf] [--seeds 0 1 2] [--arm sweeplab]
                                      [--quick] [--keep DIR]

For each experiment the script writes one grid space file (W&B shape, ``method: grid``,
``scheduler: fifo``, E epochs) and runs it through sweeplab's own path
(``tuning.run(plan.prepare(SweepOptions(...)))``, local Ray, 2 CPUs, 1 a trial). The
budgeted arm is the same file with another ``--search`` / ``--scheduler`` (``ARMS``; the
default, ``sweeplab``, is sweeplab's default search: promotion ASHA + RungTPE;
``ray_asha_optuna`` is Ray's standard recipe, sweeplab's default before) and
``--epoch-budget`` = 25 % of the grid's epochs, which ends it. Each arm searches the very
choices the grid enumerates, so the comparison is of search, not of search spaces.
``bench/search_quality.py freq|seqclf`` runs every arm on the same grids and ranks them.

``--seed`` reaches the searcher and every trial (weights, batch order), and both arms run
with it: a config trained to E epochs by the budgeted arm follows the grid's curve for that
config, so a ratio below 1 means the budgeted arm did not train the grid's best config (or
one as good) to the epoch where it peaked. ``grid rank`` says which grid config the
budgeted arm's best was (1 = the grid's best).

Pinned for both arms, to keep an epoch cheap and the metric informative:
  freq: phase_noise 0 (with the assignment's U(0, 2 pi) every config scores val MSE 0.5,
        the zero predictor's, and there is nothing to search); 10 s signal, plateau LR.
  seqclf: GRU, bidirectional (unidirectional 1-2 layer GRUs learn nothing within 8 epochs
        on these beats), 2000 synthetic beats with 25 % for validation (500 beats: the
        macro F1 of 5 imbalanced classes is noisy on fewer).

Human lines (a Markdown table and a summary line per experiment), then one JSON line;
figures are appended to bench/results/search_efficiency.jsonl.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import yaml  # noqa: E402
from _common import record, table  # noqa: E402

from sweeplab import plan, store, tuning  # noqa: E402
from sweeplab.search import factories  # noqa: E402

GOAL, SHARE = 0.99, 0.25

# budgeted arms: name -> (searcher, scheduler), each given --epoch-budget
ARMS = {
    "sweeplab": ("rung_tpe", "promotion"),  # sweeplab's default search
    "ray_asha_optuna": ("optuna", "asha"),  # Ray's standard recipe (sweeplab's default before)
    "ray_hyperband": ("random", "hyperband"),
    "random": ("random", "fifo"),
}

# experiment -> (metric, mode, fixed values, searched values, epochs); --quick shrinks them
SETUPS = {
    "freq": dict(
        metric="val_mse",
        mode="min",
        epochs=12,
        fixed={"phase_noise": 0.0, "lr_schedule": "plateau", "clip_grad_norm": 1.0},
        grid={"hidden_size": [16, 32, 64], "lr": [1.0e-3, 3.0e-3, 1.0e-2], "seq_length": [50, 100]},
        quick_fixed={"duration": 2.0},
        quick_grid={"hidden_size": [16, 32], "lr": [3.0e-3, 1.0e-2]},
        quick_epochs=4,
    ),
    "seqclf": dict(
        metric="val_macro_f1",
        mode="max",
        epochs=8,
        fixed={
            "cell": "gru",
            "bidirectional": True,
            "synthetic_size": 2000,
            "val_fraction": 0.25,
            "test_fraction": 0.15,
        },
        grid={"hidden_dim": [16, 32, 64], "lr": [3.0e-3, 1.0e-2, 3.0e-2], "n_layers": [1, 2]},
        quick_fixed={"synthetic_size": 600},
        quick_grid={"hidden_dim": [16, 32], "lr": [1.0e-2, 3.0e-2]},
        quick_epochs=4,
    ),
}


def space_file(folder: Path, exp: str, quick: bool) -> tuple[Path, int, int]:
    """The grid space: (file, number of configs, epochs)."""
    s = SETUPS[exp]
    fixed = {**s["fixed"], **(s["quick_fixed"] if quick else {})}
    grid = s["quick_grid"] if quick else s["grid"]
    epochs = s["quick_epochs"] if quick else s["epochs"]
    space = {
        "experiment": exp,
        "method": "grid",
        "scheduler": "fifo",
        "metric": {"name": s["metric"], "goal": "minimize" if s["mode"] == "min" else "maximize"},
        "fixed": {**fixed, "epochs": epochs},
        "parameters": {k: {"values": v} for k, v in grid.items()},
    }
    path = folder / f"{exp}_grid.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False))
    return path, len(list(itertools.product(*grid.values()))), epochs


def sweep(opts: plan.SweepOptions, metric: str, mode: str) -> dict:
    """One arm through sweeplab's path; its best metric, config, epochs and wall time, and
    ``values``: the metric of every epoch any trial trained, in the order they were reported
    (the store keeps history rows in arrival order), for anytime curves."""
    t0 = time.perf_counter()
    prep = plan.prepare(opts)
    with contextlib.redirect_stdout(io.StringIO()):  # Tune's and sweeplab's summary lines
        code = tuning.run(prep)
    wall = time.perf_counter() - t0
    if code != 0:
        raise SystemExit(f"{opts.name}: sweep failed (exit {code}); see {prep.uri}")
    trials, history = store.read_tables(prep.uri, metric, mode)
    best_col = f"best/{metric}"
    best = trials.sort_values(best_col, ascending=mode == "min").iloc[0]
    searched = [c for c in trials.columns if c.startswith("config/")]
    sched = factories.make_scheduler(
        prep.scheduler, prep.spec.max_epochs(), prep.spec, prep.seed, budget=prep.search_budget
    )
    scheduler = {"name": prep.scheduler.name}
    if hasattr(sched, "_brackets"):  # what sweeplab gave ASHA: its rungs (grace period first), factor, max_t
        scheduler.update(
            rungs=sorted(int(m) for m, _ in sched._brackets[0]._rungs),
            reduction_factor=sched._reduction_factor,
            max_t=sched._max_t,
        )
    elif hasattr(sched, "milestones"):  # promotion ASHA
        scheduler.update(rungs=list(sched.milestones), reduction_factor=sched.eta, max_t=sched.max_t)
    return {
        "best": float(best[best_col]),
        "config": {c[7:]: store.scalar(best[c]) for c in searched},
        "epochs": int(trials["iterations"].sum()),
        "trials": len(trials),
        "wall_s": wall,
        "table": trials[[*searched, best_col, "iterations"]],
        "scheduler": scheduler,
        "values": [float(v) for v in history[metric]],
    }


def grid_arm(exp: str, common: dict, seed: int) -> dict:
    s = SETUPS[exp]
    return sweep(
        plan.SweepOptions(**common, search="grid", scheduler="fifo", name=f"{exp}-grid-{seed}"), s["metric"], s["mode"]
    )


def budgeted_arm(exp: str, arm: str, common: dict, seed: int, budget: int) -> dict:
    """``arm`` given ``budget`` epochs in all; num_samples as many trials as there are
    epochs (every trial reports at least one), so the budget, not num_samples, ends it."""
    s = SETUPS[exp]
    search, scheduler = ARMS[arm]
    return sweep(
        plan.SweepOptions(
            **common,
            search=search,
            scheduler=scheduler,
            num_samples=budget,
            epoch_budget=budget,
            name=f"{exp}-{arm}-{seed}",
        ),
        s["metric"],
        s["mode"],
    )


def grid_rank(grid_trials, config: dict, keys: list[str], metric: str, mode: str) -> int:
    ranked = grid_trials.sort_values(f"best/{metric}", ascending=mode == "min").reset_index(drop=True)
    for i, row in ranked.iterrows():
        if all(store.scalar(row[f"config/{k}"]) == config[k] for k in keys):
            return i + 1
    return 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--experiments", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--quick", action="store_true", help="a small grid, few epochs, small data: a fast check")
    p.add_argument(
        "--arm",
        choices=list(ARMS),
        default="sweeplab",
        help="the budgeted search (default: sweeplab's default, promotion ASHA + RungTPE)",
    )
    p.add_argument("--cpus", type=int, default=2)
    p.add_argument(
        "--keep", metavar="DIR", help="keep the space files and sweep folders here (default: a temporary folder)"
    )
    args = p.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    t_start = time.perf_counter()
    rows, figures = (
        [],
        {"goal_ratio": GOAL, "budget_share": SHARE, "quick": args.quick, "cpus": args.cpus, "experiments": {}},
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        for exp in args.experiments:
            s = SETUPS[exp]
            metric, mode = s["metric"], s["mode"]
            path, n_configs, epochs = space_file(folder, exp, args.quick)
            budget = int(SHARE * n_configs * epochs)
            keys = list((s["quick_grid"] if args.quick else s["grid"]))
            per_seed = []
            for seed in args.seeds:
                common = dict(
                    target=exp,
                    space=str(path),
                    seed=seed,
                    storage=str(folder / "sweeps"),
                    verbose=0,
                    num_cpus=args.cpus,
                )
                grid = grid_arm(exp, common, seed)
                arm = budgeted_arm(exp, args.arm, common, seed, budget)
                ratio = grid["best"] / arm["best"] if mode == "min" else arm["best"] / grid["best"]
                rank = grid_rank(grid["table"], arm["config"], keys, metric, mode)
                row = {
                    "experiment": exp,
                    "metric": metric,
                    "seed": seed,
                    "grid best": grid["best"],
                    f"{args.arm} best": arm["best"],
                    "ratio": ratio,
                    "grid rank": rank,
                    "grid epochs": grid["epochs"],
                    "arm epochs": arm["epochs"],
                    "epoch share": arm["epochs"] / grid["epochs"],
                    "arm trials": arm["trials"],
                    "grid wall s": grid["wall_s"],
                    "arm wall s": arm["wall_s"],
                }
                rows.append(row)
                print(
                    f"{exp} seed {seed}: ratio {ratio:.4f} (grid {grid['best']:.4g}, {args.arm} {arm['best']:.4g}, "
                    f"its config is grid rank {rank}); epochs {grid['epochs']} / {arm['epochs']}; "
                    f"wall {grid['wall_s']:.0f} s / {arm['wall_s']:.0f} s",
                    flush=True,
                )
                per_seed.append(
                    {
                        "seed": seed,
                        "grid_best": grid["best"],
                        "arm_best": arm["best"],
                        "ratio": ratio,
                        "arm_config_grid_rank": rank,
                        "grid_config": grid["config"],
                        "arm_config": arm["config"],
                        "grid_epochs": grid["epochs"],
                        "arm_epochs": arm["epochs"],
                        "arm_trials": arm["trials"],
                        "grid_wall_s": grid["wall_s"],
                        "arm_wall_s": arm["wall_s"],
                    }
                )
            ratios = [r["ratio"] for r in per_seed]
            figures["experiments"][exp] = {
                "metric": metric,
                "mode": mode,
                "configs": n_configs,
                "epochs": epochs,
                "epoch_budget": budget,
                "space": yaml.safe_load(path.read_text()),
                "arm": args.arm,
                "search": ARMS[args.arm][0],
                "scheduler": arm["scheduler"],
                "mean_ratio": statistics.mean(ratios),
                "min_ratio": min(ratios),
                "goal_met": min(ratios) >= GOAL,
                "seeds": per_seed,
            }
    print()
    columns = list(rows[0]) if rows else []
    print(table(rows, columns))
    print()
    for exp, f in figures["experiments"].items():
        print(
            f"{exp}: {f['configs']} configs x {f['epochs']} epochs = {f['configs'] * f['epochs']} epochs for the grid; "
            f"{f['arm']} given {f['epoch_budget']}; ratio mean {f['mean_ratio']:.4f}, min {f['min_ratio']:.4f} "
            f"over {len(f['seeds'])} seeds: goal >= {GOAL} {'met' if f['goal_met'] else 'MISSED'}"
        )
    figures["wall_s"] = time.perf_counter() - t_start
    print(f"total wall time {figures['wall_s']:.0f} s")
    record("search_efficiency", figures)


if __name__ == "__main__":
    main()
