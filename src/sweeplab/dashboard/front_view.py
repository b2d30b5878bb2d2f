"""The sweep page's view of a sweep of several objectives, from the same functions as the
report (analysis/front.py): every trial at its best epoch with its front, whether it keeps
the constraints and which front point statistically dominates it, the chosen config and
why, and the observed front's hypervolume against epochs and seconds. JSON-ready."""

from __future__ import annotations

import math
from typing import Any

from ..analysis import front, load, select
from .insight import jsonable


def front_view(sweep: load.Sweep) -> dict[str, Any]:
    """``objectives`` [] for a sweep of one metric (nothing else then)."""
    objectives = [[m, mode] for m, mode in sweep.objectives]
    if not objectives:
        return {"objectives": []}
    frame = select.candidates(sweep)
    out: dict[str, Any] = {
        "objectives": objectives,
        "constraints": list(sweep.record.constraints),
        "points": [],
        "chosen": None,
        "dominance": "",
    }
    if not frame.empty:
        table = front.points(sweep, frame)
        marks = front.dominated(sweep, table)
        out["points"] = [
            {
                "trial_id": str(t),
                "label": row["label"],
                "values": [jsonable(row[m]) for m, _ in sweep.objectives],
                "keeps": bool(row["broken"] == 0),
                "front": None if math.isnan(row["front"]) else int(row["front"]),
                "dominated_by": marks.by.get(str(t), []),
            }
            for t, row in table.iterrows()
        ]
        out["dominance"] = marks.note
        pick = select.choice(sweep)
        out["chosen"] = {"trial_id": pick.trial_id, "label": pick.row["label"], "reason": pick.reason}
    curve = front.hypervolume_curve(sweep)
    out["hypervolume"] = {
        "epochs": [int(v) for v in curve["epochs"]],
        "seconds": [jsonable(v) for v in curve["seconds"]],
        "hypervolume": [jsonable(v) for v in curve["hypervolume"]],
        "seconds_are": curve.attrs.get("seconds", "seconds"),
        "reference": {m: jsonable(v) for m, v in curve.attrs.get("reference", {}).items()},
        "caption": front.reference_text(curve),
    }
    return out
