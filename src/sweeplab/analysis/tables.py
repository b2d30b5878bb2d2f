"""The reports' tables from stored sweeps: trial comparison (report 000), per-epoch
history and confusion matrix (report 001), schedulers x searchers across sweeps, and the
compute account. Each is a :class:`Table` that renders as Markdown, CSV or HTML, with
English headers or the reports' own Spanish ones.

Tables rank and compare on validation metrics only; the test split's figures appear in one
table of their own, :func:`held_out_table`, for the chosen trial."""

from __future__ import annotations

import csv
import html
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from .. import schema
from . import bootstrap, intervals
from .formats import LANGS, WORDS, fmt, fmt_metric, word  # noqa: F401 (tables.fmt etc. for its readers)
from .load import ITER, Sweep, _numeric
from .observe import Observation
from .settings import held_fixed


def metric_header(metric: str, lang: str, split_label: bool = False) -> str:
    """``val_macro_f1`` -> "Macro F1"; test and train metrics (and, in the per-epoch
    table, val ones) carry their split: "Test accuracy" / "Accuracy (test)"."""
    split, name = schema.split_metric(metric)
    if not split or not name:
        return word(metric, lang)
    base = word(name, lang)
    if split == "val" and not split_label:
        return base
    if lang == "es":
        return f"{base} ({split})"
    return f"{split.capitalize()} {base if base[:2].isupper() else base[0].lower() + base[1:]}"


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]]
    bold: set[int] = field(default_factory=set)  # row indices printed in bold
    note: str = ""  # a line under the table

    def markdown(self) -> str:
        rows = [[f"**{c}**" if i in self.bold and c else c for c in row] for i, row in enumerate(self.rows)]
        widths = [max([len(h), 3, *(len(r[j]) for r in rows)]) for j, h in enumerate(self.headers)]

        def line(cells: list[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|").ljust(w) for c, w in zip(cells, widths)) + " |"

        out = [line(self.headers), "| " + " | ".join(":" + "-" * (w - 1) for w in widths) + " |"]
        out += [line(r) for r in rows]
        if self.note:
            out += ["", self.note]
        return "\n".join(out)

    def csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.headers)
        writer.writerows(self.rows)
        return buf.getvalue()

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join(
            ('<tr class="bold">' if i in self.bold else "<tr>")
            + "".join(f"<td>{html.escape(c)}</td>" for c in row)
            + "</tr>"
            for i, row in enumerate(self.rows)
        )
        note = f'<p class="note">{html.escape(self.note)}</p>' if self.note else ""
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"


# --- formatting --------------------------------------------------------------------------


def fmt_interval(lo: float, hi: float) -> str:
    return f"[{fmt_metric(lo)}, {fmt_metric(hi)}]"


# --- tables ------------------------------------------------------------------------------


def table_metrics(sweep: Sweep) -> list[str]:
    """The sweep's metric and the experiment's table metrics, in the experiment's order;
    never a test metric (the test split is held out: see :func:`held_out_table`)."""
    declared = [m for m in (sweep.experiment.table_metrics if sweep.experiment else ()) if not schema.is_test(m)]
    metrics = declared if sweep.metric in declared else [sweep.metric, *declared]
    have = set(sweep.history.columns) | set(sweep.trials.columns)
    return [m for m in metrics if m in have]


def table_params(sweep: Sweep) -> list[str]:
    declared = list(sweep.experiment.table) if sweep.experiment else []
    have = {schema.param_name(c) for c in schema.config_columns(sweep.trials.columns)}
    return [p for p in declared if p in have] + [p for p in sweep.params if p not in declared]


def trial_table(
    sweep: Sweep, observations: dict[str, list[Observation]], lang: str = "en", baseline: Optional[str] = None
) -> Table:
    """Report 000's comparison: one row per trial, best first, the baseline in bold; each
    validation metric with its 95 % interval where the sweep stored predictions, and the
    trials statistically tied with the best marked "(tie)"."""
    params, metrics = table_params(sweep), table_metrics(sweep)
    headers = [
        word("model", lang),
        *(word(p, lang) for p in params),
        *(metric_header(m, lang) for m in metrics),
        word("observations", lang),
    ]
    boot = {m: intervals.of(sweep, m) for m in metrics}
    bounds = {m: b.intervals() for m, b in boot.items() if b is not None}
    ranked = sweep.ranked()
    main = boot.get(sweep.metric)
    tied = (
        set(main.ties(ranked["trial_id"].iloc[0])[1:])
        if main is not None and ranked["trial_id"].iloc[0] in main
        else set()
    )
    rows, bold = [], set()
    for i, (_, f) in enumerate(ranked.iterrows()):
        tid = f["trial_id"]
        config = sweep.config(tid)
        at_best = sweep.at_best(tid)
        cells = []
        for m in metrics:
            cell = fmt_metric(at_best.get(m))
            if tid in bounds.get(m, {}):
                cell += " " + fmt_interval(*bounds[m][tid])
            if m == sweep.metric and tid in tied:
                cell += " (empate)" if lang == "es" else " (tie)"
            cells.append(cell)
        notes = "; ".join(o.text(lang) for o in observations.get(tid, [])) or "-"
        rows.append([f["label"], *(fmt(config.get(p), lang) for p in params), *cells, notes])
        if baseline is not None and tid == baseline:
            bold.add(i)
    title = {
        "en": f"Trials of {sweep.name}, best {sweep.metric} first",
        "es": f"Trials de {sweep.name}, mejor {sweep.metric} primero",
    }[lang]
    return Table(title, headers, rows, bold, note=_interval_note(main, lang) if main is not None else "")


def _interval_note(boot: intervals.Intervals, lang: str) -> str:
    skipped = ""
    if boot.skipped:
        trial, why = next(iter(boot.skipped.items()))
        skipped = (
            f" Sin intervalo: {len(boot.skipped)} trial(s) (p. ej. {trial}: {why})."
            if lang == "es"
            else f" No interval for {len(boot.skipped)} trial(s) (e.g. {trial}: {why})."
        )
    if lang == "es":
        return (
            f"[a, b]: intervalo del 95% (bootstrap pareado, {bootstrap.B} remuestreos de las {boot.n} filas de "
            f"validación). (empate): el intervalo de la diferencia entre el mejor y ese trial incluye el cero.{skipped}"
        )
    return (
        f"[a, b]: 95% interval (paired bootstrap, {bootstrap.B} resamples of the {boot.n} validation rows). "
        f"(tie): the interval of the best trial minus this one includes zero.{skipped}"
    )


def epoch_columns(sweep: Sweep) -> list[str]:
    h = sweep.history
    head = schema.split_metric(sweep.metric)[0]
    split = head if head in (schema.VAL, schema.TEST) else schema.VAL
    train = [
        c
        for c in h.columns
        if schema.split_metric(c)[0] == schema.TRAIN and c not in ("train_seconds",) and _numeric(h[c])
    ]
    val = [c for c in (f"{split}_loss", f"{split}_mse", f"{split}_accuracy", sweep.metric) if c in h.columns]
    return list(dict.fromkeys([*sorted(train, key=lambda c: (c != "train_loss", c)), *val]))


def epoch_table(sweep: Sweep, trial_id: str, lang: str = "en") -> Table:
    """Report 001's per-epoch evolution of one trial, its best epoch marked "(best)" (words,
    not an emoji: a terminal or a PDF without an emoji font draws an empty box)."""
    cols = epoch_columns(sweep)
    epochs = sweep.curve(trial_id, schema.EPOCH)
    iters = sweep.curve(trial_id, ITER)
    best_iter = int(sweep.facts.set_index("trial_id").at[trial_id, "best_iteration"])
    curves = {c: sweep.curve(trial_id, c) for c in cols}
    rows = []
    for i in range(len(iters)):
        epoch = epochs[i] if len(epochs) > i and not _nan(epochs[i]) else iters[i]
        cells = [fmt(int(epoch))]
        for c in cols:
            v = curves[c][i]
            cell = "-" if _nan(v) else f"{float(v):.4f}"
            if c == sweep.metric and int(iters[i]) == best_iter:
                cell += " (mejor)" if lang == "es" else " (best)"
            cells.append(cell)
        rows.append(cells)
    label = sweep.facts.set_index("trial_id").at[trial_id, "label"]
    headers = [word("epoch", lang), *(metric_header(c, lang, split_label=True) for c in cols)]
    best_epoch = rows[[int(i) for i in iters].index(best_iter)][0] if best_iter in [int(i) for i in iters] else "-"
    best_value = sweep.facts.set_index("trial_id").at[trial_id, "best"]
    title = {"en": f"Per-epoch metrics of {label}", "es": f"Evolución de métricas por época de {label}"}[lang]
    note = {
        "en": f"Best {sweep.metric} at epoch {best_epoch}: {fmt_metric(best_value)}",
        "es": f"Mejor {sweep.metric} en época {best_epoch}: {fmt_metric(best_value)}",
    }[lang]
    return Table(title, headers, rows, note=note)


def class_names(sweep: Sweep, split: str) -> list[str]:
    prefix = f"{split}_recall_"
    return [c.removeprefix(prefix) for c in sweep.history.columns if c.startswith(prefix)]


def confusion(sweep: Sweep, trial_id: str, split: str = "val") -> Optional[tuple[str, list[list[int]], list[str]]]:
    """A trial's confusion matrix (rows real, columns predicted) with its split and class
    names: validation at its best epoch by default; ``split="test"``: the held-out one
    (see :meth:`Sweep.held_out` for the epoch it comes from)."""
    if split == "test":
        held = sweep.held_out(trial_id)
        raw = held.values.get(schema.test_name_for("val_confusion_matrix")) if held else None
    else:
        raw = sweep.at_best(trial_id).get(f"{split}_confusion_matrix")
    if not isinstance(raw, str):
        return None
    matrix = json.loads(raw)
    return split, matrix, class_names(sweep, split) or [str(i) for i in range(len(matrix))]


def confusion_table(sweep: Sweep, trial_id: str, lang: str = "en", split: str = "val") -> Optional[Table]:
    """Report 001's confusion matrix of one trial (validation unless ``split="test"``)."""
    found = confusion(sweep, trial_id, split)
    if found is None:
        return None
    split, matrix, names = found
    headers = [""] + [f"{word('predicted', lang)}: {n}" for n in names]
    rows = [[f"{word('real', lang)}: {n}", *(str(int(v)) for v in counts)] for n, counts in zip(names, matrix)]
    label = sweep.facts.set_index("trial_id").at[trial_id, "label"]
    title = {"en": f"Confusion matrix of {label} ({split})", "es": f"Matriz de confusión de {label} ({split})"}[lang]
    return Table(title, headers, rows)


def held_out_table(sweep: Sweep, trial_id: str, lang: str = "en") -> Optional[Table]:
    """The trial's test-split figures, with the epoch whose weights they come from; None if
    it reported none. Shown apart from every table that ranks or compares."""
    held = sweep.held_out(trial_id)
    if held is None:
        return None
    numbers = {k: v for k, v in held.values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if not numbers:
        return None
    es = lang == "es"
    label = sweep.facts.set_index("trial_id").at[trial_id, "label"]
    headers = ["Métrica" if es else "Metric", "Test"]
    rows = [[k, fmt_metric(v)] for k, v in numbers.items()]
    if held.at_best:
        note = (
            f"Con los pesos de su mejor época ({held.epoch}) por {sweep.metric}. El test no eligió ni comparó nada: "
            "estima lo que vale la configuración elegida."
            if es
            else f"On the weights of its best epoch ({held.epoch}) by {sweep.metric}. The test split chose nothing and "
            "compared nothing: it estimates what the chosen config is worth."
        )
    elif sweep.marks_best:  # ranked by another metric than the one the sweep tested the best epochs of
        best, declared = sweep.epoch_at_best(trial_id), intervals.declared_metric(sweep)
        note = (
            f"Con los pesos de su época {held.epoch}, la mejor por {declared}, no de su mejor época por "
            f"{sweep.metric} ({best})."
            if es
            else f"On the weights of its epoch {held.epoch}, the best by {declared}, not of its best epoch by "
            f"{sweep.metric} ({best})."
        )
    else:
        best = sweep.epoch_at_best(trial_id)
        note = (
            f"Con los pesos de su época {held.epoch}, no de su mejor época ({best}): este barrido evaluó el test "
            "solo al final."
            if es
            else f"On the weights of its epoch {held.epoch}, not of its best epoch ({best}): this sweep tested only "
            "at the end."
        )
    title = f"Test reservado de {label}" if es else f"Held-out test of {label}"
    return Table(title, headers, rows, note=note)


def sweeps_table(sweeps: Sequence[Sweep], lang: str = "en") -> Table:
    """Schedulers x searchers across sweeps of one experiment and setting (sweeps that held
    other values fixed are not one row): best, mean ± std of the trials' best values, trials
    run, trials the scheduler stopped early or left paused at a rung, trial-hours."""
    groups: dict[tuple, list[Sweep]] = {}
    settings = held_fixed(sweeps)
    for s, setting in zip(sweeps, settings):
        key = (s.record.experiment or "-", s.metric, s.record.scheduler_name, s.record.searcher_name, setting)
        groups.setdefault(key, []).append(s)
    rows = []
    for (experiment, metric, scheduler, searcher, setting), members in groups.items():
        facts = pd.concat([s.facts for s in members], ignore_index=True)
        best = facts["best"].dropna()
        mode = members[0].mode
        top = (best.max() if mode == "max" else best.min()) if len(best) else math.nan
        spread = (
            f"{fmt_metric(best.mean())} ± {fmt_metric(best.std(ddof=1)) if len(best) > 1 else '0'}"
            if len(best)
            else "-"
        )
        rows.append(
            [
                experiment,
                *([setting] if any(settings) else []),
                metric,
                scheduler,
                searcher,
                fmt_metric(top),
                spread,
                str(len(facts)),
                str(int(facts["cut_early"].sum())),
                f"{facts['hours'].sum():.3f}",
            ]
        )
    headers = [
        word("experiment", lang),
        *([word("setting", lang)] if any(settings) else []),
        "Metric" if lang == "en" else "Métrica",
        word("scheduler", lang),
        word("searcher", lang),
        word("best", lang),
        word("mean_std", lang),
        word("trials", lang),
        word("stopped_early", lang),
        word("trial_hours", lang),
    ]
    title = {"en": "Schedulers and searchers", "es": "Planificadores y buscadores"}[lang]
    return Table(title, headers, rows)


def compute_table(sweeps: Sequence[Sweep], lang: str = "en") -> Table:
    """Trial-hours spent against the same trials trained to their full budget (each at its
    own mean time per iteration), and the share the scheduler's cuts saved (trials it
    stopped, and those it left paused at a rung)."""
    rows = []
    for s in sweeps:
        f = s.facts
        per_iter = f["hours"] / f["epochs_trained"].clip(lower=1)  # hours bought every epoch it ran, repeats too
        full = np.where(f["cut_early"], per_iter * f["budget"], f["hours"])
        spent, total = float(f["hours"].sum()), float(np.sum(full))
        saved = 1 - spent / total if total > 0 else 0.0
        rows.append([s.name, str(len(f)), f"{spent:.3f}", f"{total:.3f}", f"{saved:.0%}"])
    headers = [
        word("sweep", lang),
        word("trials", lang),
        word("trial_hours", lang),
        word("full_budget_hours", lang),
        word("saved", lang),
    ]
    title = {"en": "Compute", "es": "Cómputo"}[lang]
    return Table(title, headers, rows)


def placement_table(sweep: Sweep, lang: str = "en") -> Optional[Table]:
    """Where the trials ran: node (IP and id) and the GPU ids Ray gave them, with how many
    trials and trial-hours each took. None for a sweep that recorded no placement."""
    h = sweep.history
    if schema.NODE_ID not in h.columns or h.empty:
        return None
    first = h.drop_duplicates("trial_id").set_index("trial_id")
    hours = sweep.facts.set_index("trial_id")["hours"]
    keys = pd.DataFrame(
        {
            "node": [
                f"{ip} ({str(node)[:8]})" if isinstance(ip, str) else str(node)[:8]
                for ip, node in zip(first.get("node_ip", pd.Series(None, index=first.index)), first[schema.NODE_ID])
            ],
            "gpus": first.get("gpu_ids", pd.Series("", index=first.index)).fillna("").replace("", "-"),
            "hours": hours.reindex(first.index).fillna(0.0),
        }
    )
    grouped = keys.groupby(["node", "gpus"], sort=True)["hours"].agg(["count", "sum"]).reset_index()
    headers = ["Node" if lang == "en" else "Nodo", "GPU ids", word("trials", lang), word("trial_hours", lang)]
    rows = [[r.node, r.gpus, str(int(r["count"])), f"{r['sum']:.3f}"] for _, r in grouped.iterrows()]
    title = {"en": "Placement", "es": "Ubicación"}[lang]
    return Table(title, headers, rows)


def _nan(v: Any) -> bool:
    try:
        return math.isnan(float(v))
    except (TypeError, ValueError):
        return v is None
