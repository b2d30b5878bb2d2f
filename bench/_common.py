"""Helpers shared by the bench scripts (not part of the package)."""
from __future__ import annotations

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("SWEEPLAB_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def table(rows: list[dict], columns: list[str]) -> str:
    """A Markdown table of ``rows``; floats to 4 significant digits."""
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
