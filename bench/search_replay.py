"""Search efficiency on recorded real learning curves: the search_efficiency grids of
``freq`` and ``seqclf``, trained once per seed through sweeplab's own path, then every
search method replayed on those curves with many search seeds (a "tabular" benchmark, the
way HPOBench and YAHPO compare methods). A real sweep of each method costs minutes and
gives one draw; a replay costs a second and gives the distribution.

    python bench/search_replay.py record freq|seqclf [--seeds 0 1 2]
    python bench/search_replay.py freq|seqclf [--search-seeds 20] [--share 0.25]

``record`` runs bench/search_efficiency.py's grid (its space file, 2 CPUs, one trial a
CPU) for each training seed and writes every config's validation metric after each epoch
to bench/results/curves_EXP.json. A trial's curve depends on its seed only (weights, batch
order), so a config trained by any method follows the recorded curve; a paused trial
resumed later goes on along it (its checkpoint).

The replay drives each method's own scheduler and searcher objects as Tune's controller
does (bench/_sq_sim.py and bench/_sq_methods.py, 2 workers), budget ``--share`` of the
grid's epochs (default 25 %, search_efficiency's), for each recorded seed x search seed.
Methods: random (the grid's configs in a random order, no repeats), sweeplab's default
(exactly as ``sweeplab tune`` builds it for this budget), Ray's ASHA + Optuna TPE, Ray's
HyperBand with random search. Figures per method: the ratio of its best to the grid's best
(search_efficiency's: >= 1 means as good as the grid; goal 0.99), its mean and minimum,
the share of runs at >= 0.99, mean rank among the methods (ties averaged), its ratio minus
random search's with the same seeds (vs_random: the mean of the paired differences, and
their standard error; the runs share recorded curves, so it understates), and the runs it
ended strictly below random search with the same seeds (lost_to_random), and what its
choice is worth once trained again (``retrained``: the config of the best value it saw,
that config's best value averaged over the *other* recorded seeds, as a ratio to the
config best on that average; beside it the full grid's own choice, ``grid_retrained``):
one seed's ratio rewards a lucky draw, this one the config. Then what no
model-free allocation can beat: the best successive-halving split of the budget (n configs
to epoch r, the k best on to full length), chosen in hindsight (``static_ceiling``).

Human lines, then one JSON line; figures appended to bench/results/search_replay.jsonl.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np  # noqa: E402
from _common import RESULTS, record, table  # noqa: E402

GOAL = 0.99
METHODS = ("random", "sweeplab", "ray_asha_optuna", "ray_hyperband")


def curves_path(exp: str) -> Path:
    return RESULTS / f"curves_{exp}.json"


def record_curves(exp: str, seeds: list[int]) -> None:
    import tempfile

    import search_efficiency as se

    from sweeplab import store

    s = se.SETUPS[exp]
    out = {
        "experiment": exp,
        "metric": s["metric"],
        "mode": s["mode"],
        "grid": s["grid"],
        "fixed": s["fixed"],
        "epochs": s["epochs"],
        "seeds": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        path, _, _ = se.space_file(Path(tmp), exp, False)
        for seed in seeds:
            common = dict(
                target=exp, space=str(path), seed=seed, storage=str(Path(tmp) / "sweeps"), verbose=0, num_cpus=2
            )
            grid = se.grid_arm(exp, common, seed)
            trials, history = store.read_tables(
                str(Path(tmp) / "sweeps" / f"{exp}-grid-{seed}"), s["metric"], s["mode"]
            )
            rows = []
            for _, row in trials.iterrows():
                h = history[history["trial_id"] == row["trial_id"]].sort_values("training_iteration")
                rows.append(
                    {
                        "config": {k: store.scalar(row[f"config/{k}"]) for k in s["grid"]},
                        "values": [float(v) for v in h[s["metric"]]],
                    }
                )
            out["seeds"][str(seed)] = rows
            print(f"{exp} seed {seed}: {len(rows)} configs recorded in {grid['wall_s']:.0f} s", flush=True)
    curves_path(exp).write_text(json.dumps(out))
    print(f"written: {curves_path(exp)}")


@dataclass
class Curves:
    """The recorded curves of one experiment, oriented so that higher is better."""

    data: dict  # as curves_EXP.json holds it
    sign: float  # -1 where the metric is minimised
    grids: dict[str, np.ndarray]  # recorded seed -> oriented values, configs x epochs (the file's order)

    @property
    def epochs(self) -> int:
        return int(self.data["epochs"])

    @property
    def n_configs(self) -> int:
        return len(next(iter(self.grids.values())))

    def budget(self, share: float) -> int:
        return int(share * self.n_configs * self.epochs)

    def others_best(self, seed: str) -> np.ndarray:
        """Each config's best value, averaged over the recorded seeds other than ``seed``."""
        return np.mean([c.max(axis=1) for s, c in self.grids.items() if s != seed], axis=0)

    def retrained(self, seed: str) -> np.ndarray:
        """Each config's worth once trained again: :meth:`others_best` as a ratio to the
        config best on it (1 = the config a practitioner should want, whatever one seed's
        draw said)."""
        again = self.others_best(seed)
        return np.array([self.ratio(v, again.max()) for v in again])

    def key(self, config: dict) -> tuple:
        """A config of the grid as a key: its grid values in the grid's order."""
        return tuple(config[k] for k in self.data["grid"])

    def index(self, seed: str) -> dict[tuple, int]:
        """Config key -> its row in ``grids[seed]``."""
        return {self.key(r["config"]): i for i, r in enumerate(self.data["seeds"][seed])}

    def curve_of(self, seed: str):
        """The recorded curve of a config on one recorded seed (what a replayed trial follows)."""
        index, values = self.index(seed), self.grids[seed]
        return lambda config: values[index[self.key(config)]]

    def ratio(self, value: float, best: float) -> float:
        """search_efficiency's ratio of two oriented values: >= 1 where ``value`` is as good as ``best``."""
        return best / value if self.sign < 0 else value / best


def load_curves(exp: str) -> Curves:
    data = json.loads(curves_path(exp).read_text())
    sign = -1.0 if data["mode"] == "min" else 1.0
    return Curves(
        data, sign, {s: sign * np.array([r["values"] for r in rows], dtype=float) for s, rows in data["seeds"].items()}
    )


class GridRandom:
    """Random search over a grid: its configs in a random order, none twice."""

    def __init__(self, seed: int, grid: dict, max_epochs: int):
        from _sq_sim import CONTINUE, STOP

        self.order = [dict(zip(grid, values)) for values in itertools.product(*grid.values())]
        np.random.default_rng(seed).shuffle(self.order)
        self.max_epochs, self.n, self.CONTINUE, self.STOP = max_epochs, 0, CONTINUE, STOP

    def next(self):
        if self.n >= len(self.order):
            return None
        self.n += 1
        return self.n, self.order[self.n - 1]

    def report(self, key, epoch, value):
        return self.STOP if epoch >= self.max_epochs else self.CONTINUE


def methods_for(curves: Curves, share: float):
    """bench/_sq_methods, written for LCBench's space, pointed at this grid and budget."""
    import _sq_methods as sqm
    from ray import tune

    sqm.MAX_EPOCHS, sqm.BUDGET = curves.epochs, curves.budget(share)
    sqm.ray_space = lambda: {k: tune.choice(v) for k, v in curves.data["grid"].items()}
    return sqm


def replay(exp: str, curves: Curves, search_seeds: int, share: float) -> dict:
    from _sq_sim import simulate

    data = curves.data
    grid, epochs, budget = data["grid"], curves.epochs, curves.budget(share)
    sqm = methods_for(curves, share)
    factories = {
        "random": lambda seed: GridRandom(seed, grid, epochs),
        "sweeplab": sqm.sweeplab_default,
        "ray_asha_optuna": sqm.ray_asha_optuna,
        "ray_hyperband": sqm.ray_hyperband,
    }
    finals: dict[str, dict[tuple[str, int], float]] = {m: {} for m in METHODS}
    ratios: dict[str, list[float]] = {m: [] for m in METHODS}
    retrained: dict[str, list[float]] = {m: [] for m in METHODS}
    again = {seed: curves.retrained(seed) for seed in curves.grids}
    for seed in data["seeds"]:
        index, curve_of = curves.index(seed), curves.curve_of(seed)
        best = float(curves.grids[seed].max())
        for r in range(search_seeds):
            for m in METHODS:
                sqm.seed_globals(r)
                run = simulate(factories[m](r), curve_of, budget, sqm.WORKERS, epochs)
                value = float(run.curve[-1])
                finals[m][(seed, r)] = value
                ratios[m].append(curves.ratio(value, best))
                retrained[m].append(again[seed][index[curves.key(run.chosen)]])
    keys = list(finals["random"])
    ranks = {m: [] for m in METHODS}
    for key in keys:
        values = np.array([finals[m][key] for m in METHODS])
        order = (-values).argsort().argsort() + 1.0
        for i, m in enumerate(METHODS):  # ties averaged
            ranks[m].append(float(np.mean(order[values == values[i]])))
    methods = {}
    for m in METHODS:
        r = np.asarray(ratios[m])
        diff = r - np.asarray(ratios["random"])  # paired: the same recorded seed and search seed
        methods[m] = {
            "mean_ratio": float(r.mean()),
            "min_ratio": float(r.min()),
            "at_goal": float(np.mean(r >= GOAL)),
            "mean_rank": float(np.mean(ranks[m])),
            "vs_random": float(diff.mean()),
            "vs_random_se": float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0,
            "lost_to_random": int(sum(finals[m][k] < finals["random"][k] for k in keys)),
            "retrained": float(np.mean(retrained[m])),
        }
    grid_choice = {seed: int(values.max(axis=1).argmax()) for seed, values in curves.grids.items()}
    return {
        "experiment": exp,
        "budget_epochs": budget,
        "share": share,
        "grid_configs": curves.n_configs,
        "epochs": epochs,
        "recorded_seeds": list(data["seeds"]),
        "search_seeds": search_seeds,
        "runs": len(keys),
        "goal_ratio": GOAL,
        "default": "sweeplab",
        "methods": methods,
        "grid_retrained": float(np.mean([again[seed][i] for seed, i in grid_choice.items()])),
    }


def warm_start(curves: Curves, search_seeds: int, share: float) -> dict:
    """sweeplab's default warm-started (``sweeplab tune --warm-start``) from an earlier sweep:
    the default with the same budget on another recorded seed (another search seed too),
    for each recorded seed x other seed x search seed; beside it the same runs cold (the
    default as in :func:`replay`, paired by recorded seed and search seed)."""
    from _sq_sim import Recorded, simulate

    sqm = methods_for(curves, share)
    budget, epochs = curves.budget(share), curves.epochs
    warm, cold = {"ratio": [], "retrained": []}, {"ratio": [], "retrained": []}
    diffs = []
    for seed in curves.grids:
        index, best, again = curves.index(seed), float(curves.grids[seed].max()), curves.retrained(seed)
        for r in range(search_seeds):
            sqm.seed_globals(r)
            run = simulate(sqm.sweeplab_default(r), curves.curve_of(seed), budget, sqm.WORKERS, epochs)
            cold_ratio = curves.ratio(float(run.curve[-1]), best)
            cold["ratio"].append(cold_ratio)
            cold["retrained"].append(again[index[curves.key(run.chosen)]])
            for other in curves.grids:
                if other == seed:
                    continue
                sqm.seed_globals(search_seeds + r)
                earlier = Recorded(sqm.sweeplab_default(search_seeds + r))
                simulate(earlier, curves.curve_of(other), budget, sqm.WORKERS, epochs)
                sqm.seed_globals(r)
                method = sqm.RayMethod(*sqm.sweeplab_parts(r, prior=earlier.prior()))
                run = simulate(method, curves.curve_of(seed), budget, sqm.WORKERS, epochs)
                ratio = curves.ratio(float(run.curve[-1]), best)
                warm["ratio"].append(ratio)
                warm["retrained"].append(again[index[curves.key(run.chosen)]])
                diffs.append(ratio - cold_ratio)

    def summary(f):
        return {
            "mean_ratio": float(np.mean(f["ratio"])),
            "at_goal": float(np.mean(np.asarray(f["ratio"]) >= GOAL)),
            "retrained": float(np.mean(f["retrained"])),
            "runs": len(f["ratio"]),
        }

    return {
        "warm": summary(warm),
        "cold": summary(cold),
        "vs_cold": float(np.mean(diffs)),
        "vs_cold_se": float(np.std(diffs, ddof=1) / np.sqrt(len(diffs))),
    }


def static_ceiling(curves: Curves, share: float, draws: int = 200) -> dict:
    """What any successive-halving allocation without a model could reach on these curves,
    the allocation chosen in hindsight: n random configs trained to epoch r, the k best
    there to full length (n r + k (E - r) <= budget), over ``draws`` random subsets a
    recorded seed; the best (r, k, n) by the share of runs at >= GOAL, and by mean ratio."""
    epochs, n_configs, budget = curves.epochs, curves.n_configs, curves.budget(share)
    found = {}
    for r in range(1, epochs):
        for k in range(1, n_configs + 1):
            n = (budget - k * (epochs - r)) // r
            if n < k or n > n_configs:
                continue
            ratios = []
            for values in curves.grids.values():
                best, rng = values.max(), np.random.default_rng(0)
                for _ in range(draws):
                    picked = rng.permutation(n_configs)[:n]
                    top = picked[np.argsort(-values[picked, r - 1])[:k]]
                    ratios.append(curves.ratio(max(values[picked, :r].max(), values[top].max()), best))
            ratios = np.asarray(ratios)
            found[(r, k, n)] = (float(np.mean(ratios >= GOAL)), float(ratios.mean()))
    by_goal = max(found, key=lambda key: found[key])
    by_mean = max(found, key=lambda key: found[key][1])
    return {
        "allocations": len(found),
        "best_at_goal": {
            "r": by_goal[0],
            "k": by_goal[1],
            "n": by_goal[2],
            "at_goal": found[by_goal][0],
            "mean_ratio": found[by_goal][1],
        },
        "best_mean": {
            "r": by_mean[0],
            "k": by_mean[1],
            "n": by_mean[2],
            "at_goal": found[by_mean][0],
            "mean_ratio": found[by_mean][1],
        },
    }


def transfer_oracle(curves: Curves, share: float) -> dict:
    """What knowing the answer beforehand buys: for each recorded seed, the k configs that
    were best (their best value, mean over the *other* recorded seeds) trained straight to
    full length, as many as the budget pays for. No search has this knowledge; where even
    it misses the goal, the goal is finer than what retraining a config with another seed
    changes (``seed_spread``: a config's best value across the recorded seeds, max / min,
    the median over configs)."""
    grids = curves.grids
    k = max(1, curves.budget(share) // curves.epochs)
    ratios = {}
    for seed, values in grids.items():
        known = curves.others_best(seed)
        ratios[seed] = float(curves.ratio(values[np.argsort(-known)[:k]].max(), values.max()))
    bests = curves.sign * np.array([c.max(axis=1) for c in grids.values()])  # seeds x configs, as recorded
    spread = np.median(bests.max(axis=0) / bests.min(axis=0))
    return {
        "full_trials": k,
        "ratios": ratios,
        "mean_ratio": float(np.mean(list(ratios.values()))),
        "seed_spread": float(spread),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=["record", "freq", "seqclf"])
    p.add_argument("experiment", nargs="?", choices=["freq", "seqclf"], help="with record: which grid to train")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="record: training seeds")
    p.add_argument("--search-seeds", type=int, default=20, metavar="N", help="replay: search seeds per recorded seed")
    p.add_argument("--share", type=float, default=0.25, help="replay: the budget, a share of the grid's epochs")
    args = p.parse_args(argv)
    if args.what == "record":
        if not args.experiment:
            p.error("record needs an experiment: freq or seqclf")
        record_curves(args.experiment, args.seeds)
        return
    if args.experiment:
        p.error(f"{args.what}: no second experiment")
    if not curves_path(args.what).is_file():
        sys.exit(f"no recorded curves for {args.what}: run `python bench/search_replay.py record {args.what}` first")
    if args.search_seeds < 1 or not 0 < args.share <= 1:
        sys.exit("--search-seeds must be >= 1 and --share in (0, 1]")
    warnings.filterwarnings("ignore")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    t0 = time.perf_counter()
    curves = load_curves(args.what)
    figures = replay(args.what, curves, args.search_seeds, args.share)
    rows = [
        {"method": m + (" (default)" if m == "sweeplab" else ""), **{k: v for k, v in f.items()}}
        for m, f in figures["methods"].items()
    ]
    print(
        f"{args.what}: {figures['runs']} runs a method ({len(figures['recorded_seeds'])} recorded seeds x "
        f"{args.search_seeds} search seeds), budget {figures['budget_epochs']} epochs "
        f"({args.share:.0%} of the grid's), {time.perf_counter() - t0:.0f} s"
    )
    print(
        table(
            rows,
            [
                "method",
                "mean_ratio",
                "min_ratio",
                "at_goal",
                "mean_rank",
                "vs_random",
                "vs_random_se",
                "lost_to_random",
                "retrained",
            ],
        )
    )
    print(
        f"retrained: the chosen config (the best value seen) trained again with the other recorded seeds, as a "
        f"ratio to the config best on their average; the full grid's own choice: {figures['grid_retrained']:.4f}"
    )
    figures["static_ceiling"] = ceiling = static_ceiling(curves, args.share)
    g, m = ceiling["best_at_goal"], ceiling["best_mean"]
    print(
        f"without a model, the best of {ceiling['allocations']} successive-halving allocations chosen in hindsight "
        f"(n configs to epoch r, the k best to full length): {g['at_goal']:.0%} of runs at >= {GOAL} "
        f"(r {g['r']}, k {g['k']}, n {g['n']}); the best mean ratio {m['mean_ratio']:.4f} (r {m['r']}, k {m['k']}, "
        f"n {m['n']})"
    )
    figures["transfer_oracle"] = oracle = transfer_oracle(curves, args.share)
    print(
        f"knowing beforehand which configs are best (from the other recorded seeds' full grids), "
        f"{oracle['full_trials']} of them trained to full length: ratio "
        + ", ".join(f"seed {s} {r:.3f}" for s, r in oracle["ratios"].items())
        + f" (mean {oracle['mean_ratio']:.4f}); a config retrained with another seed: its best value "
        f"varies by a factor {oracle['seed_spread']:.3f} (median over configs)"
    )
    figures["warm_start"] = w = warm_start(curves, args.search_seeds, args.share)
    print(
        f"warm-started (--warm-start) from a default sweep of the same budget on another recorded seed "
        f"({w['warm']['runs']} runs): mean ratio {w['warm']['mean_ratio']:.4f} against {w['cold']['mean_ratio']:.4f} "
        f"cold (paired difference {w['vs_cold']:+.4f}, se {w['vs_cold_se']:.4f}), at goal {w['warm']['at_goal']:.0%} "
        f"against {w['cold']['at_goal']:.0%}, retrained {w['warm']['retrained']:.4f} against "
        f"{w['cold']['retrained']:.4f} (the full grid's own choice {figures['grid_retrained']:.4f})"
    )
    record("search_replay", figures)


if __name__ == "__main__":
    main()
