"""``search_quality.py lcbench --real``: the wall-clock simulator (bench/_sq_wall.py) checked
against real sweeps through ``sweeplab tune`` on the same LCBench surrogate.

The user trainable (``TRAINABLE``: task, surrogate and scale baked in) computes its config's
curve once per call (``trial_plan``; that cost, the check's own, comes off the first sleep),
then per epoch sleeps the simulator's epoch seconds x ``scale`` (``sleeps``) and reports
``val_accuracy``, with a checkpoint of the epoch unless ``--no-checkpoint``.

Per task x seed x method ``sweeplab tune`` runs with ``--time-budget`` = the simulator's
(``budget_s``: K median full-length trials / 2 workers) x scale, 2 CPUs, 2 trials at once:
``sweeplab`` (no flags, ``--num-samples K``: its epoch budget, as the simulator has it),
``ray_asha_optuna`` (``--scheduler asha --search optuna``; the space sets the simulator's grace
period 1 and reduction factor 3, Ray's default being 4), ``random`` (``--scheduler fifo
--search random``). The simulator caps neither of the last two, the time budget ends them: they
get ``--num-samples UNCAPPED`` (K trials would end ASHA after a few percent of its time).

The simulator runs the same (method, task, seed) on epoch seconds and budget x scale with the
measured trial costs (bench/results/trial_costs.jsonl) as they are: its prediction for this
sweep ("sim"; "bench sim": epochs at the bench's own scale). Ray's random search draws other
configs than the bench's: random's are replayed in the simulator too ("same configs").
Real: trials.parquet (best, epochs_trained, trials started); history.parquet's ``t_report``
from ``t0`` = the first entry - the start cost gives the best-so-far at 25 / 50 / 100 % of the
budget, ``span`` (last report - t0: Tune's clock starts a cold actor start before t0), ``busy``
(share of the 2 x budget worker-seconds in epoch sleeps; a trial restarted without checkpoint
keeps its latest run's rows, its epochs beyond them count as its first ones again), ``report``
(an epoch's time beyond its sleep) and ``start`` / ``resume`` (a worker's last report -> its
next call's entry, paired as bench/trial_costs.py does).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import _sq_lcbench as lcb

BENCH = Path(__file__).resolve().parent
TARGET_S = 80.0  # the auto scale: each sweep's time budget, in seconds
UNCAPPED = 100000  # --num-samples for methods the time budget ends
METHODS = {
    "sweeplab": [],
    "ray_asha_optuna": ["--scheduler", "asha", "--search", "optuna"],
    "random": ["--scheduler", "fifo", "--search", "random"],
}
FRACTIONS = (0.25, 0.5, 1.0)
_BENCHES: dict = {}  # (data, task) -> LCBench, per worker process (Tune reuses its actors)

TRAINABLE = """
import json, os, sys, tempfile, time

BENCH, DATA, TASK, SCALE, CHECKPOINT = {bench!r}, {data!r}, {task!r}, {scale!r}, {checkpoint!r}


def objective(config):
    t_enter = time.time()
    from ray import tune

    if BENCH not in sys.path:
        sys.path.insert(0, BENCH)
    import _sq_lcreal

    curve, sleeps = _sq_lcreal.trial_plan(DATA, TASK, config, SCALE)
    setup = time.time() - t_enter  # the surrogate's call: the check's cost, off the first sleep
    start, checkpoint = 0, tune.get_checkpoint()
    if checkpoint:
        with checkpoint.as_directory() as folder:
            with open(os.path.join(folder, "state.json")) as f:
                start = json.load(f)["epoch"]
    for epoch in range(start + 1, config["epochs"] + 1):
        time.sleep(max(0.0, sleeps[epoch - 1] - setup))
        setup = 0.0
        metrics = {{"val_accuracy": float(curve[epoch - 1]), "t_enter": t_enter, "t_report": time.time(),
                    "epoch_s": float(sleeps[epoch - 1])}}
        if not CHECKPOINT:
            tune.report(metrics)
            continue
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "state.json"), "w") as f:
                json.dump({{"epoch": epoch}}, f)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
"""


def sleeps(cumulative, scale: float) -> np.ndarray:
    """Each epoch's sleep: the simulator's epoch seconds (``lcb.epoch_seconds``) x scale."""
    return scale * lcb.epoch_seconds(cumulative)


def trial_plan(data, task: str, config: dict, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """A config's val_accuracy and sleep per epoch: the simulator's oracle's (``LCBench.curve``,
    ``seconds`` x scale)."""
    key = (str(data), str(task))
    if key not in _BENCHES:
        _BENCHES[key] = lcb.LCBench(Path(data), str(task))
    return _BENCHES[key].curve(config), scale * _BENCHES[key].seconds(config)


def budget_s(budget_trials: int, median_s: float, workers: int = 2) -> float:
    """The simulator's time budget (bench/_sq_runs.py): K median full-length trials / W."""
    return budget_trials * median_s / workers


def auto_scale(budget: float, target_s: float = TARGET_S) -> float:
    """The scale that makes a sweep's time budget ``target_s`` seconds."""
    return target_s / budget


def space_yaml(method: str) -> str:
    """LCBench's space (_sq_lcbench.SPACE) in W&B's shape, the Tune domains _sq_methods.ray_space()
    gives it (log integers -> lograndint, integers -> randint, floats (log)uniform), 52 epochs."""
    lines = ["method: bayes", "metric: {name: val_accuracy, goal: maximize}", "parameters:"]
    for p in lcb.SPACE:
        if p.integer:
            dist, lo, hi = ("q_log_uniform_values, q: 1" if p.log else "int_uniform"), int(p.low), int(p.high)
        else:
            dist, lo, hi = ("log_uniform_values" if p.log else "uniform"), p.low, p.high
        lines.append(f"  {p.name}: {{distribution: {dist}, min: {lo!r}, max: {hi!r}}}")
    lines.append(f"  epochs: {{value: {lcb.MAX_EPOCHS}}}")
    if method == "ray_asha_optuna":  # the simulator's ASHA
        lines.append("scheduler: {name: asha, grace_period: 1, reduction_factor: 3}")
    return "\n".join(lines) + "\n"


def command(folder: Path, method: str, seed: int, time_budget: float, budget_trials: int, name: str) -> list[str]:
    space = folder / f"space_{method}.yaml"
    space.write_text(space_yaml(method))
    samples = budget_trials if method == "sweeplab" else UNCAPPED
    return [
        str(Path(sys.executable).parent / "sweeplab"),
        "tune",
        "--trainable",
        f"{folder / 'lcbench_trainable.py'}:objective",
        "--space",
        str(space),
        *METHODS[method],
        "--time-budget",
        f"{time_budget:.2f}",
        "--seed",
        str(seed),
        "--num-samples",
        str(samples),
        "--num-cpus",
        "2",
        "--max-concurrent",
        "2",
        "--storage",
        str(folder / "sweeps"),
        "--name",
        name,
        "--quiet",
    ]


def ours_alive(ours: list[tuple[int, str]]) -> list[int]:
    """Processes of the sweeps started here: in a sweep's process group, or (Ray's workers
    start sessions of their own) with its RAY_TMPDIR in their environment."""

    def mine(pid):
        with contextlib.suppress(OSError):
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            return os.getpgid(pid) in {g for g, _ in ours} or any(f"RAY_TMPDIR={d}".encode() in env for _, d in ours)

    return [pid for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()) if pid != os.getpid() and mine(pid)]


def run_sweep(cmd: list[str], limit_s: float, ours: list[tuple[int, str]]) -> tuple[int, float, str]:
    """The CLI in its own process group with its own local Ray; then that group is stopped,
    and any of its Ray workers still there 10 s later, by pid."""
    from trial_costs import stop_group

    if left := ours_alive(ours):
        raise SystemExit(f"search_quality --real: processes of an earlier sweep still run ({left}); not starting")
    ray_tmp = tempfile.mkdtemp(prefix="sqr")  # short: Ray's socket paths under it must stay < 108 bytes
    env = {
        **{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
        "RAY_TMPDIR": ray_tmp,
        "RAY_USAGE_STATS_ENABLED": "0",
    }  # its own local Ray, never a cluster
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    ours.append((proc.pid, ray_tmp))
    try:
        out, _ = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        stop_group(proc.pid)
        out = proc.communicate()[0] + f"\n[killed after {limit_s:.0f} s]"
    wall = time.perf_counter() - t0
    stop_group(proc.pid)  # whatever of its Ray outlived the CLI
    for _ in range(10):
        if not ours_alive(ours):
            break
        time.sleep(1)
    for pid in ours_alive(ours):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(ray_tmp, ignore_errors=True)
    return proc.returncode, wall, out


def real_figures(sweep: Path, budget: float, start_s: float) -> dict:
    import pandas as pd
    from trial_costs import pair_slots

    trials = pd.read_parquet(sweep / "trials.parquet")
    started = trials[trials["status"] != "PENDING"]
    out = {
        "best": float(trials["best/val_accuracy"].max()),
        "epochs": int(trials["epochs_trained"].fillna(0).sum()),
        "trials": len(started),
        "full_trials": int((started["iterations"] >= lcb.MAX_EPOCHS).sum()),
        "statuses": {str(k): int(v) for k, v in trials["status"].value_counts().items()},
        "configs": [{n: r[f"config/{n}"] for n in lcb.NAMES} for _, r in started.sort_values("trial_id").iterrows()],
    }
    h = pd.read_parquet(sweep / "history.parquet").sort_values("t_report")
    if not len(h):
        return out
    at = h["t_report"].to_numpy() - (float(h["t_enter"].min()) - start_s)
    best = np.maximum.accumulate(h["val_accuracy"].to_numpy(dtype=float))
    extra = trials.set_index("trial_id")["epochs_trained"].fillna(0) - h.groupby("trial_id").size()
    redone = sum(g["epoch_s"].iloc[: max(0, int(extra.get(t, 0)))].sum() for t, g in h.groupby("trial_id"))
    step = h.groupby(["trial_id", "t_enter"])["t_report"].diff() - h["epoch_s"]
    seg = h.groupby(["trial_id", "t_enter"], sort=False)["t_report"].max().rename("last").reset_index()
    seg = seg.sort_values("t_enter").reset_index(drop=True)
    first = ~seg["trial_id"].duplicated()
    gaps = {"start": [], "resume": []}
    for prev, nxt in pair_slots(seg):
        gaps["start" if first[nxt] else "resume"].append(seg.loc[nxt, "t_enter"] - seg.loc[prev, "last"])
    busy = (h["epoch_s"].to_numpy()[at <= budget].sum() + redone) / (2 * budget)
    out.update(
        span_s=float(at[-1]),
        busy_share=float(busy),
        report_s=float(step.median()) if step.notna().any() else None,
        switch_s={k: {"median": float(np.median(v)) if v else None, "n": len(v)} for k, v in gaps.items()},
        best_at={
            str(int(f * 100)): float(best[at <= f * budget][-1]) if (at <= f * budget).any() else None
            for f in FRACTIONS
        },
    )
    return out


class Replay:
    """Full-length trials of given configs in order (a real random sweep's, by trial id: Ray's
    BasicVariantGenerator numbers them as it draws); nothing once they are spent."""

    def __init__(self, configs: list[dict]):
        self.configs, self.count = list(configs), 0

    def next(self):
        self.count += 1
        return (self.count, self.configs[self.count - 1]) if self.count <= len(self.configs) else None

    def report(self, key, epoch, value):
        return "STOP" if epoch >= lcb.MAX_EPOCHS else "CONTINUE"  # _sq_sim's decisions


def sim_figures(
    method: str,
    bench,
    seed: int,
    budget: float,
    scale: float,
    costs,
    checkpoint: bool,
    budget_trials: int,
    worst: float,
    replay: list[dict] | None = None,
) -> dict:
    import _sq_methods as sqm
    from _sq_wall import POINTS, simulate_wall

    sqm.BUDGET, sqm.WORKERS, sqm.CHECKPOINT = budget_trials * lcb.MAX_EPOCHS, 2, checkpoint

    def sim(m, s=scale):
        return simulate_wall(
            m, bench.curve, lambda c: s * bench.seconds(c), budget * s, 2, lcb.MAX_EPOCHS, costs, checkpoint=checkpoint
        )

    with contextlib.redirect_stdout(io.StringIO()):  # the promotion scheduler's notes (no checkpoint)
        run, unscaled = sim(sqm.make(method, seed)), sim(sqm.make(method, seed), 1.0)
        same = sim(Replay(replay)) if replay else run
    curve = np.where(np.isnan(run.curve), worst, run.curve)
    return {
        "best": float(curve[-1]),
        "epochs": run.epochs_used,
        "trials": run.trials,
        "full_trials": run.full_trials,
        "best_at": {str(int(f * 100)): float(curve[max(1, int(np.ceil(f * POINTS))) - 1]) for f in FRACTIONS},
        "overhead_share": run.overhead_s / (2 * budget * scale),
        "bench_epochs": unscaled.epochs_used,
        "same_configs": {"epochs": same.epochs_used, "trials": same.trials, "notes": same.notes},
    }


def main(args, argv) -> None:
    import trial_costs
    from _common import RESULTS, machine, table, versions
    from _sq_wall import Costs

    t_start, checkpoint = time.perf_counter(), not args.no_checkpoint
    c, costs_source = trial_costs.latest()
    costs = Costs(start=c["start_s"], pause=c["pause_s"], resume=c["resume_s"], restart=c["restart_s"])
    print(
        f"search_quality lcbench --real: {len(args.tasks)} tasks x {args.seeds} seeds x {len(METHODS)} methods, "
        f"budget {args.budget_trials} median trials / 2 workers, 2 CPUs, {'' if checkpoint else 'no '}checkpoints; "
        f"trial costs: {costs_source}",
        flush=True,
    )
    runs, scales, budgets, ours, cmds = [], {}, {}, [], []
    with tempfile.TemporaryDirectory(prefix="sq_lcreal-") as tmp:
        for task in args.tasks:
            worst = lcb.reference(args.data, task, RESULTS / "search_quality_reference.json")["worst"]
            bench = lcb.LCBench(args.data, task)
            median = bench.median_trial_seconds()
            budgets[task] = budget_s(args.budget_trials, median)
            scale = scales[task] = args.scale or auto_scale(budgets[task])
            real_budget, folder = budgets[task] * scale, Path(tmp) / task
            folder.mkdir()
            (folder / "lcbench_trainable.py").write_text(
                TRAINABLE.format(
                    bench=str(BENCH), data=str(Path(args.data).resolve()), task=task, scale=scale, checkpoint=checkpoint
                )
            )
            print(
                f"task {task}: median trial {median:.1f} s, time budget {budgets[task]:.0f} s; scale {scale:.4g}: "
                f"real budget {real_budget:.1f} s, the median trial's mean epoch sleeps "
                f"{scale * median / lcb.MAX_EPOCHS:.3f} s",
                flush=True,
            )
            for seed in range(args.seeds):
                for method in METHODS:
                    name = f"{task}_s{seed}_{method}"
                    cmds.append(" ".join(cmd := command(folder, method, seed, real_budget, args.budget_trials, name)))
                    load = os.getloadavg()[0]
                    rc, wall, out = run_sweep(cmd, real_budget + 300, ours)
                    if rc != 0 or not (folder / "sweeps" / name / "trials.parquet").exists():
                        raise SystemExit(f"{out[-3000:]}\nsearch_quality --real: sweep {name} ended with {rc}")
                    real = {
                        **real_figures(folder / "sweeps" / name, real_budget, costs.start),
                        "wall_s": wall,
                        "load1": load,
                    }
                    configs = real.pop("configs")
                    sim = sim_figures(
                        method,
                        bench,
                        seed,
                        budgets[task],
                        scale,
                        costs,
                        checkpoint,
                        args.budget_trials,
                        worst,
                        configs if method == "random" else None,
                    )
                    runs.append(
                        {
                            "task": task,
                            "seed": seed,
                            "method": method,
                            "real": real,
                            "sim": sim,
                            "epoch_ratio": real["epochs"] / max(sim["epochs"], 1),
                            "epoch_ratio_same_configs": real["epochs"] / max(sim["same_configs"]["epochs"], 1),
                        }
                    )
                    print(
                        f"  {name}: real best {real['best']:.2f}, {real['epochs']} epochs, {real['trials']} trials "
                        f"({wall:.0f} s, load {load:.1f}); sim best {sim['best']:.2f}, {sim['epochs']} epochs, "
                        f"{sim['trials']} trials",
                        flush=True,
                    )
    rows, summary = report(runs)
    wall = time.perf_counter() - t_start
    print(f"\n{table(rows, list(rows[0]))}\n\n{table(summary, list(summary[0]))}\n\ntotal wall time {wall:.0f} s")
    per = {row["method"]: row for row in summary}
    compact = {
        "checkpoint": checkpoint,
        "budget_trials": args.budget_trials,
        "scale": scales,
        "epoch_ratio": {m: per[m]["epochs real/sim"] for m in METHODS},
        "epoch_ratio_same_configs": {m: per[m]["same configs"] for m in METHODS},
        **{
            f"default_ge{side}": {m: all_ge(runs, m, side or "real") for m in METHODS if m != "sweeplab"}
            for side in ("", "_sim")
        },
    }
    figures = {
        **compact,
        "benchmark": "lcbench",
        "tasks": args.tasks,
        "seeds": args.seeds,
        "budget_s": budgets,
        "real_budget_s": {t: budgets[t] * scales[t] for t in args.tasks},
        "costs": vars(costs),
        "costs_source": costs_source,
        "uncapped_num_samples": UNCAPPED,
        "summary": summary,
        "runs": runs,
        "commands": cmds,
        "wall_s": wall,
    }
    entry = {
        "bench": "search_quality_real",
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": "python " + " ".join(["bench/search_quality.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
        "versions": versions(),
        "figures": figures,
    }
    RESULTS.mkdir(exist_ok=True)
    with open(RESULTS / "search_quality_real_lcbench.jsonl", "a") as f:
        f.write(json.dumps(entry, default=float) + "\n")
    print(json.dumps({"bench": "search_quality_real", "figures": compact}, default=float))


def all_ge(runs: list[dict], other: str, side: str = "real") -> bool:
    """Whether the default's best was >= ``other``'s in every task-seed."""
    best = {(r["task"], r["seed"], r["method"]): r[side.replace("_", "")]["best"] for r in runs}
    return all(best[(t, s, "sweeplab")] >= v for (t, s, m), v in best.items() if m == other)


def report(runs: list[dict]) -> tuple[list[dict], list[dict]]:
    """The per-run table (real vs simulated) and the per-method summary."""

    def pair(r, key):
        a = r["real"].get("best_at", {}).get(key)
        return f"{'-' if a is None else f'{a:.2f}'} / {r['sim']['best_at'][key]:.2f}"

    def pct(x, digits=0):
        return f"{100 * x:.{digits}f}%"

    def switch(r, kind):
        return r["real"].get("switch_s", {}).get(kind, {}).get("median")

    rows = [
        {
            "task": r["task"],
            "seed": r["seed"],
            "method": r["method"] + " (default)" * (r["method"] == "sweeplab"),
            "best real": r["real"]["best"],
            "best sim": r["sim"]["best"],
            "@25% real / sim": pair(r, "25"),
            "@50% real / sim": pair(r, "50"),
            "epochs real": r["real"]["epochs"],
            "epochs sim": r["sim"]["epochs"],
            "real/sim": round(r["epoch_ratio"], 3),
            "same configs": round(r["epoch_ratio_same_configs"], 3),
            "bench sim": r["sim"]["bench_epochs"],
            "trials real / sim": f"{r['real']['trials']} / {r['sim']['trials']}",
            "full real / sim": f"{r['real']['full_trials']} / {r['sim']['full_trials']}",
            "span s": round(r["real"].get("span_s", np.nan), 1),
            "busy real": pct(r["real"].get("busy_share", 0)),
            "overhead sim": pct(r["sim"]["overhead_share"], 1),
        }
        for r in runs
    ]
    summary = []
    for m in METHODS:
        mine = [r for r in runs if r["method"] == m]

        def mean(f, mine=mine):
            return float(np.nanmean([np.nan if f(r) is None else f(r) for r in mine]))

        summary.append(
            {
                "method": m,
                "epochs real/sim": round(mean(lambda r: r["epoch_ratio"]), 3),
                "min": round(min(r["epoch_ratio"] for r in mine), 3),
                "max": round(max(r["epoch_ratio"] for r in mine), 3),
                "same configs": round(mean(lambda r: r["epoch_ratio_same_configs"]), 3),
                "busy real": pct(mean(lambda r: r["real"].get("busy_share")), 1),
                "overhead sim": pct(mean(lambda r: r["sim"]["overhead_share"]), 1),
                "report ms": round(1000 * mean(lambda r: r["real"].get("report_s")), 1),
                **{f"{k} ms": round(1000 * mean(lambda r, k=k: switch(r, k)), 1) for k in ("start", "resume")},
                "trials real/sim": round(mean(lambda r: r["real"]["trials"] / max(r["sim"]["trials"], 1)), 3),
                "best real - sim": round(mean(lambda r: r["real"]["best"] - r["sim"]["best"]), 3),
                "default >= it (real)": "-" if m == "sweeplab" else all_ge(runs, m),
                "default >= it (sim)": "-" if m == "sweeplab" else all_ge(runs, m, "sim"),
            }
        )
    return rows, summary
