"""PNG pictures of a sweep of several objectives (matplotlib, no display): every trial at its
best epoch on the first two objectives (a third as colour) with the Pareto front joined,
the constraint breakers crossed and the chosen point labelled; and the hypervolume of the
observed front against epochs trained and against seconds (front.hypervolume_curve)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Optional

import pandas as pd

from . import front, select
from .load import Sweep
from .plots import STYLE, _plt, _save


def pictures(sweep: Sweep, folder: Path, slug: str, chosen: str) -> list[tuple[str, Optional[Path]]]:
    """The report's pictures of a sweep of several objectives, each with its caption."""
    curve = front.hypervolume_curve(sweep)
    return [
        (
            "Pareto front: every trial at its best epoch, the front joined, constraint breakers crossed, "
            "the chosen config starred",
            front_scatter(sweep, folder / f"{slug}-front.png", chosen),
        ),
        (
            "hypervolume of the observed front against epochs trained and seconds; " + front.reference_text(curve),
            hypervolume_plot(sweep, folder / f"{slug}-hypervolume.png", curve),
        ),
    ]


def front_scatter(sweep: Sweep, path: Path, chosen: Optional[str] = None) -> Optional[Path]:
    """Every scored trial at its best epoch (front.points); None for a sweep of one objective."""
    if not sweep.objectives:
        return None
    frame = select.candidates(sweep)
    if frame.empty:
        return None
    table = front.points(sweep, frame)
    names = [m for m, _ in sweep.objectives]
    x, y = names[0], names[1]
    colour = names[2] if len(names) > 2 else None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    on_front = table[table["front"] == 0]
    behind = table[(table["broken"] == 0) & (table["front"] != 0)]
    broken = table[table["broken"] != 0]
    if len(behind):
        shade = {"c": behind[colour], "cmap": "viridis"} if colour else {"color": STYLE["stopped"]}
        ax.scatter(behind[x], behind[y], s=22, alpha=0.7, label="behind the front", **shade)
    if len(broken):
        ax.scatter(broken[x], broken[y], s=40, marker="x", color=STYLE["failed"], label="breaks a constraint")
    if len(on_front):
        drawn = on_front.sort_values(x)
        if not colour:  # two objectives: the front is a line; with a third, its points only
            ax.plot(drawn[x], drawn[y], color=STYLE["ok"], linewidth=1.2, alpha=0.8)
        marks = {"c": on_front[colour], "cmap": "viridis"} if colour else {"color": STYLE["ok"]}
        points = ax.scatter(
            on_front[x], on_front[y], s=55, edgecolors="black", linewidths=0.8, label="Pareto front", zorder=3, **marks
        )
        if colour:
            fig.colorbar(points, ax=ax, label=f"{colour} ({dict(sweep.objectives)[colour]})")
        noise = table.loc[list(front.dominated(sweep, table).by)]
        if len(noise):  # on the front by chance: another front point beats it beyond noise
            ax.scatter(
                noise[x],
                noise[y],
                s=150,
                facecolors="none",
                edgecolors=STYLE["failed"],
                linewidths=1.2,
                label="statistically dominated",
                zorder=3,
            )
    if chosen is not None and chosen in table.index:
        cx, cy = float(table.at[chosen, x]), float(table.at[chosen, y])
        ax.scatter([cx], [cy], s=260, marker="*", color=STYLE["best"], edgecolors="black", zorder=4, label="chosen")
        ax.annotate(
            f"{table.at[chosen, 'label']} (trial {chosen})",
            (cx, cy),
            xytext=(8, 8),
            textcoords="offset points",
            fontsize=8,
            bbox={"boxstyle": "round", "fc": "white", "alpha": 0.8},
        )
    modes = dict(sweep.objectives)
    ax.set_xlabel(f"{x} ({modes[x]})")
    ax.set_ylabel(f"{y} ({modes[y]})")
    limits = "; ".join(sweep.record.constraints)
    ax.set_title(f"{sweep.name}: each trial at its best epoch" + (f" (constraints: {limits})" if limits else ""))
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def hypervolume_plot(sweep: Sweep, path: Path, curve: Optional[pd.DataFrame] = None) -> Optional[Path]:
    """Two panels: the observed front's hypervolume against epochs trained and against
    seconds, with the reference point written under them."""
    if not sweep.objectives:
        return None
    curve = front.hypervolume_curve(sweep) if curve is None else curve
    if curve.empty:
        return None
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, column, label in (
        (left, "epochs", "epochs trained (every trial's)"),
        (right, "seconds", curve.attrs.get("seconds", "seconds")),
    ):
        ax.step(curve[column], curve["hypervolume"], where="post", color=STYLE["ok"], linewidth=1.8)
        ax.set_xlabel(label)
        ax.set_ylim(0, max(1.0, float(curve["hypervolume"].max()) * 1.05))
        ax.grid(alpha=0.3)
    left.set_ylabel("hypervolume (normalised)")
    final = float(curve["hypervolume"].iloc[-1])
    fig.suptitle(f"{sweep.name}: hypervolume of the observed front ({final:.3f} at the end)")
    return _save_with_note(fig, path, front.reference_text(curve))


def _save_with_note(fig, path: Path, note: str) -> Path:
    """``plots._save``, with a note under the panels (kept inside the image)."""
    fig.tight_layout()
    fig.text(0.5, -0.02, textwrap.fill(note, 150), ha="center", va="top", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return path
