"""Cross-check of the simulated Ray methods: the same scheduler + searcher through a real
``tune.Tuner`` (local Ray, 2 CPUs, a function trainable reading the surrogate, a checkpoint
per epoch so paused trials resume where they stopped) against bench/_sq_sim.py, on one task
and a small budget. Prints how many trials ended at each epoch count, both ways.

    python bench/_sq_raycheck.py ray_bohb [--epochs 700] [--task 7593] [--seed 0]

Real Tune is not lockstep (a trial's first epoch costs an actor start), so the order of
events, and with it ASHA's rung decisions, differs a little; the bracket structure (which
epoch counts trials stop at) should match.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _sq_lcbench as lcb  # noqa: E402
import _sq_methods as sqm  # noqa: E402
from _sq_sim import simulate  # noqa: E402
from search_quality import DEFAULT_DATA, quiet  # noqa: E402


class _Budget:
    def __new__(cls, epochs: int):
        from ray.tune.stopper import Stopper

        class Budget(Stopper):
            def __init__(self):
                self.n = 0

            def __call__(self, trial_id, result):
                self.n += 1
                return False

            def stop_all(self):
                return self.n >= epochs

        return Budget()


def simulated(name: str, data: Path, task: str, seed: int, epochs: int) -> collections.Counter:
    bench = lcb.LCBench(data, task)
    method = sqm.make(name, seed)
    trained: dict = {}
    report = method.report

    def counting(key, epoch, value):
        trained[key] = epoch
        return report(key, epoch, value)

    method.report = counting
    simulate(method, bench.curve, epochs, sqm.WORKERS, lcb.MAX_EPOCHS)
    return collections.Counter(trained.values())


def real(name: str, data: Path, task: str, seed: int, epochs: int, folder: str) -> collections.Counter:
    import ray
    from ray import tune

    sqm.seed_globals(seed)
    scheduler, searcher, _ = sqm.RAY_PARTS[name](seed)
    if name == "ray_hyperband":
        searcher = None  # Tune's BasicVariantGenerator, which the simulation's sampler mimics

    def trainable(config):
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import _sq_lcbench as lcb_

        curve = lcb_.LCBench(data, task).curve(config)
        start, ckpt = 0, tune.get_checkpoint()
        if ckpt:
            with ckpt.as_directory() as d:
                start = int(Path(d, "epoch").read_text())
        for epoch in range(start + 1, lcb_.MAX_EPOCHS + 1):
            with tempfile.TemporaryDirectory() as d:
                Path(d, "epoch").write_text(str(epoch))
                tune.report({lcb_.METRIC: float(curve[epoch - 1])}, checkpoint=tune.Checkpoint.from_directory(d))

    ray.init(address="local", num_cpus=sqm.WORKERS, include_dashboard=False, log_to_driver=False)
    try:
        tuner = tune.Tuner(
            trainable,
            param_space=sqm.ray_space(),
            tune_config=tune.TuneConfig(
                metric=lcb.METRIC,
                mode=lcb.MODE,
                scheduler=scheduler,
                search_alg=searcher,
                num_samples=10 * epochs,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(stop=_Budget(epochs), verbose=0, storage_path=folder, name=name),
        )
        df = tuner.fit().get_dataframe()
    finally:
        ray.shutdown()
    return collections.Counter(df["training_iteration"].dropna().astype(int))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("method", choices=sorted(sqm.RAY_PARTS))
    p.add_argument("--epochs", type=int, default=700)
    p.add_argument("--task", default=lcb.DEV_TASKS[0], choices=lcb.DEV_TASKS)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = p.parse_args()
    quiet()
    with tempfile.TemporaryDirectory(prefix="sqray") as tmp:
        os.environ.setdefault("RAY_TMPDIR", tmp)
        sim = simulated(args.method, args.data, args.task, args.seed, args.epochs)
        t0 = time.perf_counter()
        got = real(args.method, args.data, args.task, args.seed, args.epochs, tmp)
        wall = time.perf_counter() - t0
    for label, c in (("simulated", sim), ("real Tune", got)):
        print(f"{label:>9}: {sum(c.values())} trials; epochs trained -> trials: {dict(sorted(c.items()))}")
    print(f"(real Tune: {wall:.0f} s)")


if __name__ == "__main__":
    main()
