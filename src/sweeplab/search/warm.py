"""``sweeplab tune --warm-start DIR``: what earlier sweeps teach a new one (files only: the
results stores, read as ``analyze`` reads them; no Ray).

Each earlier trial whose config lies in the new space becomes a prior trial for RungTPE
(search/rung_tpe.py): its searched params and its score after each epoch it reported. A
trial with a value outside the new space (or without one of its parameters and no default
for it in its sweep.json, or with another value of a parameter its sweep searched and this
one fixes) is left out, and so is a sweep of another experiment. Fixed values the earlier
sweep ran with that differ from this one's are said in a note: its scores are used as they
are.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from ..errors import UserError
from ..schema import ITERATION
from ..store import same
from ..sweepspec import Spec

PriorTrial = tuple[dict[str, Any], dict[int, float]]  # (searched params, {epoch: score})
SHOWN = 3  # differing fixed values a note names


def load_all(paths: tuple[str, ...], spec: Spec, metric: str, mode: str) -> list:
    """The sweeps under ``paths`` (each a sweep, or a folder of them) of this experiment."""
    return [s for path in paths for s in _load(path, spec, metric, mode)]


def read(sweeps: list, spec: Spec, metric: str, named: str, say=print) -> tuple[PriorTrial, ...]:
    """The prior trials of ``sweeps`` (``load_all`` of --warm-start ``named``) for a sweep of
    ``spec`` on ``metric``."""
    prior: list[PriorTrial] = []
    seen = outside = 0
    for sweep in sweeps:
        differ: dict[str, str] = {}
        # a value that sweep searched and this one fixes: its other values are other configs
        pinned = {k: v for k, v in spec.fixed.items() if k in sweep.params}
        # a field its trials do not record ran with its default (sweep.json keeps them): a
        # parameter added to the space since
        defaults = {
            k: f["default"] for k, f in (sweep.record.config_fields or {}).items() if f.get("default") is not None
        }
        for trial_id in sweep.trials["trial_id"]:
            seen += 1
            config = {**defaults, **sweep.config(trial_id)}
            if any(k not in config or not p.contains(config[k]) for k, p in spec.parameters.items()) or any(
                k in config and not same(config[k], v) for k, v in pinned.items()
            ):
                outside += 1
                continue
            scores = {
                int(it): float(v)
                for it, v in zip(sweep.curve(trial_id, ITERATION), sweep.curve(trial_id, metric))
                if _finite(it) and _finite(v)
            }
            if scores:
                prior.append(({k: config[k] for k in spec.parameters}, scores))
            for k, v in spec.fixed.items():  # a setting that sweep fixed otherwise: said, not refused
                if k != "seed" and k in config and not same(config[k], v):
                    differ.setdefault(k, f"{k}={config[k]!r} (here {v!r})")
        if differ:
            shown = ", ".join(list(differ.values())[:SHOWN]) + (", ..." if len(differ) > SHOWN else "")
            say(
                f"note: --warm-start {sweep.name} ran with other fixed values: {shown}; its scores are used as they are"
            )
    if not prior:
        raise UserError(
            f"--warm-start {named}: none of its {seen} trials has a {metric} score for a config "
            f"in this sweep's space ({spec.source}: {', '.join(spec.parameters) or 'no parameters'})"
        )
    left = f"; {outside} outside this space left out" if outside else ""
    n = len(sweeps)
    say(f"note: warm start: {len(prior)} trials of {n} earlier sweep{'s' * (n > 1)} teach the searcher{left}")
    return tuple(prior)


def _load(path: str, spec: Spec, metric: str, mode: str) -> list:
    """The sweeps under ``path`` scored on ``metric``: the sweep itself, or those of this
    experiment in a storage folder (a sweep of another experiment named itself is an
    error); an error names the flag."""
    from ..analysis import load
    from .. import record

    try:
        found, ours = load.find_sweeps(path), []
        for uri in found:
            theirs = record.read_if_any(uri).experiment
            if not (spec.experiment and theirs and theirs != spec.experiment):
                ours.append(uri)
            elif found == [path]:
                raise UserError(f"{uri}: a sweep of experiment {theirs}; this one is {spec.experiment}")
        if not ours:
            raise UserError(f"{path}: holds no sweep of experiment {spec.experiment}")
        return [load.load_sweep(uri, metric, mode) for uri in ours]
    except UserError as e:
        raise UserError(f"--warm-start {e}") from None


def _finite(v: Any) -> bool:
    return isinstance(v, numbers.Real) and math.isfinite(v)
