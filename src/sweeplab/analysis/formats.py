"""How analysis prints: the tables' words in English and Spanish, and numbers."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

LANGS = ("en", "es")
# (English, Spanish) for every header a table prints; config keys not listed print as is,
# as the reports print hidden_dim and n_layers.
WORDS: dict[str, tuple[str, str]] = {
    "model": ("Model", "Modelo"),
    "observations": ("Observations", "Observaciones"),
    "bidirectional": ("Bidirectional", "Bidireccional"),
    "lr": ("LR", "LR"),
    "lr_g": ("LR (G)", "LR (G)"),
    "lr_d": ("LR (D)", "LR (D)"),
    "epochs": ("Epochs", "Épocas"),
    "epoch": ("Epoch", "Época"),
    "accuracy": ("Accuracy", "Accuracy"),
    "macro_f1": ("Macro F1", "Macro F1"),
    "weighted_f1": ("Weighted F1", "Weighted F1"),
    "loss": ("Loss", "Loss"),
    "loss_g": ("Loss (G)", "Loss (G)"),
    "loss_d": ("Loss (D)", "Loss (D)"),
    "mse": ("MSE", "MSE"),
    "bleu": ("BLEU", "BLEU"),
    "perplexity": ("Perplexity", "Perplejidad"),
    "edit_distance": ("Edit distance", "Distancia de edición"),
    "exact_match": ("Exact match", "Coincidencia exacta"),
    "recognisable": ("Recognisable", "Reconocibles"),
    "frechet_distance": ("Fréchet distance", "Distancia de Fréchet"),
    "class_entropy": ("Class entropy", "Entropía de clases"),
    "real": ("Real", "Real"),
    "predicted": ("Predicted", "Predicho"),
    "experiment": ("Experiment", "Experimento"),
    "scheduler": ("Scheduler", "Planificador"),
    "searcher": ("Searcher", "Buscador"),
    "best": ("Best", "Mejor"),
    "mean_std": ("Mean ± std", "Media ± desv."),
    "trials": ("Trials", "Trials"),
    "stopped_early": ("Stopped or paused early", "Detenidos o en pausa antes"),
    "setting": ("Setting", "Ajustes"),
    "trial_hours": ("Trial-hours", "Horas-trial"),
    "sweep": ("Sweep", "Barrido"),
    "full_budget_hours": ("Full budget (h)", "Presupuesto completo (h)"),
    "saved": ("Saved", "Ahorro"),
    "yes": ("Yes", "Sí"),
    "no": ("No", "No"),
    "train": ("train", "train"),
    "val": ("val", "val"),
    "test": ("test", "test"),
}


def word(key: str, lang: str) -> str:
    en, es = WORDS.get(key, (key, key))
    return es if lang == "es" else en


def fmt(value: Any, lang: str = "en", digits: int = 4) -> str:
    """Booleans as Yes/No (Sí/No), integers as they are, floats to ``digits`` significant
    digits (metrics in [0, 1] to three decimals), missing as "-"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return word("yes" if value else "no", lang)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if float(value).is_integer() and abs(value) >= 1:
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


def fmt_metric(value: Any) -> str:
    """Three decimals in [0.01, 1] (accuracies, F1), three significant digits below (small
    MSEs and differences), four above."""
    if isinstance(value, (float, np.floating, int, np.integer)) and not isinstance(value, bool):
        v = float(value)
        if math.isnan(v):
            return "-"
        if v != 0 and abs(v) < 0.01:
            return f"{v:.3g}"
        return f"{v:.3f}" if abs(v) <= 1 else f"{v:.4g}"
    return fmt(value)
