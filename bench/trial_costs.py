"""What starting, pausing, resuming and restarting a trial costs, measured through the real
tool: `sweeplab tune --trainable` on a tiny trainable that sleeps a fixed time per epoch,
with the default scheduler (promotion ASHA: it pauses trials at rungs and resumes them when
promoted). The wall-clock search-quality bench (bench/search_quality.py --clock wall)
charges these figures to every trial it simulates.

    python bench/trial_costs.py [--epoch-s 0.5] [--samples 12] [--epochs 9] [--time-budget 240]

The trainable (written to a temp folder) records ``time.time()`` at function entry
(``t_enter``) and just before each report (``t_report``), saves a checkpoint at every
epoch (``Checkpoint.from_directory`` + ``tune.report``) and restores it with
``tune.get_checkpoint()`` (``restored`` = the epoch it restored, 0 for none). The sweep's
store then gives every reported row (history.parquet) and the scheduler's pause / promote
decisions with their time (decisions.parquet, ``at``).

A *segment* is one call of the function: a trial's rows with one ``t_enter``. Its kind is
``start`` (the trial's first), ``resume`` (a later one that restored a checkpoint) or
``restart`` (a later one with nothing to restore). Its end is a ``pause`` where the
scheduler paused the trial at its last epoch, else a ``stop`` (cut, finished, or the budget).
The sweep runs as many trials at once as it has CPUs; each segment after the first of
each slot takes the slot of the earliest-ended segment not yet followed (first in, first
out). For such a pair:

    gap = next segment's first t_report - previous segment's last t_report - epoch_s

where ``epoch_s`` (the median t_report step within a segment: the sleep plus one report)
is taken out, so the gap is what a trial switch adds to a worker's time: the previous
trial's stop or pause, and the next one's actor start, entry and restore. Then (medians):

* start_s: gaps stop -> start;  resume_s: gaps stop -> resume;
* pause_s: gaps pause -> X less X's own figure (start_s or resume_s): what a pause (the
  checkpoint save, the actor's stop) adds over a stop;
* restart_s: gaps stop -> restart; a trial that reports checkpoints is resumed from them,
  so a sweep of this trainable has none, and restart_s is then start_s (a restart is a
  first start's path again: a new call of the function with nothing to restore).

Cross-checks, as the brief for this bench had them: resume_after_promote_s = first
t_report after a promote - the promote's ``at`` - epoch_s; pause_to_next_entry_s = the
paused slot's next ``t_enter`` - the pause's ``at``; and each kind's split of its gap into
``to_entry`` (previous end -> t_enter) and ``setup`` (t_enter -> first t_report, less
epoch_s). ``report_s`` = epoch_s - the sleep: what a report costs every epoch (the
search-quality bench does not charge it: the surrogate's epoch times are the charge).

The sweep runs in its own process group with a fresh RAY_TMPDIR and no RAY_ADDRESS (its own
local Ray); a sweep past its time is stopped by killing that group, and only that group.
Appends the figures to bench/results/trial_costs.jsonl (date, machine, versions, command).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, record, table  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
COSTS_FILE = RESULTS / "trial_costs.jsonl"
# What the wall-clock bench charges where no measurement is recorded yet: round figures of
# the order a local Ray on 2 cores takes (said in its output when used).
DEFAULTS = {"start_s": 1.0, "pause_s": 0.5, "resume_s": 1.5, "restart_s": 1.0}

TRAINABLE = """
import os
import tempfile
import time

from ray import tune
from ray.tune import Checkpoint

EPOCH_S = {epoch_s!r}


def objective(config):
    t_enter = time.time()
    restored = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            with open(os.path.join(folder, "epoch")) as f:
                restored = int(f.read())
    for epoch in range(restored + 1, config["epochs"] + 1):
        time.sleep(EPOCH_S)
        # a learning curve whose order across configs holds from the first rung
        score = config["x"] * (1 - 0.5 ** epoch)
        with tempfile.TemporaryDirectory() as folder:
            with open(os.path.join(folder, "epoch"), "w") as f:
                f.write(str(epoch))
            tune.report({{"score": score, "epoch": epoch, "t_enter": t_enter, "t_report": time.time(),
                          "restored": restored}}, checkpoint=Checkpoint.from_directory(folder))
"""
SPACE = """\
method: bayes
metric: {name: score, goal: maximize}
parameters:
  x: {distribution: uniform, min: 0.0, max: 1.0}
"""


def run_sweep(folder: Path, args) -> tuple[Path, float, list[str]]:
    """The sweep through the CLI; returns its folder, wall seconds and command line."""
    (folder / "costs_trainable.py").write_text(TRAINABLE.format(epoch_s=args.epoch_s))
    (folder / "space.yaml").write_text(SPACE)
    cli = Path(sys.executable).parent / "sweeplab"
    cmd = [
        str(cli),
        "tune",
        "--trainable",
        f"{folder / 'costs_trainable.py'}:objective",
        "--space",
        str(folder / "space.yaml"),
        "--name",
        "costs",
        "--storage",
        str(folder / "sweeps"),
        "--num-samples",
        str(args.samples),
        "--max-epochs",
        str(args.epochs),
        "--time-budget",
        str(args.time_budget),
        "--num-cpus",
        str(args.cpus),
        "--seed",
        "0",
        "--quiet",
    ]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}  # never a running cluster
    (folder / "ray").mkdir()  # its own Ray session folder, not another sweep's; removed with the temp folder
    env.update(RAY_TMPDIR=str(folder / "ray"), RAY_USAGE_STATS_ENABLED="0")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        out, _ = proc.communicate(timeout=args.time_budget + 180)
    except subprocess.TimeoutExpired:
        out = ""
        stop_group(proc.pid)
        proc.wait()
    stop_group(proc.pid)  # whatever of its Ray outlived the CLI
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"trial_costs: the sweep ended with {proc.returncode}:\n{out[-3000:]}")
    return folder / "sweeps" / "costs", wall, cmd


def stop_group(pgid: int) -> None:
    """SIGTERM, then SIGKILL, to the sweep's own process group (it leads it: its pid)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        time.sleep(2)


def segments(history, decisions):
    """One row per call of the function: trial, kind, end, times (see the module's doc)."""
    import pandas as pd

    h = history.sort_values(["t_enter", "t_report"])
    pauses = set()
    if len(decisions):
        p = decisions[decisions["action"] == "pause"]
        pauses = set(zip(p["trial_id"], p["epoch"].astype(int)))
    rows, seen = [], set()
    for (trial, t_enter), g in h.groupby(["trial_id", "t_enter"], sort=False):
        restored = int(g["restored"].iloc[0])
        kind = "start" if trial not in seen else "resume" if restored else "restart"
        seen.add(trial)
        last_epoch = int(g["epoch"].iloc[-1])
        rows.append(
            {
                "trial_id": trial,
                "kind": kind,
                "end": "pause" if (trial, last_epoch) in pauses else "stop",
                "t_enter": float(t_enter),
                "first": float(g["t_report"].iloc[0]),
                "last": float(g["t_report"].iloc[-1]),
                "last_epoch": last_epoch,
                "steps": g["t_report"].diff().dropna().tolist(),
            }
        )
    return pd.DataFrame(rows).sort_values("t_enter").reset_index(drop=True)


def pair_slots(seg) -> list[tuple[int, int]]:
    """(previous, next) segment indices sharing a slot: each segment after the slots'
    first takes the slot of the earliest-ended segment not yet followed."""
    ends = sorted(range(len(seg)), key=lambda i: seg.loc[i, "last"])
    free: deque[int] = deque()
    pairs, k = [], 0
    for i in range(len(seg)):
        while k < len(ends) and seg.loc[ends[k], "last"] < seg.loc[i, "t_enter"]:
            free.append(ends[k])
            k += 1
        if free:
            pairs.append((free.popleft(), i))
    return pairs


def measure(sweep: Path) -> dict:
    import numpy as np
    import pandas as pd

    history = pd.read_parquet(sweep / "history.parquet")
    decisions = (
        pd.read_parquet(sweep / "decisions.parquet") if (sweep / "decisions.parquet").exists() else pd.DataFrame()
    )
    seg = segments(history, decisions)
    epoch_s = float(np.median([s for steps in seg["steps"] for s in steps]))
    pairs = pair_slots(seg)
    gaps: dict[tuple[str, str], list[float]] = {}
    split: dict[str, dict[str, list[float]]] = {}
    pause_entry = []
    at = {}
    if len(decisions):
        for r in decisions.itertuples():
            at.setdefault((r.trial_id, r.action), []).append(float(r.at))
    for prev, nxt in pairs:
        p, n = seg.loc[prev], seg.loc[nxt]
        gaps.setdefault((p["end"], n["kind"]), []).append(n["first"] - p["last"] - epoch_s)
        parts = split.setdefault(n["kind"], {"to_entry": [], "setup": []})
        parts["to_entry"].append(n["t_enter"] - p["last"])
        parts["setup"].append(n["first"] - n["t_enter"] - epoch_s)
        if p["end"] == "pause":
            when = [t for t in at.get((p["trial_id"], "pause"), []) if t >= p["last"]]
            if when:
                pause_entry.append(n["t_enter"] - min(when))
    promote = []
    for r in seg[seg["kind"] == "resume"].itertuples():
        when = [t for t in at.get((r.trial_id, "promote"), []) if t <= r.t_enter]
        if when:
            promote.append(r.first - max(when) - epoch_s)

    def med(xs):
        return float(np.median(xs)) if xs else None

    start = med(gaps.get(("stop", "start"), []))
    resume = med(gaps.get(("stop", "resume"), []))
    restart = med(gaps.get(("stop", "restart"), []))
    own = {"start": start, "resume": resume, "restart": start if restart is None else restart}
    pause = med([g - own[k] for (e, k), gs in gaps.items() if e == "pause" and own[k] is not None for g in gs])
    return {
        "start_s": start,
        "pause_s": pause,
        "resume_s": resume,
        "restart_s": own["restart"],
        "restart_measured": restart is not None,
        "epoch_s": epoch_s,
        "report_s": None,  # filled in by main (it knows the sleep)
        "resume_after_promote_s": med(promote),
        "pause_to_next_entry_s": med(pause_entry),
        "split": {k: {part: med(v) for part, v in parts.items()} for k, parts in split.items()},
        "gaps": {
            f"{e}->{k}": {"n": len(gs), "median": med(gs), "mean": float(np.mean(gs))}
            for (e, k), gs in sorted(gaps.items())
        },
        "segments": {k: int(n) for k, n in seg["kind"].value_counts().items()},
        "pauses": int((seg["end"] == "pause").sum()),
        "trials": int(seg["trial_id"].nunique()),
        "epochs_reported": int(len(history)),
    }


def latest() -> tuple[dict, str]:
    """The costs the wall-clock bench charges, and where they come from: the latest entry
    of bench/results/trial_costs.jsonl, else DEFAULTS. A median below 0 (a cost lost in the
    timing's noise: pause_s is a difference of two medians) is charged as 0."""
    if COSTS_FILE.exists():
        lines = [ln for ln in COSTS_FILE.read_text().splitlines() if ln.strip()]
        if lines:
            entry = json.loads(lines[-1])
            figures = entry["figures"]
            missing = [k for k in DEFAULTS if figures.get(k) is None]
            costs = {k: DEFAULTS[k] if k in missing else max(0.0, float(figures[k])) for k in DEFAULTS}
            note = f"; not measured, defaults: {', '.join(missing)}" if missing else ""
            return costs, f"measured {entry['date']} ({COSTS_FILE.relative_to(REPO)}){note}"
    return dict(DEFAULTS), f"defaults: no {COSTS_FILE.relative_to(REPO)} (run bench/trial_costs.py to measure)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epoch-s", type=float, default=0.5, help="the trainable's sleep per epoch")
    parser.add_argument("--samples", type=int, default=12, help="--num-samples (the budget: full trials' epochs)")
    parser.add_argument("--epochs", type=int, default=9, help="--max-epochs")
    parser.add_argument("--time-budget", type=int, default=240, help="--time-budget (seconds)")
    parser.add_argument("--cpus", type=int, default=2, help="--num-cpus of the sweep's local Ray")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trial_costs-") as tmp:
        sweep, wall, cmd = run_sweep(Path(tmp), args)
        figures = measure(sweep)
    figures["report_s"] = figures["epoch_s"] - args.epoch_s
    rows = [
        {"figure": k, "seconds": figures[k]}
        for k in (
            "start_s",
            "pause_s",
            "resume_s",
            "restart_s",
            "epoch_s",
            "report_s",
            "resume_after_promote_s",
            "pause_to_next_entry_s",
        )
    ]
    print(table(rows, ["figure", "seconds"]))
    print(table([{"pair": k, **v} for k, v in figures["gaps"].items()], ["pair", "n", "median", "mean"]))
    if not figures["restart_measured"]:
        print("no restart in this sweep (every trial resumed from its checkpoint): restart_s = start_s")
    figures.update(
        settings=vars(args),
        sweep_wall_s=wall,
        sweep_command=" ".join(Path(c).name if c.startswith(tmp) else c for c in cmd),
    )
    record("trial_costs", figures)


if __name__ == "__main__":
    main()
