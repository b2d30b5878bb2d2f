"""seqclf: the MIT-BIH loader, the synthetic beats, the classification metrics, the Task."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from sweeplab import engine, registry
from sweeplab.data.ecg import (
    CLASS_NAMES,
    MITBIH_COUNTS,
    SEQ_LEN,
    load_mitbih,
    make_heartbeats,
    read_mitbih_csv,
    synthetic_splits,
)
from sweeplab.errors import UserError
from sweeplab.local_training import LocalSession
from sweeplab.metrics import classification_metrics
from sweeplab.trainables import seqclf

SHARED = Path(os.environ.get("SWEEPLAB_SHARED_DATA", Path(__file__).parents[2] / "shared" / "data"))
SAMPLE = SHARED / "ecg" / "mitbih_train_sample.csv"


@pytest.fixture
def sample() -> Path:
    if not SAMPLE.is_file():
        pytest.skip(f"no shared sample data at {SAMPLE}")
    return SAMPLE


def _rows(n: int, label: str = "0.0", cols: int = SEQ_LEN) -> list[str]:
    return [",".join(["0.5"] * cols + [label]) for _ in range(n)]


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


# ------------------------------------------------------------------ real format


def test_sample_file_loads_and_splits_stratified(sample):
    x, y = read_mitbih_csv(sample)
    assert x.shape == (500, SEQ_LEN) and x.dtype == np.float32 and y.dtype == np.int64
    assert np.bincount(y).tolist() == [100] * 5
    splits = load_mitbih(sample, seed=0)
    for name, per_class in (("train", 70), ("val", 15), ("test", 15)):
        xs, ys = splits[name]
        assert xs.shape == (5 * per_class, SEQ_LEN) and xs.dtype == np.float32
        assert np.bincount(ys, minlength=5).tolist() == [per_class] * 5
    rows = {r.tobytes() for name in splits for r in splits[name][0]}
    assert len(rows) == 500  # the three splits share no beat


def test_split_follows_the_seed(sample):
    a, b, c = (load_mitbih(sample, seed=s)["val"][0] for s in (0, 0, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_max_rows_keeps_a_stratified_subset(sample):
    x, y = read_mitbih_csv(sample, max_rows=100, seed=3)
    assert x.shape == (100, SEQ_LEN) and np.bincount(y).tolist() == [20] * 5


def test_kaggle_pair_folder(sample, tmp_path):
    lines = sample.read_text().splitlines()
    by_class = {c: [row for row in lines if float(row.rsplit(",", 1)[1]) == c] for c in range(5)}
    train = [row for c in range(5) for row in by_class[c][:80]]
    test = [row for c in range(5) for row in by_class[c][80:]]
    _write(tmp_path / "mitbih_train.csv", train)
    _write(tmp_path / "mitbih_test.csv", test)
    _write(tmp_path / "ptbdb_normal.csv", _rows(3, cols=10))  # the Kaggle folder holds other sets too
    splits = load_mitbih(tmp_path, seed=0, val_fraction=0.25)
    assert len(splits["train"][1]) == 300 and len(splits["val"][1]) == 100
    assert np.bincount(splits["val"][1]).tolist() == [20] * 5
    assert np.array_equal(splits["test"][0], read_mitbih_csv(tmp_path / "mitbih_test.csv")[0])
    assert len(load_mitbih(tmp_path, max_rows=50)["test"][1]) == 50  # max_rows caps each file


def test_folder_with_one_csv(sample, tmp_path):
    _write(tmp_path / "beats.csv", sample.read_text().splitlines())
    assert sum(len(y) for _, y in load_mitbih(tmp_path).values()) == 500


@pytest.mark.parametrize(
    "lines, words",
    [
        (_rows(4, cols=SEQ_LEN - 1), "columns"),
        (_rows(3) + [",".join(["0.5"] * (SEQ_LEN + 1) + ["1.0"])], "row 4 has 189 columns"),
        (_rows(3) + [",".join(["0.5"] * 100 + ["1.0"])], "row 4"),
        (_rows(2) + _rows(1, label="5.0"), "row 3: class index 5 is outside 0..4"),
        (_rows(2, label="-1.0"), "row 1: class index -1 is outside"),
        (_rows(2, label="2.5"), "class index 2.5"),
        (
            _rows(2) + [",".join(["0.5"] * 7 + ["abc"] + ["0.5"] * (SEQ_LEN - 8) + ["0.0"])],
            "row 3, column 8: 'abc' is not a number",
        ),
        ([], "empty"),
    ],
    ids=[
        "too-few-columns",
        "extra-column",
        "short-row",
        "label-5",
        "label-negative",
        "label-fraction",
        "non-numeric",
        "empty",
    ],
)
def test_bad_csv_names_the_file(tmp_path, lines, words):
    path = tmp_path / "beats.csv"
    path.write_text("\n".join(lines) + ("\n" if lines else ""))
    with pytest.raises(UserError) as info:
        load_mitbih(path)
    message = str(info.value)
    assert str(path) in message and words in message and "\n" not in message


def test_missing_path_and_ambiguous_folder(tmp_path):
    with pytest.raises(UserError, match="nope.csv: no such file"):
        load_mitbih(tmp_path / "nope.csv")
    _write(tmp_path / "a.csv", _rows(2))
    _write(tmp_path / "b.csv", _rows(2))
    with pytest.raises(UserError, match=f"{tmp_path}: holds 2 .csv files"):
        load_mitbih(tmp_path)


# ------------------------------------------------------------------ synthetic


def test_synthetic_is_seeded_and_imbalanced_like_mitbih():
    x, y = make_heartbeats(3000, seed=0)
    x2, y2 = make_heartbeats(3000, seed=0)
    x3, _ = make_heartbeats(3000, seed=1)
    assert np.array_equal(x, x2) and np.array_equal(y, y2) and not np.array_equal(x, x3)
    assert x.shape == (3000, SEQ_LEN) and x.dtype == np.float32 and y.dtype == np.int64
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert (x[:, -1] == 0).all()  # zero padding at the end, as in MIT-BIH
    counts = np.bincount(y, minlength=5)
    expected = 3000 * np.asarray(MITBIH_COUNTS) / sum(MITBIH_COUNTS)
    assert np.abs(counts - expected).max() <= 1
    assert counts[0] > counts[4] > counts[2] > counts[1] > counts[3] > 0  # N > Q > V > S > F


def test_synthetic_splits_hold_every_class():
    splits = synthetic_splits(300, seed=0)
    assert sum(len(y) for _, y in splits.values()) == 300
    for _, y in splits.values():
        assert set(y.tolist()) == set(range(5))


# ------------------------------------------------------------------ metrics


def test_classification_metrics_exact():
    m = classification_metrics([0, 0, 0, 1, 1, 2], [0, 0, 1, 1, 0, 2], ["a", "b", "c", "d"], prefix="val_")
    assert m["val_accuracy"] == pytest.approx(4 / 6, abs=1e-12)
    # F1 per class: a 2/3, b 1/2, c 1; d occurs nowhere and is left out of the averages
    assert m["val_macro_f1"] == pytest.approx(13 / 18, abs=1e-12)
    assert m["val_weighted_f1"] == pytest.approx((3 * 2 / 3 + 2 * 1 / 2 + 1) / 6, abs=1e-12)
    assert [m[f"val_recall_{c}"] for c in "abcd"] == pytest.approx([2 / 3, 1 / 2, 1.0, 0.0], abs=1e-12)
    assert json.loads(m["val_confusion_matrix"]) == [[2, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_a_predicted_but_absent_class_counts_against_macro_f1():
    m = classification_metrics([0, 0], [0, 1], ["a", "b"])
    assert m["macro_f1"] == pytest.approx(1 / 3, abs=1e-12)  # a: 2/3, b: 0
    assert m["recall_b"] == 0.0 and json.loads(m["confusion_matrix"]) == [[1, 1], [0, 0]]


# ------------------------------------------------------------------ task


class _Worker(engine.Session):
    def __init__(self, rank: int, world_size: int):
        self.rank, self.world_size = rank, world_size

    def report(self, metrics, checkpoint_dir):
        pass


def test_batches_are_seeded_and_sharded_evenly():
    cfg = seqclf.SeqclfConfig(synthetic_size=300, batch_size=16, seed=4)
    data = seqclf.load_data(cfg)
    n = len(data["train"][1])
    single = seqclf.SeqclfTask(cfg, data, _Worker(0, 1))
    first = [b[1] for b in single.train_batches(1)]
    assert all(np.array_equal(a, b) for a, b in zip(first, [b[1] for b in single.train_batches(1)]))
    assert not all(np.array_equal(a, b) for a, b in zip(first, [b[1] for b in single.train_batches(2)]))
    shards = [[b[0] for b in seqclf.SeqclfTask(cfg, data, _Worker(r, 3)).train_batches(1)] for r in range(3)]
    assert len({len(s) for s in shards}) == 1  # DDP needs as many steps on every worker
    seen = {row.numpy().tobytes() for s in shards for batch in s for row in batch}
    assert len(seen) == len({row.tobytes() for row in data["train"][0]})
    assert sum(len(batch) for s in shards for batch in s) >= n


@pytest.mark.parametrize(
    "overrides",
    [{}, {"cell": "lstm", "bidirectional": False, "class_weighted": True, "label_smoothing": 0.1}],
    ids=["gru", "lstm-weighted-smoothed"],
)
def test_task_trains_one_epoch(tmp_path, overrides):
    cfg = seqclf.SeqclfConfig.from_dict(
        {**registry.get("seqclf").smoke, "epochs": 1, "hidden_dim": 8, "n_layers": 1, **overrides}
    )
    data = seqclf.load_data(cfg)
    session = LocalSession(tmp_path, cpus=1, echo=lambda line: None, device="cpu")
    row = engine.fit(seqclf.SeqclfTask, cfg, data, session, engine.Monitor("val_macro_f1", "max"))
    assert 0.0 <= row["val_macro_f1"] <= 1.0 and np.isfinite(row["val_loss"])
    for split in ("val", "test"):
        matrix = np.asarray(json.loads(row[f"{split}_confusion_matrix"]))
        assert matrix.shape == (5, 5) and matrix.sum() == len(data[split][1])
    assert {f"val_recall_{c}" for c in CLASS_NAMES} <= set(row)


def test_real_data_through_load_data(sample):
    cfg = seqclf.SeqclfConfig.from_dict({"data": str(sample), "max_rows": 300})
    splits = seqclf.load_data(cfg)
    assert [len(splits[k][1]) for k in ("train", "val", "test")] == [210, 45, 45]


def test_config_rejects_bad_values():
    with pytest.raises(UserError, match="cell"):
        seqclf.SeqclfConfig.from_dict({"cell": "rnn"})
    with pytest.raises(UserError, match="label_smoothing"):
        seqclf.SeqclfConfig(label_smoothing=1.0)
