"""Conclusions from the numbers: did any configuration beat the baseline preset, on
which metric, by how much, and what the sweep tried against it (report 000's closing
paragraphs)."""
from __future__ import annotations

import math
from typing import Optional

import pandas as pd

from ..errors import UserError
from .load import Sweep, guess_mode
from .tables import fmt_metric, table_metrics

BASELINE_NAMES = ("baseline", "original")


def baseline_trial(sweep: Sweep, name: Optional[str] = None) -> Optional[str]:
    """The trial that ran the baseline preset: ``name``, else a preset called baseline or
    original, else the first preset the space lists that ran."""
    ran = sweep.facts.dropna(subset=["preset"])
    by_preset = dict(zip(ran["preset"], ran["trial_id"]))
    if name is not None:
        if name not in by_preset:
            raise UserError(f"{sweep.uri}: no trial ran preset '{name}'; presets that ran: {', '.join(by_preset) or '(none)'}")
        return by_preset[name]
    for candidate in (*BASELINE_NAMES, *sweep.presets):
        if candidate in by_preset:
            return by_preset[candidate]
    return None


def conclusions(sweep: Sweep, lang: str = "en", baseline: Optional[str] = None) -> list[str]:
    """Sentences, from the trial facts and each trial's row at its best epoch."""
    facts = sweep.facts.set_index("trial_id")
    scored = facts.dropna(subset=["best"])
    es = lang == "es"
    out: list[str] = []
    if scored.empty:
        return ["Ningún trial reportó la métrica." if es else "No trial reported the metric."]
    if baseline is None or baseline not in scored.index or len(scored) < 2:
        top = sweep.ranked().iloc[0]
        out.append(
            f"El mejor trial, {top['label']}, alcanzó {sweep.metric} {fmt_metric(top['best'])}; "
            f"mediana {fmt_metric(scored['best'].median())} en {len(scored)} trials con resultado."
            if es else
            f"The best trial, {top['label']}, reached {sweep.metric} {fmt_metric(top['best'])}; "
            f"median {fmt_metric(scored['best'].median())} over {len(scored)} scored trials."
        )
    else:
        out.append(_against_baseline(sweep, baseline, sweep.metric, sweep.mode, es, first=True))
        for metric in table_metrics(sweep):
            if metric != sweep.metric:
                sentence = _against_baseline(sweep, baseline, metric, guess_mode(metric), es, first=False)
                if sentence:
                    out.append(sentence)
        size = _capacity_sentence(facts, baseline, es)
        if size:
            out.append(size)
    failed = int((facts["status"] == "ERROR").sum())
    if failed:
        out.append(f"{failed} trial(s) fallaron; ver Observaciones." if es else f"{failed} trial(s) failed; see Observations.")
    return out


def _values(sweep: Sweep, metric: str) -> pd.Series:
    if metric == sweep.metric:
        return sweep.facts.set_index("trial_id")["best"].dropna()
    rows = sweep.best_rows
    return pd.to_numeric(rows[metric], errors="coerce").dropna() if metric in rows else pd.Series(dtype=float)


def _against_baseline(sweep: Sweep, baseline: str, metric: str, mode: str, es: bool, first: bool) -> Optional[str]:
    values = _values(sweep, metric)
    if baseline not in values.index or len(values) < 2:
        return None
    labels = sweep.facts.set_index("trial_id")["label"]
    base = float(values[baseline])
    others = values.drop(baseline)
    better = others[others > base] if mode == "max" else others[others < base]
    top_id = (others.idxmax() if mode == "max" else others.idxmin())
    top = float(others[top_id])
    diff = top - base
    rel = f"{diff / abs(base):+.1%}" if base else "n/a"
    who, what = labels[baseline], labels[top_id]
    if better.empty:
        if es:
            head = f"Ninguna configuración superó a la base {who} en {metric}" if first else f"En {metric}, ninguna la superó"
            return f"{head}: {fmt_metric(base)}, y la mejor de las demás, {what}, alcanzó {fmt_metric(top)} ({_diff(diff, es)})."
        head = f"No configuration beat the baseline {who} on {metric}" if first else f"On {metric}, none beat it"
        return f"{head}: {fmt_metric(base)}, and the best other trial, {what}, reached {fmt_metric(top)} ({_diff(diff, es)})."
    if es:
        head = f"{len(better)} de {len(others)} configuraciones superaron a la base {who} en {metric}" if first else f"En {metric}, {len(better)} de {len(others)} la superaron"
        return f"{head}; la mejor, {what}, por {diff:+.3g} ({fmt_metric(top)} frente a {fmt_metric(base)}, {rel})."
    head = f"{len(better)} of {len(others)} configurations beat the baseline {who} on {metric}" if first else f"On {metric}, {len(better)} of {len(others)} beat it"
    return f"{head}; the best, {what}, by {diff:+.3g} ({fmt_metric(top)} against {fmt_metric(base)}, {rel})."


def _diff(diff: float, es: bool) -> str:
    if diff == 0:
        return "igual" if es else "equal"
    return f"{diff:+.3g}"


def _capacity_sentence(facts: pd.DataFrame, baseline: str, es: bool) -> Optional[str]:
    caps = facts["capacity"]
    base = caps.get(baseline)
    others = caps.drop(baseline).dropna()
    if base is None or math.isnan(base) or others.empty:
        return None
    if (others < base).all():
        return ("Todas las demás configuraciones son más pequeñas que la base, así que el barrido no dice nada "
                "de modelos más grandes." if es else
                "Every other configuration is smaller than the baseline, so the sweep says nothing about larger models.")
    if (others > base).all():
        return ("Todas las demás configuraciones son más grandes que la base." if es else
                "Every other configuration is larger than the baseline.")
    return None
