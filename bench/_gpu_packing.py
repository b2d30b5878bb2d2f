"""bench/gpu.py's part B, packing: the same seqclf trials through sweeplab's tuning path,
packed several to a GPU and one to a GPU (see bench/gpu.py's docstring)."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import bench_session, say


SEQCLF = {
    "cell": "gru",
    "hidden_dim": 64,
    "n_layers": 2,
    "bidirectional": True,
    "batch_size": 64,
    "lr_schedule": "none",
    "early_stop_patience": 0,
}


def seqclf_per_epoch(values: dict[str, Any], device: str, cpus: int, work: Path) -> float:
    """One trial's epoch alone, no Ray: the second of three epochs (the first warms up)."""
    from sweeplab import engine, registry

    exp = registry.get("seqclf")
    trainable = exp.load()
    cfg = trainable.config.from_dict({**values, "epochs": 3})
    data = trainable.load_data(cfg)
    with tempfile.TemporaryDirectory(dir=work, prefix="calibrate-") as out:
        session = bench_session(Path(out), cpus, device)
        engine.fit(trainable.task, cfg, data, session, engine.Monitor(exp.metric, exp.mode))
    return float(session.history[1]["epoch_seconds"])


def concurrency(history: Any) -> dict[str, Any]:
    """Trials at once, from the store's history: a trial runs from its ``started_at`` (the
    trial's session made, float seconds) to the later of its last report's ``timestamp``
    (Tune's, whole seconds, so at most 1 s early) and ``started_at`` plus its epochs'
    seconds. Both are lower bounds of its end, so overlaps are never overcounted; Tune's
    ``time_total_s`` is no use here: it also counts a new actor's set-up before
    ``started_at``."""
    g = history.groupby("trial_id")
    start = g["started_at"].min()
    end = np.maximum(g["timestamp"].max().astype(float), start + g["epoch_seconds"].sum())
    events = sorted([(t, 1) for t in start] + [(t, -1) for t in end], key=lambda e: (e[0], e[1]))
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    span = float(end.max() - start.min())
    return {
        "peak at once": peak,
        "mean at once": float((end - start).sum()) / span if span > 0 else 0.0,
        "trial span s": span,
    }


def sweep(
    folder: str,
    name: str,
    space: str,
    *,
    cpus_per_trial: float,
    gpus_per_trial: float,
    slots: int,
    num_cpus: int,
    time_budget: float,
) -> dict[str, Any]:
    """One sweep through sweeplab's tuning path on the Ray already started; every trial
    must finish."""
    from sweeplab import plan, store, tuning

    space_file = Path(folder) / f"{name}.yaml"
    space_file.write_text(space)
    opts = plan.SweepOptions(
        space=str(space_file),
        storage=folder,
        name=name,
        verbose=0,
        num_cpus=num_cpus,
        cpus_per_trial=cpus_per_trial,
        gpus_per_trial=gpus_per_trial,
        max_concurrent=slots,
        time_budget=time_budget,
    )
    prep = plan.prepare(opts)
    printed = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(printed):  # the sweep's summary table; its "trials:" line is kept
        tuning.run(prep)
    wall = time.perf_counter() - t0
    trials, history = store.read_tables(prep.uri, prep.metric, prep.mode)
    summary = next((ln for ln in printed.getvalue().splitlines() if ln.startswith("trials:")), "trials: ?")
    if trials is None or set(trials["status"]) != {"TERMINATED"}:
        raise SystemExit(
            f"bench/gpu.py: sweep {name} did not finish every trial ({summary}); "
            f"errors: {trials['error'].dropna().tolist()[:2] if trials is not None and 'error' in trials else '-'}"
        )
    last = history.sort_values("training_iteration").groupby("trial_id").last()
    return {
        "trials": len(trials),
        "summary": summary,
        "wall_s": wall,
        **concurrency(history),
        "median epoch s": float(history["epoch_seconds"].median()),
        "median trial s": float(trials["wall_time_s"].median()),
        "devices": ",".join(sorted(set(map(str, last["device"])))),
        "gpu ids": ",".join(sorted(set(map(str, last["gpu_ids"].fillna(""))))) or "-",
    }


def part_packing(args: argparse.Namespace, device: Any, work: Path) -> dict[str, Any]:
    import ray

    from sweeplab import session

    gpu = device.type == "cuda"
    values = {**SEQCLF, "synthetic_size": args.seqclf_size}
    epochs = args.seqclf_epochs
    per_epoch = None
    if not epochs:
        per_epoch = seqclf_per_epoch(values, device.type, int(args.cpus_per_trial), work)
        epochs = max(2, round(args.trial_seconds / per_epoch))
        say(
            f"B. packing: one seqclf trial alone trains {per_epoch:.3f} s an epoch on {device.type}: "
            f"{epochs} epochs a trial (about {epochs * per_epoch:.0f} s)"
        )
    lrs = [round(1e-3 * (1 + 0.5 * i), 6) for i in range(args.trials)]  # same cost, different configs
    space = (
        f"experiment: seqclf\nmethod: grid\nmetric: {{name: val_macro_f1, goal: maximize}}\nscheduler: fifo\n"
        f"fixed: {{epochs: {epochs}, " + ", ".join(f"{k}: {json.dumps(v)}" for k, v in values.items()) + "}\n"
        f"parameters:\n  lr: {{values: {lrs}}}\n"
    )
    num_cpus = args.num_cpus or os.cpu_count() or 1
    t0 = time.perf_counter()
    session.init_ray(None, num_cpus, log_to_driver=False)  # what session.start_ray does for a quiet local sweep
    ray_start = time.perf_counter() - t0
    resources = ray.cluster_resources()
    say(f"   local Ray up in {ray_start:.1f} s: {resources.get('CPU', 0):g} CPUs, {resources.get('GPU', 0):g} GPUs")
    if gpu and resources.get("GPU", 0) < 1:
        ray.shutdown()
        raise SystemExit(
            f"bench/gpu.py: torch sees {__import__('torch').cuda.device_count()} GPU(s) but the local Ray "
            "sees none; trials asking for a GPU share would wait for ever"
        )
    arms = []
    try:
        for pack in (args.pack, 1):  # packed first: warm caches favour the one-per-GPU arm
            share = 1.0 / pack if gpu else 0.0
            expected = math.ceil(args.trials / pack) * args.trial_seconds
            say(
                f"   {args.trials} trials, {pack} at once ({'gpus_per_trial ' + format(share, 'g') if gpu else 'CPU only'}, "
                f"{args.cpus_per_trial:g} CPUs each)"
            )
            arm = sweep(
                str(work),
                f"pack{pack}",
                space,
                cpus_per_trial=args.cpus_per_trial,
                gpus_per_trial=share,
                slots=pack,
                num_cpus=num_cpus,
                time_budget=max(120.0, 3 * expected + 60),
            )
            arm = {
                "trials a GPU" if gpu else "trials at once (CPU)": pack,
                "gpus_per_trial": share,
                **arm,
                "trials/hour": arm["trials"] / arm["wall_s"] * 3600,
                "trials/hour over the trial span": arm["trials"] / arm["trial span s"] * 3600,
            }
            arms.append(arm)
            say(
                f"   -> {arm['summary']}; {arm['wall_s']:.1f} s, {arm['trials/hour']:.0f} trials/hour, "
                f"peak {arm['peak at once']} at once, on {arm['devices']} (GPU ids {arm['gpu ids']})"
            )
    finally:
        ray.shutdown()
    packed, single = arms
    return {
        "epochs": epochs,
        "seqclf": values,
        "lrs": lrs,
        "alone_epoch_s": per_epoch,
        "ray_start_s": ray_start,
        "num_cpus": num_cpus,
        "cpus_per_trial": args.cpus_per_trial,
        "arms": arms,
        "ratio": packed["trials/hour"] / single["trials/hour"],
        "ratio_over_trial_span": packed["trials/hour over the trial span"] / single["trials/hour over the trial span"],
    }
