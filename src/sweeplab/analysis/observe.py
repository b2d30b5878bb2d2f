"""Observations per trial: the judgements the reports wrote by hand, as rules.

Every threshold is in :data:`THRESHOLDS`; each rule looks at one trial (its facts, its
history, its row at the best iteration) against the sweep it ran in, and says what it saw
with the numbers that made it fire, in English and Spanish."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np
import pandas as pd

from .. import schema
from ..schema import Status
from .load import Sweep


@dataclass(frozen=True)
class Thresholds:
    far_from_median: float = 0.5  # max-mode metric below half the sweep's median (min-mode: above twice it)
    loss_rise: float = 0.10  # train loss ends this share above its lowest: rising
    overfit_gap: float = 0.05  # train accuracy − val accuracy (report 001: 0.089 is "moderate")
    overfit_mse_gap: float = 0.01  # val − train MSE for regression (report 004: "gap > 0.01")
    val_loss_rise: float = 0.05  # val loss ends this share above its lowest, after that epoch
    minority_gap: float = 0.08  # accuracy − macro F1 (report 000: 0.09 weak on minorities, 0.06 not)
    imbalance: float = 2.0  # classes are imbalanced when the largest has this many times the smallest's rows
    trivial_margin: float = 0.02  # within this share of the trivial baseline: no better than it
    min_trials: int = 3  # sweep-relative rules need this many scored trials
    # A generator is mode-collapsed when the labels a classifier gives its samples have
    # less entropy than this (bits; 10 equally drawn digits: 3.32, two digits: at most 1)...
    collapse_entropy: float = 2.0
    collapse_share: float = 0.5  # ...or when one label takes more than this share of them
    collapse_classes: int = 10  # the labels class_entropy counts: its maximum is log2 of this


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Observation:
    code: str
    en: str
    es: str

    def text(self, lang: str = "en") -> str:
        return self.es if lang == "es" else self.en


def observe(sweep: Sweep, th: Thresholds = THRESHOLDS) -> dict[str, list[Observation]]:
    """Trial id -> what the rules saw, in rule order. Kept on the sweep: the tables, the
    conclusions, the suggestion and the dashboard all ask for them."""
    cache = sweep.__dict__.setdefault("_observations", {})
    if th not in cache:
        cache[th] = _observe(sweep, th)
    return cache[th]


def _observe(sweep: Sweep, th: Thresholds) -> dict[str, list[Observation]]:
    ctx = _Context(sweep, th)
    out: dict[str, list[Observation]] = {}
    for _, fact in sweep.facts.iterrows():
        trial = _Trial(sweep, fact)
        found = [o for rule in RULES if (o := rule(trial, ctx)) is not None]
        codes = {o.code for o in found}
        if codes & OUTWEIGH_MINORITY:  # a trial that learned nothing is not weak on some classes only
            found = [o for o in found if o.code != "weak_minority"]
        out[fact["trial_id"]] = found
    return out


OUTWEIGH_MINORITY = {"diverged", "trivial", "failed"}


class _Context:
    """What the rules compare a trial with: the sweep's median, best, capacities, LRs."""

    def __init__(self, sweep: Sweep, th: Thresholds):
        self.sweep, self.th, self.metric, self.mode = sweep, th, sweep.metric, sweep.mode
        facts = sweep.facts
        scored = facts["best"].dropna()
        self.enough = len(scored) >= th.min_trials
        self.median = float(scored.median()) if len(scored) else math.nan
        self.best_id = sweep.ranked()["trial_id"].iloc[0] if len(scored) else None
        caps = facts["capacity"].dropna()
        self.min_capacity = float(caps.min()) if caps.nunique() > 1 else math.nan
        lr = pd.to_numeric(sweep.trials.get(schema.config_column("lr"), pd.Series(dtype=float)), errors="coerce")
        lr = lr.dropna()
        self.lr_varies = lr.nunique() > 1
        self.lr_max, self.lr_high = (float(lr.max()), float(lr.quantile(0.75))) if len(lr) else (math.nan, math.nan)

    def worse_than_median(self, value: float) -> bool:
        return (
            self.enough
            and not math.isnan(value)
            and (value < self.median if self.mode == "max" else value > self.median)
        )

    def far_from_median(self, value: float) -> bool:
        if not self.enough or math.isnan(value) or self.median == 0:
            return False
        k = self.th.far_from_median
        return value < k * self.median if self.mode == "max" else value > self.median / k

    def lr_note(self, trial: "_Trial") -> tuple[str, str]:
        lr = trial.config.get("lr")
        if not isinstance(lr, (int, float)) or not self.lr_varies:
            return "", ""
        if lr >= self.lr_max:
            return (
                f", at the sweep's highest learning rate ({_g(lr)})",
                f", con la tasa de aprendizaje más alta del barrido ({_g(lr)})",
            )
        if lr >= self.lr_high:
            return f", at a high learning rate ({_g(lr)})", f", con una tasa de aprendizaje alta ({_g(lr)})"
        return "", ""


class _Trial:
    def __init__(self, sweep: Sweep, fact: pd.Series):
        self.sweep, self.fact = sweep, fact
        self.id = fact["trial_id"]
        self.config = sweep.config(self.id)
        self.at_best = sweep.at_best(self.id)
        self.split = schema.split_metric(sweep.metric)[0] or schema.VAL

    def curve(self, column: str) -> np.ndarray:
        return self.sweep.curve(self.id, column)

    def value(self, column: str) -> float:
        v: Any = self.at_best.get(column)
        try:
            return float(v)
        except (TypeError, ValueError):
            return math.nan

    def epoch_at(self, index: int) -> int:
        epochs = self.curve(schema.EPOCH)
        if len(epochs) > index and not math.isnan(epochs[index]):
            return int(epochs[index])
        return index + 1


# --- the rules, in the order they are listed -------------------------------------------


def failed(t: _Trial, ctx: _Context) -> Optional[Observation]:
    error = t.fact["error"]
    if t.fact["status"] != Status.ERROR or _divergence(t):
        return None
    return Observation("failed", f"failed: {error}", f"falló: {error}")


def diverged(t: _Trial, ctx: _Context) -> Optional[Observation]:
    stopped = _divergence(t)  # "loss became nan at epoch 8, step 4 (lr=0.0333)": the engine stopped it
    if not (stopped or any(_went_non_finite(t.curve(c)) for c in ("train_loss", ctx.metric))):
        return None
    en_lr, es_lr = ctx.lr_note(t)
    if stopped:
        detail = detail_es = stopped
    else:
        detail, detail_es = "the loss became NaN or infinite", "la pérdida se volvió NaN o infinita"
    return Observation("diverged", f"diverged: {detail}{en_lr}", f"divergió: {detail_es}{es_lr}")


def unstable(t: _Trial, ctx: _Context) -> Optional[Observation]:
    if t.fact["status"] == Status.ERROR:
        return None
    value = t.fact["best"]
    en_lr, es_lr = ctx.lr_note(t)
    if ctx.far_from_median(value):
        return Observation(
            "unstable",
            f"unstable training: {ctx.metric} {_m(value)} far from the sweep median {_m(ctx.median)}{en_lr}",
            f"entrenamiento inestable: {ctx.metric} {_m(value)} muy lejos de la mediana del barrido {_m(ctx.median)}{es_lr}",
        )
    loss = t.curve("train_loss")
    loss = loss[np.isfinite(loss)] if loss.dtype.kind == "f" else np.array([])
    if len(loss) >= 3 and loss[-1] > loss.min() * (1 + ctx.th.loss_rise) and loss.argmin() < len(loss) - 1:
        low = int(loss.argmin())
        return Observation(
            "unstable",
            f"unstable training: train loss rose from {_g(loss[low])} (epoch {t.epoch_at(low)}) to {_g(loss[-1])}{en_lr}",
            f"entrenamiento inestable: la pérdida de entrenamiento subió de {_g(loss[low])} (época {t.epoch_at(low)}) a {_g(loss[-1])}{es_lr}",
        )
    return None


def mode_collapse(t: _Trial, ctx: _Context) -> Optional[Observation]:
    """From the ``class_entropy`` (and, where reported, ``top_class_share``) of the trial's
    samples at its best epoch: whatever the metric, a generator that draws few classes."""
    entropy, share = t.value("class_entropy"), t.value("top_class_share")
    if math.isnan(entropy):
        return None
    dominant = not math.isnan(share) and share > ctx.th.collapse_share
    if entropy >= ctx.th.collapse_entropy and not dominant:
        return None
    top = math.log2(ctx.th.collapse_classes)
    en_share = f", one digit in {share:.0%} of the samples" if dominant else ""
    es_share = f", un dígito en el {share:.0%} de las muestras" if dominant else ""
    return Observation(
        "mode_collapse",
        f"mode collapse: class entropy {entropy:.2f} bits of {top:.2f}{en_share}; the generator draws few digits",
        f"colapso de modos: entropía de clases {entropy:.2f} bits de {top:.2f}{es_share}; el generador dibuja pocos dígitos",
    )


def overfitting(t: _Trial, ctx: _Context) -> Optional[Observation]:
    en, es = [], []
    val_loss_key = next((k for k in (f"{t.split}_loss", f"{t.split}_mse") if k in t.sweep.history.columns), None)
    if val_loss_key:
        vl = t.curve(val_loss_key)
        finite = np.isfinite(vl) if vl.dtype.kind == "f" else np.zeros(len(vl), bool)
        if finite.sum() >= 3:
            vl = np.where(finite, vl, np.inf)
            low = int(vl.argmin())
            last = vl[finite][-1]
            if low < len(vl) - 1 and last > vl[low] * (1 + ctx.th.val_loss_rise):
                e = t.epoch_at(low)
                en.append(f"val loss rising after epoch {e} ({_g(vl[low])} → {_g(last)})")
                es.append(f"la pérdida de validación sube después de la época {e} ({_g(vl[low])} → {_g(last)})")
    train_acc, val_acc = _last_finite(t.curve("train_accuracy")), _last_finite(t.curve(f"{t.split}_accuracy"))
    if not math.isnan(train_acc) and not math.isnan(val_acc) and train_acc - val_acc > ctx.th.overfit_gap:
        en.append(f"train–val accuracy gap {train_acc - val_acc:.3f}")
        es.append(f"brecha train–val de accuracy {train_acc - val_acc:.3f}")
    train_mse, val_mse = _last_finite(t.curve("train_loss")), _last_finite(t.curve(f"{t.split}_mse"))
    if (
        not math.isnan(train_mse)
        and not math.isnan(val_mse)
        and val_mse - train_mse > ctx.th.overfit_mse_gap
        and val_mse > 2 * train_mse
    ):
        en.append(f"val MSE {_g(val_mse)} against train {_g(train_mse)}")
        es.append(f"MSE de validación {_g(val_mse)} frente a {_g(train_mse)} en entrenamiento")
    if not en:
        return None
    return Observation("overfitting", "overfitting: " + ", ".join(en), "sobreajuste: " + ", ".join(es))


def underfitting(t: _Trial, ctx: _Context) -> Optional[Observation]:
    f = t.fact
    ran_all = f["status"] == Status.TERMINATED and f["iterations"] >= f["budget"] > 1 and not f["stopped_itself"]
    if not (ran_all and f["best_iteration"] == f["iterations"] and ctx.worse_than_median(f["best"])):
        return None
    return Observation(
        "underfitting",
        f"underfitting: still improving at its last epoch ({f['iterations']}) and below the sweep median; more epochs or a higher learning rate",
        f"subajuste: seguía mejorando en su última época ({f['iterations']}) y queda bajo la mediana del barrido; más épocas o una tasa de aprendizaje mayor",
    )


def weak_minority(t: _Trial, ctx: _Context) -> Optional[Observation]:
    acc, f1 = t.value(f"{t.split}_accuracy"), t.value(f"{t.split}_macro_f1")
    if math.isnan(acc) or math.isnan(f1) or acc - f1 <= ctx.th.minority_gap:
        return None
    matrix = t.at_best.get(f"{t.split}_confusion_matrix")
    if isinstance(matrix, str):  # with classes of about one size there is no minority to be weak on
        counts = np.asarray(json.loads(matrix), dtype=float).sum(axis=1)
        counts = counts[counts > 0]
        if len(counts) and counts.max() < ctx.th.imbalance * counts.min():
            return None
    return Observation(
        "weak_minority",
        f"weak on minority classes: macro F1 {f1:.3f} against accuracy {acc:.3f}",
        f"menor capacidad para clases minoritarias: macro F1 {f1:.3f} frente a accuracy {acc:.3f}",
    )


def too_small(t: _Trial, ctx: _Context) -> Optional[Observation]:
    exp = t.sweep.experiment
    if (
        exp is None
        or math.isnan(ctx.min_capacity)
        or t.fact["capacity"] != ctx.min_capacity
        or not ctx.worse_than_median(t.fact["best"])
    ):
        return None
    sizes = ", ".join(f"{k} {t.config[k]}" for k in exp.capacity if not isinstance(t.config[k], bool))
    return Observation(
        "too_small",
        f"too small: the sweep's lowest capacity ({sizes}) and {ctx.metric} below the median",
        f"arquitectura demasiado chica: la menor capacidad del barrido ({sizes}) y {ctx.metric} bajo la mediana",
    )


def stopped_improving(t: _Trial, ctx: _Context) -> Optional[Observation]:
    f = t.fact
    if not (f["scheduler_stopped"] and f["iterations"] > 1 and f["best_iteration"] == f["iterations"]):
        return None
    return Observation(
        "stopped_improving",
        f"stopped by the scheduler at epoch {f['iterations']} of {f['budget']} while still improving",
        f"detenido por el planificador en la época {f['iterations']} de {f['budget']} mientras aún mejoraba",
    )


def trivial(t: _Trial, ctx: _Context) -> Optional[Observation]:
    exp = t.sweep.experiment
    value = t.fact["best"]
    if exp is None or exp.trivial is None or math.isnan(value):
        return None
    baseline = trivial_score(exp.trivial, ctx.metric, t.at_best)
    if baseline is None:
        return None
    margin = ctx.th.trivial_margin * abs(baseline)
    if (value > baseline + margin) if ctx.mode == "max" else (value < baseline - margin):
        return None
    what_en, what_es = {
        "majority": ("always predicting the majority class", "predecir siempre la clase mayoritaria"),
        "zero": ("predicting zero", "predecir cero"),
    }[exp.trivial]
    return Observation(
        "trivial",
        f"no better than {what_en} ({ctx.metric} {_m(value)} against {_m(baseline)})",
        f"no mejora a {what_es} ({ctx.metric} {_m(value)} frente a {_m(baseline)})",
    )


def best(t: _Trial, ctx: _Context) -> Optional[Observation]:
    if t.id != ctx.best_id or ctx.sweep.facts["best"].dropna().nunique() < 2:  # a tie is no best
        return None
    return Observation("best", f"best {ctx.metric} of the sweep", f"mejor {ctx.metric} del barrido")


def measured(t: _Trial, ctx: _Context) -> Optional[Observation]:
    where = t.fact.get("measured_in")
    if not isinstance(where, str):
        return None
    return Observation(
        "measured",
        f"measured in {where} (the same config, seed and code), not trained again",
        f"medido en {where} (la misma configuración, semilla y código), sin entrenar de nuevo",
    )


RULES: tuple[Callable[[_Trial, _Context], Optional[Observation]], ...] = (
    best,
    measured,
    failed,
    diverged,
    unstable,
    mode_collapse,
    overfitting,
    underfitting,
    weak_minority,
    too_small,
    stopped_improving,
    trivial,
)


# --- helpers -----------------------------------------------------------------------------


def trivial_score(kind: str, metric: str, row: pd.Series) -> Optional[float]:
    """What the experiment's trivial predictor scores on ``metric``, from the trial's own
    evaluation: the confusion matrix gives the class shares, freq reports E[y²]."""
    split, name = schema.split_metric(metric)
    if kind == "zero" and name == "mse":
        v = row.get(f"{split}_zero_mse")
        return float(v) if isinstance(v, (int, float)) and not math.isnan(v) else None
    if kind != "majority" or not isinstance(row.get(f"{split}_confusion_matrix"), str):
        return None
    counts = np.asarray(json.loads(row[f"{split}_confusion_matrix"]), dtype=float).sum(axis=1)
    if counts.sum() == 0:
        return None
    p = counts.max() / counts.sum()
    f1_major = 2 * p / (1 + p)  # precision p, recall 1
    present = int((counts > 0).sum())  # F1 averages over the classes that occur
    return {"accuracy": p, "macro_f1": f1_major / present, "weighted_f1": p * f1_major}.get(name)


def _divergence(t: _Trial) -> Optional[str]:
    """How the engine stopped a diverged trial, from the trial's failure columns; in a store
    from before them, from its error's text ("...TrialDiverged: loss became nan at epoch 8,
    step 4 (lr=0.0333); trial stopped"). None: the engine did not stop it for diverging."""
    failure = t.fact["failure"]
    if isinstance(failure, str) and failure:  # a table row holds NaN where a trial has none
        return failure
    error = t.fact["error"]
    if isinstance(error, str) and "loss became" in error:
        return error[error.index("loss became") :].removesuffix("; trial stopped")
    return None


def _went_non_finite(values: np.ndarray) -> bool:
    """A finite value, then NaN or inf. (NaN from the start is a column the trial never reported.)"""
    if values.dtype.kind != "f" or not len(values):
        return False
    finite = np.isfinite(values)
    return bool(finite.any() and not finite[int(finite.argmax()) :].all())


def _last_finite(values: np.ndarray) -> float:
    if values.dtype.kind != "f":
        return math.nan
    finite = values[np.isfinite(values)]
    return float(finite[-1]) if len(finite) else math.nan


def _m(v: float) -> str:
    """A metric value: three decimals in [0, 1], else four significant digits."""
    return f"{v:.3f}" if abs(v) <= 1 else f"{v:.4g}"


def _g(v: float) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)
