"""Everything analysis says about some sweeps, as sections: printed by ``sweeplab
analyze`` (Markdown), written by ``sweeplab report`` as one Markdown file and one
self-contained HTML file (images inline) with the plots and the suggested next space.

Every section ranks and compares on validation metrics; the test split's figures of the
chosen config have a section of their own, "Held-out test of the chosen config"."""

from __future__ import annotations

import base64
import html
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

from .. import files
from ..errors import UserError
from . import conclude, front, front_plots, observe, plots, select, tables
from .load import Sweep
from .tables import Table


@dataclass
class Section:
    title: str
    text: list[str] = field(default_factory=list)
    tables: dict[str, Table] = field(default_factory=dict)  # file-name slug -> table
    images: list[tuple[str, Path]] = field(default_factory=list)
    code: str = ""  # a file to show verbatim (the chosen config)


def sweep_sections(
    sweep: Sweep, lang: str = "en", baseline: Optional[str] = None, trial: Optional[str] = None, ties: str = "cheapest"
) -> list[Section]:
    es = lang == "es"
    obs = observe.observe(sweep)
    base_id = conclude.baseline_trial(sweep, baseline)
    facts = sweep.facts
    counts = Counter(facts["status"])
    rec = sweep.record
    head = Section(f"{'Barrido' if es else 'Sweep'} {sweep.name}")
    head.text.append(
        f"{rec.experiment or '-'} · {sweep.metric} ({sweep.mode}) · scheduler {rec.scheduler_name} · "
        f"searcher {rec.searcher_name} · seed {'-' if rec.seed is None else rec.seed} · "
        + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
    )
    warm = rec.options.warm_start if rec.options else ()
    if warm:  # its searcher learnt from these before its first config (tune --warm-start)
        head.text.append(f"{'aprendió primero de' if es else 'warm-started from'} {', '.join(warm)}")
    slug = _slug(sweep.name)
    head.tables[f"{slug}-trials"] = tables.trial_table(sweep, obs, lang, base_id)
    if sweep.objectives and facts["best"].notna().any():  # searched several metrics: the front they make
        head.tables[f"{slug}-front"] = front.front_table(sweep, select.candidates(sweep))
    placement = tables.placement_table(sweep, lang)
    if placement is not None:
        head.tables[f"{slug}-placement"] = placement
    out = [head]
    out.append(Section("Conclusiones" if es else "Conclusions", text=conclude.conclusions(sweep, lang, base_id)))
    if facts["best"].notna().any():
        if trial is not None and trial not in set(facts["trial_id"]):
            raise UserError(f"{sweep.uri}: no trial '{trial}'; trials: {', '.join(facts['trial_id'])}")
        if trial is not None:
            label = facts.set_index("trial_id").at[trial, "label"]
            chosen, reason = trial, f"trial {trial} ({label}), as --trial asks"
        else:
            pick = select.choice(sweep, ties=ties)
            chosen, reason = pick.trial_id, pick.summary  # the conclusions say already if there are no intervals
            label = facts.set_index("trial_id").at[chosen, "label"]
        section = Section(f"{'Configuración elegida' if es else 'Chosen config'}: {label}")
        section.code = select.config_yaml(sweep, chosen, reason)
        if len(sweep.history):
            section.tables[f"{slug}-epochs"] = tables.epoch_table(sweep, chosen, lang)
        confusion = tables.confusion_table(sweep, chosen, lang)
        if confusion is not None:
            section.tables[f"{slug}-confusion"] = confusion
        out.append(section)
        held = _held_out_section(sweep, chosen, lang, slug)
        if held is not None:
            out.append(held)
    return out


def _held_out_section(sweep: Sweep, trial: str, lang: str, slug: str) -> Optional[Section]:
    """The chosen config's test-split figures, apart from everything that ranks: the one
    place analysis shows them."""
    table = tables.held_out_table(sweep, trial, lang)
    if table is None:
        return None
    es = lang == "es"
    section = Section("Test reservado de la configuración elegida" if es else "Held-out test of the chosen config")
    section.tables[f"{slug}-test"] = table
    confusion = tables.confusion_table(sweep, trial, lang, split="test")
    if confusion is not None:
        section.tables[f"{slug}-test-confusion"] = confusion
    return section


def sections(
    sweeps: Sequence[Sweep],
    lang: str = "en",
    baseline: Optional[str] = None,
    trial: Optional[str] = None,
    ties: str = "cheapest",
) -> list[Section]:
    out = [s for sweep in sweeps for s in sweep_sections(sweep, lang, baseline, trial, ties)]
    across = Section("Barridos" if lang == "es" else "Across sweeps")
    across.tables["sweeps"] = tables.sweeps_table(sweeps, lang)
    across.tables["compute"] = tables.compute_table(sweeps, lang)
    out.append(across)
    return out


def markdown(parts: Sequence[Section], heading: str = "##") -> str:
    lines: list[str] = []
    for s in parts:
        lines += [f"{heading} {s.title}", ""]
        for t in s.text:
            lines += [t, ""]
        if s.code:
            lines += ["```yaml", s.code.rstrip(), "```", ""]
        for table in s.tables.values():
            lines += [f"**{table.title}**", "", table.markdown(), ""]
        for title, path in s.images:
            lines += [f"![{title}]({path.as_posix()})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(
    sweeps: Sequence[Sweep], folder: Path, lang: str = "en", baseline: Optional[str] = None
) -> tuple[Path, Path, list[str]]:
    """REPORT.md (images beside it) and report.html (images inline) in ``folder``; and the
    next sweeps' commands, as they run from the working directory."""
    from . import suggest

    folder.mkdir(parents=True, exist_ok=True)
    parts = sections(sweeps, lang, baseline)
    commands: list[str] = []
    images = folder / "images"
    es = lang == "es"
    for sweep in sweeps:
        slug = _slug(sweep.name)
        chosen = select.choose(sweep).name if sweep.facts["best"].notna().any() else None
        figs = Section(f"{'Gráficos' if es else 'Plots'}: {sweep.name}")
        made = [
            ("learning curves", plots.learning_curves(sweep, images / f"{slug}-curves.png", chosen)),
            ("metric against each hyperparameter", plots.metric_vs_params(sweep, images / f"{slug}-params.png")),
            ("parallel coordinates", plots.parallel_coordinates(sweep, images / f"{slug}-parallel.png")),
            (
                "confusion matrix",
                plots.confusion_heatmap(sweep, chosen, images / f"{slug}-confusion.png") if chosen else None,
            ),
        ]
        if sweep.objectives and chosen:  # several objectives: the front, and how the search got there
            made += front_plots.pictures(sweep, images, slug, chosen)
        figs.images += [(title, path.relative_to(folder)) for title, path in made if path is not None]
        if chosen:
            for p in plots.trial_images(sweep, chosen, images):
                figs.images.append((p.stem, p.relative_to(folder)))
        parts.append(figs)
        if sweep.record.space and sweep.facts["best"].notna().any():
            proposal = suggest.suggest(sweep, observe.observe(sweep))
            space_file = folder / f"{slug}-next-space.yaml"
            space_file.write_text(proposal.yaml(sweep.uri))
            nxt = Section(f"{'Próximo espacio' if es else 'Next search space'}: {space_file.name}")
            nxt.text = [f"- {c}" for c in proposal.changes] or [f"- {suggest.NO_SIGN}"]
            command = (
                f"sweeplab tune --space {shlex.quote(files.shown(str(space_file)))}{suggest.warm_flag(proposal, sweep)}"
            )
            nxt.text.append(f"`{command}`")
            commands.append(command)
            parts.append(nxt)
    title = f"sweeplab report: {', '.join(s.name for s in sweeps)}"
    md_path = folder / "REPORT.md"
    md_path.write_text(f"# {title}\n\n" + markdown(parts))
    html_path = folder / "report.html"
    html_path.write_text(_html(title, parts, folder))
    return md_path, html_path, commands


def _html(title: str, parts: Sequence[Section], folder: Path) -> str:
    body = [f"<h1>{html.escape(title)}</h1>"]
    for s in parts:
        body.append(f"<h2>{html.escape(s.title)}</h2>")
        body += [f"<p>{_inline(t)}</p>" for t in s.text]
        if s.code:
            body.append(f"<pre>{html.escape(s.code)}</pre>")
        for t in s.tables.values():
            body.append(f"<h3>{html.escape(t.title)}</h3>{t.html()}")
        for caption, path in s.images:
            data = base64.b64encode((folder / path).read_bytes()).decode()
            body.append(
                f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}"
        "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}"
        "th{background:#f3f3f3}tr.bold td{font-weight:bold}pre{background:#f6f6f6;padding:1em;overflow:auto}"
        "img{max-width:100%}.note{color:#555}"
    )
    return (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def _inline(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "sweep"
