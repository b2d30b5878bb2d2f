"""What sweeps of one experiment held fixed differently (a config value every trial shared,
a smoke run): the "Setting" column that keeps the across-sweeps table from merging sweeps
of different problems into one row."""

from __future__ import annotations

from typing import Any, Sequence

from .. import spaces
from ..errors import UserError
from .load import Sweep
from .formats import fmt


def held_fixed(sweeps: Sequence[Sweep]) -> list[str]:
    """What each sweep held fixed that another sweep of the same experiment set otherwise (a
    config value every trial shared, a smoke run), as "phase_noise=0, smoke"; "" where the
    sweeps agree. The seed is left out: sweeps on other seeds are the same setting, repeated."""

    def fixed(s: Sweep) -> dict[str, Any]:
        configs = [s.config(t) for t in s.facts["trial_id"]]
        keys = set.intersection(*(set(c) for c in configs)) if configs else set()
        out = {
            k: configs[0][k]
            for k in keys - {"seed"} - _searched(s)
            if all(repr(c[k]) == repr(configs[0][k]) for c in configs)
        }
        if s.record.smoke:
            out["smoke"] = True
        return out

    held = [fixed(s) for s in sweeps]
    labels = []
    for s, mine in zip(sweeps, held):
        peers = [h for other, h in zip(sweeps, held) if other.record.experiment == s.record.experiment]
        differ = sorted(k for k in set().union(*peers) if len({repr(h.get(k)) for h in peers}) > 1)
        labels.append(
            ", ".join(
                k if k == "smoke" else f"{k}={fmt(mine[k]) if k in mine else '-'}"
                for k in differ
                if k in mine or k != "smoke"
            )
        )
    return labels


def _searched(sweep: Sweep) -> set[str]:
    """The parameters the sweep searched: its space's, less what --set pinned; where the
    space is not recorded (a plain Ray folder), every config key: none is known to be fixed."""
    text = sweep.record.space
    try:
        raw = spaces.loads(text) if isinstance(text, str) else None
    except (UserError, ValueError):
        raw = None
    if not isinstance(raw, dict) or not isinstance(raw.get("parameters"), dict):
        return {k for t in sweep.facts["trial_id"] for k in sweep.config(t)}  # unknown: none is taken as fixed
    return set(raw["parameters"]) - set(sweep.record.pins)
