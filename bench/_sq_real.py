"""search_quality's real-training benchmarks, ``freq`` and ``seqclf``: every budgeted arm of
bench/search_efficiency.py (``ARMS``: sweeplab's default, Ray's ASHA + Optuna, Ray's
HyperBand with random search, random search) on that script's grid, through sweeplab's own
tuning path (local Ray, 2 CPUs, one trial a CPU), each seed with its own full grid as the
reference.

Budget: 25 % of the grid's epochs (search_efficiency.SHARE), the same for every arm; a
trial's epochs are the rows it reported. Anytime curve: the best validation value of any
epoch reported so far, epochs in the order the store received them (oriented so that higher
is better: val_mse is negated). Reference per seed ("task" ``EXP/seedN``): ``best`` is the
grid's best epoch, ``worst`` the grid's worst config at its own best epoch, so a regret of 0
is the grid's best and 1 the worst thing the grid holds.

The peers that need no Ray (Optuna in-process, Syne Tune) are not run here: they would need
their own training loop around the same trainable; the LCBench benchmark compares them.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import search_efficiency as se


def run_all(
    exp: str, seeds: int, arms: list[str], cpus: int = 2, quick: bool = False, keep: str | None = None
) -> tuple[dict, dict, int]:
    """Every (arm, EXP/seedN, 0): its Run; the references per seed; the budget in epochs."""
    s = se.SETUPS[exp]
    sign = -1.0 if s["mode"] == "min" else 1.0
    runs, refs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        path, n_configs, epochs = se.space_file(folder, exp, quick)
        budget = int(se.SHARE * n_configs * epochs)
        for seed in range(seeds):
            common = dict(
                target=exp, space=str(path), seed=seed, storage=str(folder / "sweeps"), verbose=0, num_cpus=cpus
            )
            grid = se.grid_arm(exp, common, seed)
            per_config = sign * grid["table"][f"best/{s['metric']}"].to_numpy(dtype=float)
            task = f"{exp}/seed{seed}"
            refs[task] = {
                "best": float(per_config.max()),
                "worst": float(per_config.min()),
                "grid_epochs": grid["epochs"],
                "grid_wall_s": grid["wall_s"],
            }
            line = []
            for arm in arms:
                t0 = time.perf_counter()
                r = se.budgeted_arm(exp, arm, common, seed, budget)
                runs[(arm, task, 0)] = anytime(r, sign, budget, epochs, time.perf_counter() - t0)
                line.append(f"{arm} {sign * runs[(arm, task, 0)].curve[-1]:.4g} ({r['wall_s']:.0f}s)")
            print(f"{task}: grid best {sign * refs[task]['best']:.4g}; " + ", ".join(line), flush=True)
    return runs, refs, budget


def anytime(r: dict, sign: float, budget: int, epochs: int, wall: float) -> SimpleNamespace:
    values = sign * np.asarray(r["values"][:budget], dtype=float)
    values = np.where(np.isfinite(values), values, -np.inf)
    curve = np.maximum.accumulate(values) if len(values) else np.array([-np.inf])
    curve = np.concatenate([curve, np.full(budget - len(curve), curve[-1])]) if len(curve) < budget else curve
    return SimpleNamespace(
        curve=curve,
        epochs_used=min(len(r["values"]), budget),
        trials=r["trials"],
        full_trials=int((r["table"]["iterations"] >= epochs).sum()),
        resumes=0,
        wall_s=wall,
        notes=[],
    )
