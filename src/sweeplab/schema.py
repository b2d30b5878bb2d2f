"""Names the engine, the results store and analysis agree on (no heavy imports)."""
from __future__ import annotations

# A row of a new best epoch (by the sweep's validation metric) says so; only such rows
# carry the test split's metrics, computed on exactly those weights.
IS_BEST = "is_best"
# That row's validation predictions, as JSON text: the per-row outcomes the metric is made
# of, which analysis resamples for its intervals. One of
#   {"kind": "classes", "y_true": [...], "y_pred": [...], "n_classes": C, "majority": m}
#   {"kind": "mean", "values": [...], "trivial": [...]}   (the metric is the mean of values)
# The store keeps the latest one in the trial's row, not in the per-epoch history.
PREDICTIONS = "val_predictions"
