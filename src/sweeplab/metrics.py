"""Classification metrics on top of scikit-learn, as flat dicts ready to report."""
from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
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
