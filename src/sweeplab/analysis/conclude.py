"""Conclusions from the numbers: did any configuration beat the trivial predictor and the
baseline preset, on which validation metric, by how much and how surely, and what the
sweep tried against it (report 000's closing paragraphs).

"Beat" needs a margin beyond noise: where the sweep stored predictions, the paired
bootstrap interval of (trial - baseline) must exclude zero in the metric's good direction
(``intervals``); otherwise it is a tie, said with its interval. Sweeps without predictions
use a relative margin (1 %) and say it is a margin. A baseline that did not run its full
budget is named, and every trial is compared with it at equal training. Test metrics never
enter a conclusion."""

from __future__ import annotations

import math
from typing import Optional

import pandas as pd

from ..errors import UserError
from ..schema import Status
from . import intervals, observe
from .intervals import TRIVIAL, beats
from .load import Sweep, guess_mode
from .tables import fmt_metric, table_metrics

BASELINE_NAMES = ("baseline", "original")
MARGIN = 0.01  # without intervals, "beat" means better by more than this share of the baseline


def baseline_trial(sweep: Sweep, name: Optional[str] = None) -> Optional[str]:
    """The trial that ran the baseline preset: ``name``, else a preset called baseline or
    original, else the first preset the space lists that ran."""
    ran = sweep.facts.dropna(subset=["preset"])
    by_preset = dict(zip(ran["preset"], ran["trial_id"]))
    if name is not None:
        if name not in by_preset:
            known = list(dict.fromkeys([*sweep.presets, *by_preset]))
            if name in known:
                raise UserError(
                    f"{sweep.uri}: --baseline {name}: no trial ran that preset; "
                    f"presets that ran: {', '.join(by_preset) or '(none)'}"
                )
            raise UserError(
                f"{sweep.uri}: --baseline {name}: not a preset of this sweep; presets: "
                f"{', '.join(known) or '(none)'} (ran: {', '.join(by_preset) or 'none'})"
            )
        return by_preset[name]
    for candidate in (*BASELINE_NAMES, *sweep.presets):
        if candidate in by_preset:
            return by_preset[candidate]
    return None


def conclusions(sweep: Sweep, lang: str = "en", baseline: Optional[str] = None) -> list[str]:
    """Sentences, from the trial facts, each trial's row at its best epoch and, where the
    sweep stored predictions, their bootstrap intervals."""
    facts = sweep.facts.set_index("trial_id")
    scored = facts.dropna(subset=["best"])
    es = lang == "es"
    if scored.empty:
        return ["Ningún trial reportó la métrica." if es else "No trial reported the metric."]
    boot = intervals.of(sweep)
    trivial = _trivial(sweep, boot, es)  # sentences only when no trial beat the trivial predictor
    out = list(trivial)
    within = None
    if baseline is not None:
        unfinished = _unfinished(sweep, facts.loc[baseline], es)
        if unfinished:
            out.append(unfinished)
            within = int(facts.at[baseline, "iterations"])
    if trivial and baseline is not None and baseline in scored.index:
        # every configuration is the trivial predictor: differences among them say nothing
        who = facts.at[baseline, "label"]
        out.append(
            f"Comparar con la base {who} no dice nada aquí: todas las configuraciones, la base incluida, "
            f"quedan al nivel del predictor trivial."
            if es
            else f"Comparing with the baseline {who} says nothing here: every configuration, the baseline "
            f"included, is at the trivial predictor's level."
        )
    elif baseline is None or baseline not in scored.index or len(scored) < 2:
        out.append(_top(sweep, scored, boot, es))
    else:
        # None where, within the baseline's epochs, no other trial has the metric: then the top trial alone
        out.append(
            _against_baseline(sweep, baseline, sweep.metric, sweep.mode, es, True, within)
            or _top(sweep, scored, boot, es)
        )
        for metric in table_metrics(sweep):
            if metric != sweep.metric:
                sentence = _against_baseline(sweep, baseline, metric, guess_mode(metric), es, False, within)
                if sentence:
                    out.append(sentence)
    ties = None if trivial else _ties(sweep, boot, es)
    if ties:
        out.append(ties)
    if baseline is not None and baseline in scored.index and len(scored) >= 2:
        size = _capacity_sentence(facts, baseline, es)
        if size:
            out.append(size)
    failed = int((facts["status"] == Status.ERROR).sum())
    if failed:
        out.append(
            f"{failed} trial(s) fallaron; ver Observaciones." if es else f"{failed} trial(s) failed; see Observations."
        )
    if boot is None:
        why = intervals.missing(sweep)
        if es:
            why = _WHY_ES.get(why, "las predicciones guardadas no dan esta métrica")
            out.append(
                f"Sin intervalos ({why}): «superar» significa mejorar en más de {MARGIN:.0%} "
                "(un margen, no un intervalo)."
            )
        else:
            out.append(
                f'No intervals ({why}): "beat" means better by more than {MARGIN:.0%} (a margin, not an interval).'
            )
    return out


_WHY_ES = {"sweep stored no predictions": "el barrido no guardó predicciones"}


# --- the trivial predictor ---------------------------------------------------------------


def _trivial(sweep: Sweep, boot: Optional[intervals.Intervals], es: bool) -> list[str]:
    """ "No trial beat the trivial predictor", first, with the experiment's diagnosis; or nothing."""
    facts = sweep.facts.set_index("trial_id")
    scored = facts.dropna(subset=["best"])
    top = str(sweep.ranked()["trial_id"].iloc[0])
    exp = sweep.experiment
    obs = observe.observe(sweep)
    within_margin = {t: any(o.code == "trivial" for o in obs.get(t, [])) for t in scored.index}
    metric, label = sweep.metric, facts.at[top, "label"]
    trivial: Optional[float]
    if boot is not None and boot.has_trivial:
        diffs = boot.differences(TRIVIAL)
        # trials without predictions: judged by the observation rule's margin
        if any(beats(diffs[t], sweep.mode) if t in boot else not within_margin[t] for t in scored.index):
            return []
        kind = "zero" if boot.statistic == "mean" else "majority"
        trivial = float(boot.point[boot.trials.index(TRIVIAL)])
        what = _TRIVIAL_WORDS[kind][1 if es else 0]
        if top in boot:
            diff, lo, hi = boot.difference(top, TRIVIAL)
            change, sign = _change(diff, es)
            detail = f"{change}; {_interval((lo, hi), sign, es)}"
        else:
            detail = _change(facts.at[top, "best"] - trivial, es)[0]
        sentence = (
            f"Ningún trial superó al predictor trivial ({what}: {metric} {fmt_metric(trivial)}) más allá del "
            f"ruido: el mejor, {label}, alcanzó {fmt_metric(facts.at[top, 'best'])} ({detail})."
            if es
            else f"No trial beat the trivial predictor ({what}: {metric} {fmt_metric(trivial)}) beyond noise: "
            f"the best, {label}, reached {fmt_metric(facts.at[top, 'best'])} ({detail})."
        )
    else:
        if exp is None or exp.trivial is None or not all(within_margin.values()):
            return []
        trivial = observe.trivial_score(exp.trivial, metric, sweep.at_best(top))
        if trivial is None:
            return []
        what = _TRIVIAL_WORDS[exp.trivial][1 if es else 0]
        share = f"{observe.THRESHOLDS.trivial_margin:.0%}"
        sentence = (
            f"Ningún trial superó al predictor trivial ({what}: {metric} {fmt_metric(trivial)}): todos los "
            f"trials con resultado quedan a menos del {share} de él; el mejor, {label}, alcanzó "
            f"{fmt_metric(facts.at[top, 'best'])}."
            if es
            else f"No trial beat the trivial predictor ({what}: {metric} {fmt_metric(trivial)}): every scored "
            f"trial is within {share} of it; the best, {label}, reached {fmt_metric(facts.at[top, 'best'])}."
        )
    out = [sentence]
    diagnosis = (exp.diagnosis_es or exp.diagnosis) if es and exp else (exp.diagnosis if exp else None)
    if diagnosis:
        out.append(diagnosis)
    return out


_TRIVIAL_WORDS = {
    "zero": ("predicting zero", "predecir cero"),
    "majority": ("always the majority class", "siempre la clase mayoritaria"),
}


# --- the baseline ------------------------------------------------------------------------


def _unfinished(sweep: Sweep, base: pd.Series, es: bool) -> Optional[str]:
    """The sentence naming a baseline that did not run its full budget, or None."""
    it, budget = int(base["iterations"]), int(base["budget"])
    status = base["status"]
    if base["scheduler_stopped"]:
        why = (
            f"detenida por el planificador en la época {it} de {budget}"
            if es
            else f"stopped by the scheduler at epoch {it} of {budget}"
        )
    elif status == Status.ERROR:
        why = f"falló en la época {it} de {budget}" if es else f"failed at epoch {it} of {budget}"
    elif status == Status.TIME_UP:
        why = (
            f"cortada por el presupuesto de tiempo en la época {it} de {budget}"
            if es
            else f"cut off by the sweep's time budget at epoch {it} of {budget}"
        )
    elif status == Status.INTERRUPTED:
        why = f"interrumpida en la época {it} de {budget}" if es else f"interrupted at epoch {it} of {budget}"
    elif status in (Status.RUNNING, Status.PENDING):
        why = f"aún en curso (época {it} de {budget})" if es else f"still running (epoch {it} of {budget})"
    else:
        return None
    who, metric = base["label"], sweep.metric
    if math.isnan(base["best"]):
        return (
            f"La base {who} no terminó: {why}, y no reportó {metric}: no hay con qué comparar."
            if es
            else f"The baseline {who} did not finish: {why}, and reported no {metric}: there is nothing to compare with."
        )
    return (
        f"La base {who} no terminó: {why}, así que cada trial se compara con ella con igual entrenamiento "
        f"(el mejor {metric} de cada trial en sus primeras {it} épocas)."
        if es
        else f"The baseline {who} did not finish: {why}, so every trial is compared with it at equal training "
        f"(each trial's best {metric} within its first {it} epochs)."
    )


def _values(sweep: Sweep, metric: str, within: Optional[int]) -> pd.Series:
    """Each trial's ``metric`` at its best epoch, or at its best epoch among the first ``within``."""
    facts = sweep.facts.set_index("trial_id")
    if within is None:
        if metric == sweep.metric:
            return facts["best"].dropna()
        rows = sweep.best_rows
        return pd.to_numeric(rows[metric], errors="coerce").dropna() if metric in rows else pd.Series(dtype=float)
    out = {}
    for t in facts.index:
        pos = sweep.best_until(t, within)
        if pos is not None:
            v = _float(sweep.row(t, pos).get(metric))
            if not math.isnan(v):
                out[t] = v
    return pd.Series(out, dtype=float)


def _judge(t: str, baseline: str, values: pd.Series, boot: Optional[intervals.Intervals], mode: str):
    """("beat" | "tie" | "worse", the paired interval of t - baseline or None)."""
    if boot is not None and t in boot and baseline in boot:
        _, lo, hi = boot.difference(t, baseline)
        if beats((lo, hi), mode):
            return "beat", (lo, hi)
        if beats((-hi, -lo), mode):
            return "worse", (lo, hi)
        return "tie", (lo, hi)
    base = float(values[baseline])
    gain = (values[t] - base) * (1 if mode == "max" else -1)
    margin = MARGIN * abs(base)
    return ("beat" if gain > margin else "worse" if gain < -margin else "tie"), None


def _against_baseline(
    sweep: Sweep, baseline: str, metric: str, mode: str, es: bool, first: bool, within: Optional[int]
) -> Optional[str]:
    values = _values(sweep, metric, within)
    if baseline not in values.index or len(values) < 2:
        return None
    boot = intervals.of(sweep, metric) if within is None else None
    if boot is not None and baseline not in boot:
        boot = None
    labels = sweep.facts.set_index("trial_id")["label"]
    base = float(values[baseline])
    others = values.drop(baseline)
    verdicts = {t: _judge(t, baseline, values, boot, mode) for t in others.index}
    better = others[[verdicts[t][0] == "beat" for t in others.index]]
    pool = better if len(better) else others
    top_id = pool.idxmax() if mode == "max" else pool.idxmin()
    top = float(values[top_id])
    verdict, interval = verdicts[top_id]
    diff = top - base
    change, sign = _change(diff, es)
    iv = _interval(interval, sign, es) if interval else ""
    who, what = labels[baseline], labels[top_id]
    if es:
        rule = "más allá del ruido" if boot is not None else f"por más de un margen del {MARGIN:.0%}"
        if len(better):
            head = (
                f"{len(better)} de {len(others)} configuraciones superaron a la base {who} en {metric} {rule}"
                if first
                else f"En {metric}, {len(better)} de {len(others)} la superaron {rule}"
            )
        else:
            head = (
                f"Ninguna configuración superó a la base {who} en {metric} {rule}"
                if first
                else f"En {metric}, ninguna la superó {rule}"
            )
        if within is not None and first:
            head = f"Con igual entrenamiento ({within} épocas), {head[0].lower()}{head[1:]}"
    else:
        rule = "beyond noise" if boot is not None else f"by more than a {MARGIN:.0%} margin"
        if len(better):
            head = (
                f"{len(better)} of {len(others)} configurations beat the baseline {who} on {metric} {rule}"
                if first
                else f"On {metric}, {len(better)} of {len(others)} beat it {rule}"
            )
        else:
            head = (
                f"No configuration beat the baseline {who} on {metric} {rule}"
                if first
                else f"On {metric}, none beat it {rule}"
            )
        if within is not None and first:
            head = f"At equal training ({within} epochs), {head[0].lower()}{head[1:]}"
    rel = f"{abs(diff) / abs(base):.1%}" if base else ""
    if verdict == "beat":
        detail = "; ".join(x for x in (rel, iv) if x)
        if es:
            return f"{head}; la mejor, {what}: {fmt_metric(top)} frente a {fmt_metric(base)}, {change}" + (
                f" ({detail})." if detail else "."
            )
        return f"{head}; the best, {what}: {fmt_metric(top)} against {fmt_metric(base)}, {change}" + (
            f" ({detail})." if detail else "."
        )
    if verdict == "tie":
        if diff == 0 and not iv:
            return (
                f"{head}: la mejor de las demás, {what}, la iguala ({fmt_metric(top)})."
                if es
                else f"{head}: the best other trial, {what}, equals it ({fmt_metric(top)})."
            )
        if es:
            return (
                f"{head}: la mejor de las demás, {what}, alcanzó {fmt_metric(top)} frente a {fmt_metric(base)}, "
                f"{change}" + (f" ({iv})" if iv else "") + ": un empate."
            )
        return (
            f"{head}: the best other trial, {what}, reached {fmt_metric(top)} against {fmt_metric(base)}, "
            f"{change}" + (f" ({iv})" if iv else "") + ": a tie."
        )
    tail = f"{change}; {iv}" if iv else change
    if es:
        return f"{head}: {fmt_metric(base)}, y la mejor de las demás, {what}, alcanzó {fmt_metric(top)} ({tail})."
    return f"{head}: {fmt_metric(base)}, and the best other trial, {what}, reached {fmt_metric(top)} ({tail})."


def headline(sweep: Sweep, trial: str) -> Optional[str]:
    """The chosen trial against the baseline preset, in one line for the sweep's summary:
    both figures with their intervals, the difference in the good direction, relative, and
    the paired interval of the difference; None without a baseline that scored."""
    base = baseline_trial(sweep)
    values = sweep.facts.set_index("trial_id")["best"]
    if base is None or pd.isna(values.get(base)) or pd.isna(values.get(trial)):
        return None
    labels = sweep.facts.set_index("trial_id")["label"]
    if base == trial:
        return f"the chosen trial is the baseline {labels[base]} itself: no other config beat it"
    boot = intervals.of(sweep)
    if boot is not None and not (trial in boot and base in boot):
        boot = None

    def figure(t: str) -> str:
        if boot is None:
            return fmt_metric(values[t])
        lo, hi = boot.interval(t)
        return f"{fmt_metric(values[t])} [{fmt_metric(lo)}, {fmt_metric(hi)}]"

    diff = float(values[trial] - values[base])
    gain = diff if sweep.mode == "max" else -diff
    word = "better" if gain > 0 else "worse" if gain < 0 else "equal"
    rel = f" ({abs(diff) / abs(values[base]):.1%} {word})" if values[base] and diff else ""
    judged = _judge(trial, base, values, boot, sweep.mode)[0]
    if boot is None:
        verdict = {"beat": "better", "tie": "within", "worse": "worse"}[judged]
        verdict = (
            f"no intervals: within a {MARGIN:.0%} margin"
            if judged == "tie"
            else f"no intervals: {verdict} by more than a {MARGIN:.0%} margin"
        )
    else:
        verdict = {"beat": "beyond noise", "tie": "a tie: the interval includes zero", "worse": "worse beyond noise"}[
            judged
        ]
        _, lo, hi = boot.difference(trial, base)
        verdict = f"95% interval of chosen - baseline {fmt_metric(lo)} to {fmt_metric(hi)}, {verdict}"
    change = f"{'higher' if diff > 0 else 'lower'} by {abs(diff):.3g}" if diff else "equal"
    return (
        f"against the baseline {labels[base]}: {sweep.metric} {figure(trial)} against {figure(base)}, "
        f"{change}{rel}; {verdict}"
    )


# --- without a baseline, and ties with the best ------------------------------------------# --- without a baseline, and ties with the best ------------------------------------------


def _top(sweep: Sweep, scored: pd.DataFrame, boot: Optional[intervals.Intervals], es: bool) -> str:
    top = sweep.ranked().iloc[0]
    iv = ""
    if boot is not None and top["trial_id"] in boot:
        lo, hi = boot.interval(top["trial_id"])
        iv = (
            f" (intervalo del 95%: {fmt_metric(lo)} a {fmt_metric(hi)})"
            if es
            else f" (95% interval {fmt_metric(lo)} to {fmt_metric(hi)})"
        )
    return (
        f"El mejor trial, {top['label']}, alcanzó {sweep.metric} {fmt_metric(top['best'])}{iv}; "
        f"mediana {fmt_metric(scored['best'].median())} en {len(scored)} trials con resultado."
        if es
        else f"The best trial, {top['label']}, reached {sweep.metric} {fmt_metric(top['best'])}{iv}; "
        f"median {fmt_metric(scored['best'].median())} over {len(scored)} scored trials."
    )


def _ties(sweep: Sweep, boot: Optional[intervals.Intervals], es: bool) -> Optional[str]:
    if boot is None:
        return None
    best = str(sweep.ranked()["trial_id"].iloc[0])
    if best not in boot or sum(t in boot for t in boot.trials) < 2:
        return None
    labels = sweep.facts.set_index("trial_id")["label"]
    tied = boot.ties(best)[1:]
    if not tied:
        return (
            f"El mejor trial, {labels[best]}, supera a todos los demás en {sweep.metric} más allá del ruido."
            if es
            else f"The best trial, {labels[best]}, is ahead of every other trial on {sweep.metric} beyond noise."
        )
    names = ", ".join(labels[t] for t in tied)
    return (
        f"{len(tied)} trial(s) más empatan estadísticamente con el mejor, {labels[best]}, en {sweep.metric} "
        f"(el intervalo pareado del 95% de la diferencia incluye el cero): {names}."
        if es
        else f"{len(tied)} other trial(s) are statistically tied with the best, {labels[best]}, on {sweep.metric} "
        f"(the 95% paired interval of the difference includes zero): {names}."
    )


# --- wording -----------------------------------------------------------------------------


def _change(diff: float, es: bool) -> tuple[str, int]:
    """A difference as a direction and a positive amount ("lower by 0.0002"), and the sign
    the amount was taken with (so its interval can be said the same way round)."""
    if diff == 0:
        return ("igual" if es else "equal"), 1
    if es:
        return f"{'más alta' if diff > 0 else 'más baja'} en {abs(diff):.3g}", (1 if diff > 0 else -1)
    return f"{'higher' if diff > 0 else 'lower'} by {abs(diff):.3g}", (1 if diff > 0 else -1)


def _interval(interval: tuple[float, float], sign: int, es: bool) -> str:
    lo, hi = interval if sign > 0 else (-interval[1], -interval[0])
    return (
        f"intervalo del 95%: {fmt_metric(lo)} a {fmt_metric(hi)}"
        if es
        else f"95% interval {fmt_metric(lo)} to {fmt_metric(hi)}"
    )


def _float(v) -> float:
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan


def _capacity_sentence(facts: pd.DataFrame, baseline: str, es: bool) -> Optional[str]:
    caps = facts["capacity"]
    base = caps.get(baseline)
    others = caps.drop(baseline).dropna()
    if base is None or math.isnan(base) or others.empty:
        return None
    if (others < base).all():
        return (
            "Todas las demás configuraciones son más pequeñas que la base, así que el barrido no dice nada "
            "de modelos más grandes."
            if es
            else "Every other configuration is smaller than the baseline, so the sweep says nothing about larger models."
        )
    if (others > base).all():
        return (
            "Todas las demás configuraciones son más grandes que la base."
            if es
            else "Every other configuration is larger than the baseline."
        )
    return None
