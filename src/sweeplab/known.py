"""Configs a sweep already knows: measured by an earlier sweep it warm-starts from, with the
same full config (seed included) and the same code, to the end of their budget. Training
such a config again would give the same figures, so the sweep takes the stored ones
instead: the trial goes into its results store as measured (``schema.MEASURED_IN`` names
where, ``epochs_trained`` is 0), the searcher never proposes it, the promotion scheduler
counts its rung scores, and the epochs go to new configs.

"The same code" is a digest of what computes a trial (``code_digest``): every Python file
of the sweeplab package for a registered experiment, the trainable's own file for a user's
function, with the torch version; a sweep recorded without one is measured again."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional


@dataclass(frozen=True)
class Known:
    """One config an earlier sweep measured: where (``source``: sweep/trial), its full config,
    its per-epoch rows as stored, and its validation predictions at its best epoch."""

    source: str
    trial_id: str  # this sweep's id for it
    config: tuple[tuple[str, Any], ...]
    rows: tuple[tuple[tuple[str, Any], ...], ...]
    predictions: Optional[str] = None

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.config)

    def scores(self, metric: str) -> dict[int, float]:
        """Its ``metric`` by epoch (training iteration)."""
        from .schema import ITERATION

        out = {}
        for row in map(dict, self.rows):
            value = row.get(metric)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and ITERATION in row:
                out[int(row[ITERATION])] = float(value)
        return out


def code_digest(trainable: Optional[str]) -> str:
    """sha256 (first 16 hex) of the code that computes a trial and of the torch it runs on:
    the sweeplab package's Python files for a registered experiment, else the user's
    trainable file (``path.py:fn``; a module's file where it is importable)."""
    digest = hashlib.sha256()
    if trainable:
        target = trainable.rpartition(":")[0]
        files = [Path(target)] if target.endswith(".py") else _module_file(target)
    else:
        root = Path(__file__).resolve().parent
        files = sorted(root.rglob("*.py"))
    for path in files:
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes())
    try:
        import torch

        digest.update(torch.__version__.encode())
    except ImportError:  # a user trainable without torch
        pass
    return digest.hexdigest()[:16]


def _module_file(module: str) -> list[Path]:
    import importlib.util

    spec = importlib.util.find_spec(module)
    return [Path(spec.origin)] if spec and spec.origin else []


def find(sweeps: list, spec, digest: str, seed: int, say=print) -> tuple[Known, ...]:
    """The trials of ``sweeps`` (loaded, of this experiment) that ran this sweep's exact full
    config to the end of their budget, with the same code ``digest`` and the same sweep
    ``seed`` (a user's trainable gets no seed in its config; the sweep's is the one there
    is); one of each config."""
    from .files import scalar
    from .schema import Status
    from .store import same_config

    fixed = dict(spec.fixed)
    found: dict[tuple, Known] = {}
    other_code = 0
    for sweep in sweeps:
        if sweep.record.code != digest:
            other_code += len(sweep.facts)
            continue
        if sweep.record.seed != seed:
            continue
        facts = sweep.facts.set_index("trial_id")
        for trial_id in facts.index:
            f = facts.loc[trial_id]
            config = sweep.config(trial_id)
            if (
                f["status"] != Status.TERMINATED
                or f["cut_early"]
                or int(f["iterations"]) < int(f["budget"])
                or not _in_space(config, spec, fixed)
            ):
                continue
            params = {k: config[k] for k in spec.parameters}
            key = tuple(sorted((k, repr(v)) for k, v in params.items()))
            if key in found or not same_config(config, {**fixed, **params}):
                continue
            found[key] = Known(
                source=f"{sweep.name}/{trial_id}",
                trial_id=f"{trial_id}-known",
                config=tuple(sorted((k, scalar(v)) for k, v in config.items())),
                rows=_rows(sweep, trial_id),
                predictions=_predictions(sweep, trial_id),
            )
    if found:
        say(
            f"note: {len(found)} config(s) measured before with the same seed and code are not trained again (their "
            f"stored figures are this sweep's: {', '.join(k.source for k in found.values())}); the budget goes to new "
            "configs"
        )
    if other_code:
        say(
            f"note: {other_code} earlier trial(s) ran other code (or a sweeplab that recorded none): their configs "
            "are measured again where they come up"
        )
    return tuple(found.values())


def _in_space(config: dict[str, Any], spec, fixed: dict[str, Any]) -> bool:
    from .store import same

    return all(k in config and p.contains(config[k]) for k, p in spec.parameters.items()) and all(
        k in config and same(config[k], v) for k, v in fixed.items()
    )


def _rows(sweep, trial_id: str) -> tuple:
    from .files import scalar
    from .schema import TRIAL_ID

    rows = sweep.history[sweep.history[TRIAL_ID] == trial_id]
    out = []
    for row in rows.to_dict("records"):
        values = ((k, scalar(v)) for k, v in row.items() if k != TRIAL_ID)
        out.append(tuple((k, v) for k, v in values if v is not None and not (isinstance(v, float) and math.isnan(v))))
    return tuple(out)


def _predictions(sweep, trial_id: str) -> Optional[str]:
    from .schema import PREDICTIONS

    trials = sweep.trials.set_index("trial_id")
    if PREDICTIONS not in trials.columns:
        return None
    value = trials.at[trial_id, PREDICTIONS]
    return value if isinstance(value, str) else None
