"""Classification metrics on scikit-learn and sequence metrics on sacrebleu and rapidfuzz,
as flat dicts ready to report."""

from __future__ import annotations

import json
from typing import Any, Literal, Optional, Sequence

import numpy as np
import sacrebleu
from rapidfuzz.distance import Levenshtein
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    recall_score,
)


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    prefix: str = "",
    *,
    scores: Optional[np.ndarray] = None,
    top_k: Sequence[int] = (),
    precision_recall: bool = False,
    per_class: Literal["columns", "json", "none"] = "columns",
    confusion: bool = True,
) -> dict[str, Any]:
    """Accuracy, macro / weighted F1, recall per class and the confusion matrix.

    Labels are class indices into ``class_names``. The F1 averages run over the classes
    that occur in ``y_true`` or ``y_pred`` (scikit-learn's own choice): a class that is
    absent from both has no F1 to average, and scoring it 0 would punish a small
    validation split for lacking a rare class. A class absent from ``y_true`` gets recall 0.
    The confusion matrix (rows real, columns predicted, in ``class_names`` order, whether
    or not a class occurs) is a JSON string, so one trial row stays a flat set of scalars.

    Options for many classes: ``scores`` (n, classes) with ``top_k`` adds
    ``top{k}_accuracy`` (the real class among the k highest scores);
    ``precision_recall`` adds macro / weighted precision and recall (same classes as F1);
    ``per_class="json"`` puts the per-class accuracy (recall) in one JSON object
    ``per_class_accuracy`` {class: accuracy, null where the class has no rows} instead
    of a column per class, and "none" leaves it out, as ``confusion=False`` does the matrix.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(class_names)))
    out: dict[str, Any] = {
        f"{prefix}accuracy": float(accuracy_score(y_true, y_pred)),
        f"{prefix}macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        f"{prefix}weighted_f1": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
    }
    if top_k:
        if scores is None:
            raise ValueError("top_k needs scores")
        scores = np.asarray(scores)
        for k in top_k:
            kth = min(k, scores.shape[1])
            best = np.argpartition(-scores, kth - 1, axis=1)[:, :kth]
            out[f"{prefix}top{k}_accuracy"] = (
                float((best == y_true[:, None]).any(axis=1).mean()) if len(y_true) else 0.0
            )
    if precision_recall:
        for average in ("macro", "weighted"):
            p, r, _, _ = precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)
            out[f"{prefix}{average}_precision"], out[f"{prefix}{average}_recall"] = float(p), float(r)
    if per_class == "columns":
        recalls = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
        for name, recall in zip(class_names, recalls):
            out[f"{prefix}recall_{name}"] = float(recall)
    elif per_class == "json":
        rows = np.bincount(y_true, minlength=len(labels))
        hits = np.bincount(y_true[y_true == y_pred], minlength=len(labels))
        out[f"{prefix}per_class_accuracy"] = json.dumps(
            {name: (float(hits[i] / rows[i]) if rows[i] else None) for i, name in enumerate(class_names)}
        )
    if confusion:
        out[f"{prefix}confusion_matrix"] = json.dumps(confusion_matrix(y_true, y_pred, labels=labels).tolist())
    return out


def class_predictions(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, majority: int) -> dict[str, Any]:
    """A validation split's predictions as the engine reports them at a new best epoch
    (``schema.PREDICTIONS``): analysis recomputes accuracy and macro F1 from resampled rows.
    ``majority``: the training split's most frequent class, the trivial predictor's answer."""
    return {
        "kind": "classes",
        "y_true": np.asarray(y_true).astype(int).tolist(),
        "y_pred": np.asarray(y_pred).astype(int).tolist(),
        "n_classes": int(n_classes),
        "majority": int(majority),
    }


def majority_class(labels: np.ndarray, n_classes: int) -> int:
    return int(np.bincount(np.asarray(labels).astype(int), minlength=n_classes).argmax()) if len(labels) else 0


def sequence_metrics(
    hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]], detokenize, prefix: str = ""
) -> dict[str, float]:
    """Corpus BLEU (sacrebleu, 0-100, on detokenized text with its 13a tokenizer),
    Levenshtein distance over tokens normalised by the longer sequence, and exact match."""
    # force: word-level text is already split into tokens, which 13a leaves as they are
    bleu = sacrebleu.corpus_bleu([detokenize(h) for h in hyps], [[detokenize(r) for r in refs]], force=True)
    return {
        f"{prefix}bleu": float(bleu.score),
        f"{prefix}edit_distance": float(np.mean([Levenshtein.normalized_distance(h, r) for h, r in zip(hyps, refs)])),
        f"{prefix}exact_match": float(np.mean([tuple(h) == tuple(r) for h, r in zip(hyps, refs)])),
    }
