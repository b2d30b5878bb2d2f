"""The end-of-sweep summary, read back from the store's files."""
from __future__ import annotations

from typing import Any, Callable

import pandas as pd

from .. import store


def summarize(uri: str, metric: str, mode: str, echo: Callable[[str], None] = print) -> int:
    """Read the store back (not Ray's objects) and print the outcome."""
    trials_uri = store.join(uri, store.TRIALS)
    if not store.exists(trials_uri):
        echo(f"no trials ran; results folder: {uri}")
        return 1
    trials = store.read_frame(trials_uri)
    counts = trials["status"].value_counts().to_dict()
    echo(f"\nresults: {uri}")
    echo("trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())))
    best_col = f"best/{metric}"
    ok = trials[trials[best_col].notna()] if best_col in trials else trials.iloc[0:0]
    if ok.empty:
        for _, row in trials[trials["error"].notna()].iterrows():
            echo(f"  {row['trial_id']}: {row['error']}")
        echo("no trial reported its metric")
        return 1
    ranked = ok.sort_values(best_col, ascending=(mode == "min")).assign(preset=lambda f: f["preset"].fillna("-"))
    params = [c for c in trials.columns if c.startswith("config/") and trials[c].nunique(dropna=False) > 1]
    test_col = "test_" + metric.removeprefix("val_")  # at each finished trial's last epoch
    show = ["trial_id", "preset", *params, best_col, *([test_col] if test_col in trials else []), "iterations", "status"]
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        echo(ranked[show].head(10).rename(columns=lambda c: c.removeprefix("config/")).to_string(index=False))
    best = ranked.iloc[0]
    config = {c.removeprefix("config/"): best[c] for c in trials.columns if c.startswith("config/")}
    echo(f"best {metric} = {best[best_col]:.6g} (trial {best['trial_id']}"
         f"{', preset ' + best['preset'] if best['preset'] != '-' else ''})")
    echo("best config: " + ", ".join(f"{k}={_fmt(v)}" for k, v in config.items()))
    return 0


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)
