"""The end-of-sweep summary, read back from the store's files: the trials by their
validation figure, the config ``sweeplab best`` would choose (ties with the best go to the
cheapest), and apart from all that the chosen trial's held-out test figures."""

from __future__ import annotations

from typing import Any, Callable, Optional

import pandas as pd

from .. import record, store
from ..errors import UserError
from ..schema import (
    BEST_ITERATION,
    EPOCHS_TRAINED,
    ERROR,
    ITERATIONS,
    MEASURED_IN,
    NO_CHECKPOINT,
    PRESET,
    STATUS,
    TRIAL_ID,
    STATUS_WORDS,
    best_column,
    config_columns,
    is_test,
    param_name,
)


def summarize(uri: str, metric: str, mode: str, echo: Callable[[str], None] = print) -> int:
    """Read the store back (not Ray's objects) and print the outcome."""
    trials_uri = store.join(uri, store.TRIALS)
    if not store.exists(trials_uri):
        echo(f"no trials ran; results folder: {uri}")
        return 1
    trials = store.read_frame(trials_uri)
    counts = trials[STATUS].value_counts().to_dict()
    echo(f"\nresults: {uri}")
    echo("trials: " + ", ".join(f"{n} {STATUS_WORDS.get(s, s.lower())}" for s, n in sorted(counts.items())))
    if EPOCHS_TRAINED in trials:
        trained, reached = int(trials[EPOCHS_TRAINED].fillna(0).sum()), int(trials[ITERATIONS].fillna(0).sum())
        again = (
            f" ({trained - reached} of them again, after a restart or from an older checkpoint)"
            if trained > reached
            else ""
        )
        echo(f"epochs trained: {trained}{again}")
    paused, stopped = without_checkpoint(uri)
    if paused or stopped:
        echo(
            f"note: the trainable saved no checkpoint: {paused} pause(s) at a low rung, a promoted one training again "
            f"from epoch 1 (counted above), and {stopped} trial(s) stopped at a higher rung instead of paused; report "
            "a checkpoint with each epoch (tune.report(metrics, checkpoint=...)) to resume where a trial paused"
        )
    if MEASURED_IN in trials and trials[MEASURED_IN].notna().any():
        known = trials[trials[MEASURED_IN].notna()]
        echo(
            f"note: {len(known)} config(s) an earlier sweep measured with the same seed and code were taken as they "
            f"are, not trained again ({', '.join(known[MEASURED_IN].astype(str))}); their epochs are not counted"
        )
    _say_if_nothing_searched(uri, trials, echo)
    best_col = best_column(metric)
    ok = trials[trials[best_col].notna()] if best_col in trials else trials.iloc[0:0]
    if ok.empty:
        for _, row in trials[trials[ERROR].notna()].iterrows():
            echo(f"  {row[TRIAL_ID]}: {row[ERROR]}")
        echo("no trial reported its metric")
        return 1
    ranked = ok.sort_values(best_col, ascending=(mode == "min")).assign(**{PRESET: lambda f: f[PRESET].fillna("-")})
    params = [c for c in config_columns(trials.columns) if trials[c].nunique(dropna=False) > 1]
    # validation only: the test split never sits beside the figure trials are ranked by
    show = [
        TRIAL_ID,
        PRESET,
        *params,
        best_col,
        *([BEST_ITERATION] if BEST_ITERATION in trials else []),
        ITERATIONS,
        STATUS,
    ]
    shown = ranked[show].head(10).copy()
    for column in (BEST_ITERATION, ITERATIONS):  # epochs are whole numbers, NaN or not (a float column prints 20.0)
        if column in shown:
            shown[column] = pd.to_numeric(shown[column], errors="coerce").round().astype("Int64")
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        echo(shown.rename(columns=param_name).to_string(index=False))
    trial_id, reason, headline = _chosen(uri, metric, mode, ranked)
    best = ranked.set_index(TRIAL_ID).loc[trial_id]
    config = {param_name(c): best[c] for c in config_columns(trials.columns)}
    echo(f"chosen: {reason}")
    if headline:
        echo(headline)
    echo("chosen config: " + ", ".join(f"{k}={_fmt(v)}" for k, v in config.items()))
    tests = {
        k: best[k] for k in trials.columns if is_test(k) and isinstance(best[k], (int, float)) and not pd.isna(best[k])
    }
    if tests:
        epoch = best.get(BEST_ITERATION)
        echo(
            f"held-out test of the chosen trial, on its epoch-{_fmt(epoch)} weights (never used to choose): "
            + ", ".join(f"{k}={_fmt(v)}" for k, v in tests.items())
        )
    echo(
        f"next: sweeplab analyze {uri} | sweeplab best {uri} --out best.yaml | sweeplab report {uri} | "
        f"sweeplab dashboard {uri.rsplit('/', 1)[0] if '/' in uri else uri}"
    )
    return 0


def _say_if_nothing_searched(uri: str, trials: pd.DataFrame, echo: Callable[[str], None]) -> None:
    """A budget the presets took whole: no searched config ran (and maybe not every preset);
    said, since the table alone reads like a search that found the presets best."""
    presets = list(record.read_if_any(uri).presets)
    if not presets or PRESET not in trials:
        return
    ran = trials[PRESET].map(lambda p: isinstance(p, str) and p != "")
    if ran.all():
        names = set(trials.loc[ran, PRESET])
        short = f"; {len(names)} of its {len(presets)} presets ran" if len(names) < len(presets) else ""
        echo(
            f"note: no searched config ran: the budget ended with the presets{short}. The presets alone are no "
            "search; give the sweep more budget (--num-samples, --epoch-budget or --time-budget) or fewer presets"
        )


def without_checkpoint(uri: str) -> tuple[int, int]:
    """(pauses, stops) the promotion scheduler decided for trials that had saved no
    checkpoint (decisions.parquet: the decision's "why")."""
    path = store.join(uri, store.DECISIONS)
    if not store.exists(path):
        return 0, 0
    decisions = store.read_frame(path)
    if "scores" not in decisions or "action" not in decisions:
        return 0, 0
    flagged = decisions[decisions["scores"].astype(str).str.contains(f'"why": "{NO_CHECKPOINT}"', regex=False)]
    return int((flagged["action"] == "pause").sum()), int((flagged["action"] == "stop").sum())


def _chosen(uri: str, metric: str, mode: str, ranked: pd.DataFrame) -> tuple[str, str, Optional[str]]:
    """What ``sweeplab best`` would choose, why, and how it compares with the baseline
    preset; the best figure where analysis cannot load the sweep (a store being written by
    an older version, say)."""
    from .conclude import headline
    from .load import load_sweep
    from .select import choice

    try:
        sweep = load_sweep(uri, metric, mode)
        picked = choice(sweep)
        return picked.trial_id, picked.reason, headline(sweep, picked.trial_id)
    except (UserError, KeyError, ValueError) as e:
        top = ranked.iloc[0]
        preset = f", preset {top[PRESET]}" if top[PRESET] != "-" else ""
        return (
            top[TRIAL_ID],
            f"trial {top[TRIAL_ID]}{preset}: best {metric} = {top[best_column(metric)]:.6g} ({e})",
            None,
        )


def _fmt(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return f"{v:.4g}" if isinstance(v, float) else str(v)
