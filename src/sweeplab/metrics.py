"""Classification metrics on scikit-learn and sequence metrics on sacrebleu and rapidfuzz,
as flat dicts ready to report."""
from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import sacrebleu
from rapidfuzz.distance import Levenshtein
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, recall_score


def classification_metrics(
    y_true: Sequence[int] | np.ndarray,
    y_pred: Sequence[int] | np.ndarray,
    class_names: Sequence[str],
    prefix: str = "",
) -> dict[str, Any]:
    """Accuracy, macro / weighted F1, recall per class and the confusion matrix.

    Labels are class indices into ``class_names``. The F1 averages run over the classes
    that occur in ``y_true`` or ``y_pred`` (scikit-learn's own choice): a class that is
    absent from both has no F1 to average, and scoring it 0 would punish a small
    validation split for lacking a rare class. A class absent from ``y_true`` gets recall 0.
    The confusion matrix (rows real, columns predicted, in ``class_names`` order, whether
    or not a class occurs) is a JSON string, so one trial row stays a flat set of scalars.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(class_names)))
    recalls = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    out: dict[str, Any] = {
        f"{prefix}accuracy": float(accuracy_score(y_true, y_pred)),
        f"{prefix}macro_f1": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        f"{prefix}weighted_f1": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
    }
    for name, recall in zip(class_names, recalls):
        out[f"{prefix}recall_{name}"] = float(recall)
    out[f"{prefix}confusion_matrix"] = json.dumps(matrix.tolist())
    return out


def sequence_metrics(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]], detokenize,
                     prefix: str = "") -> dict[str, float]:
    """Corpus BLEU (sacrebleu, 0-100, on detokenized text with its 13a tokenizer),
    Levenshtein distance over tokens normalised by the longer sequence, and exact match."""
    # force: word-level text is already split into tokens, which 13a leaves as they are
    bleu = sacrebleu.corpus_bleu([detokenize(h) for h in hyps], [[detokenize(r) for r in refs]], force=True)
    return {
        f"{prefix}bleu": float(bleu.score),
        f"{prefix}edit_distance": float(np.mean([Levenshtein.normalized_distance(h, r) for h, r in zip(hyps, refs)])),
        f"{prefix}exact_match": float(np.mean([tuple(h) == tuple(r) for h, r in zip(hyps, refs)])),
    }
