"""gan (report 001, part B): the IDX and CSV readers, the synthetic glyphs, the scoring
classifier's cache, the Fréchet distance and the recognisability scores, and short GAN
runs through the engine."""

from __future__ import annotations

import dataclasses
import gzip
import json
import math
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from matplotlib import image

from conftest import shared_file
from sweeplab import engine, settings, spaces
from sweeplab.data import mnist
from sweeplab.errors import UserError
from sweeplab.local_training import LocalSession
from sweeplab.trainables import gan

# tiny everything: a few seconds a run, same code path as the report's preset
TINY = gan.GanConfig(
    epochs=2, report_every=5, synthetic_size=300, classifier_steps=20, latent_dim=16, hidden=32, batch_size=16
)
MONITOR = engine.Monitor("frechet_distance", "min")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SWEEPLAB_CACHE", str(folder))
    settings.load()
    return folder


@pytest.fixture(autouse=True)
def one_thread():
    """Two threads on two shared cores spin against each other: ten times slower here."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes, zipped: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if zipped else data)
    return path


def digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), np.arange(n, dtype=np.uint8) % 10


def idx_folder(folder: Path, n_train: int = 30, n_test: int = 0, zipped: bool = True) -> Path:
    folder.mkdir(exist_ok=True)
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        if n:
            x, y = digits(n, seed)
            gz = ".gz" if zipped else ""
            write(folder / f"{prefix}-images-idx3-ubyte{gz}", idx_bytes(x, 0x08), zipped)
            write(folder / f"{prefix}-labels-idx1-ubyte{gz}", idx_bytes(y, 0x08), zipped)
    return folder


def csv_file(path: Path, rows: list[list[float]]) -> Path:
    path.write_text("".join(",".join(f"{v:g}" for v in row) + "\n" for row in rows))
    return path


# ------------------------------------------------------------------ IDX and CSV


@pytest.mark.parametrize("zipped", [False, True])
@pytest.mark.parametrize(
    "array, code",
    [
        (np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28), 0x08),
        (np.array([[1, -2, 70000], [-300000, 5, 6]], dtype=np.int32), 0x0C),
        (np.array([-128, 0, 127], dtype=np.int8), 0x09),
        (np.array([[1.5, -2.25]], dtype=np.float64), 0x0E),
    ],
)
def test_idx_files_read_back_exactly(tmp_path, array, code, zipped):
    path = write(tmp_path / "a.idx", idx_bytes(array, code), zipped)
    got = mnist.read_idx(path)
    assert got.dtype == array.dtype and got.dtype.byteorder in "=|"
    np.testing.assert_array_equal(got, array)


def test_an_idx_folder_with_and_without_its_t10k_pair(tmp_path):
    folder = idx_folder(tmp_path / "full", n_train=30, n_test=20)
    splits = mnist.load_mnist(folder)
    for name, n, seed in (("train", 30, 0), ("test", 20, 1)):
        x, y = digits(n, seed)
        np.testing.assert_array_equal(splits[name][0], x)
        np.testing.assert_array_equal(splits[name][1], y.astype(np.int64))

    plain = idx_folder(tmp_path / "plain", n_train=50, zipped=False)
    splits = mnist.load_mnist(plain, test_fraction=0.2)
    assert len(splits["train"][1]) == 40 and np.bincount(splits["test"][1]).tolist() == [1] * 10
    assert len(mnist.load_mnist(plain, max_rows=40)["train"][1]) == 30  # 4 a class: 3 train, 1 held out

    before = mnist.identity(plain)  # the classifier cache's key: a changed file is new data
    assert mnist.identity(plain) == before
    write(plain / "train-labels-idx1-ubyte", idx_bytes(np.arange(51, dtype=np.uint8) % 10, 0x08))
    assert mnist.identity(plain) != before


MALFORMED = {
    "bad magic": (
        lambda t: write(t / "x.idx", b"\x00\x01\x08\x01" + struct.pack(">I", 1) + b"\x00"),
        "not an IDX file (magic number 0x00010801",
    ),
    "unknown type code": (
        lambda t: write(t / "x.idx", b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00"),
        "not an IDX file",
    ),
    "truncated data": (
        lambda t: write(t / "x.idx", idx_bytes(np.zeros((2, 28, 28), np.uint8), 8)[:-5]),
        "truncated: dimensions (2, 28, 28) need 1568 bytes of data, the file holds 1563",
    ),
    "truncated header": (
        lambda t: write(t / "x.idx", b"\x00\x00\x08\x03\x00\x00"),
        "truncated: the header announces 3",
    ),
    "extra bytes": (lambda t: write(t / "x.idx", idx_bytes(np.zeros(3, np.uint8), 8) + b"\x00"), "1 bytes more than"),
    "truncated gzip": (
        lambda t: write(t / "x.idx.gz", gzip.compress(idx_bytes(np.zeros(99, np.uint8), 8))[:-10]),
        "damaged or truncated gzip",
    ),
    "missing file": (lambda t: t / "nowhere.idx", "no such file"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_idx_file_is_one_line_naming_it(tmp_path, case):
    make, message = MALFORMED[case]
    path = make(tmp_path)
    with pytest.raises(UserError) as err:
        mnist.read_idx(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value) and "\n" not in str(err.value)


def _replaced(t: Path, name: str, array: np.ndarray) -> tuple[Path, Path]:
    """A good IDX folder with one file replaced: (folder to load, the file to blame)."""
    folder = idx_folder(t / "d")
    return folder, write(folder / f"{name}.gz", idx_bytes(array, 0x08), zipped=True)


def _csv(t: Path, text: str) -> tuple[Path, Path]:
    path = t / "d.csv"
    path.write_text(text)
    return path, path


def _rows(*rows: list[int]) -> str:
    return "".join(",".join(map(str, row)) + "\n" for row in rows)


def _without_labels(t: Path) -> tuple[Path, Path]:
    folder = idx_folder(t / "d")
    (folder / "train-labels-idx1-ubyte.gz").unlink()
    return folder, folder


def _half_t10k(t: Path) -> tuple[Path, Path]:
    folder = idx_folder(t / "d")
    write(folder / "t10k-images-idx3-ubyte", idx_bytes(digits(3)[0], 0x08))
    return folder, folder


DATA_CASES = {
    "label outside 0..9": (
        lambda t: _replaced(t, "train-labels-idx1-ubyte", np.full(30, 10, np.uint8)),
        "row 1: label 10 is outside 0..9",
    ),
    "images not 28 x 28": (
        lambda t: _replaced(t, "train-images-idx3-ubyte", np.zeros((30, 27, 27), np.uint8)),
        "holds uint8 of shape (30, 27, 27); expected unsigned bytes (n, 28, 28)",
    ),
    "fewer labels than images": (
        lambda t: _replaced(t, "train-labels-idx1-ubyte", np.zeros(29, np.uint8)),
        "29 labels for the 30 images",
    ),
    "no labels file": (_without_labels, "no train-labels-idx1-ubyte (or .gz) in this folder"),
    "half a t10k pair": (_half_t10k, "no t10k-labels-idx1-ubyte"),
    "missing path": (lambda t: (t / "nowhere",) * 2, "no such file or folder"),
    "csv wrong width": (lambda t: _csv(t, _rows([0] * 784)), "row 1 has 784 columns; expected 785"),
    "csv ragged": (
        lambda t: _csv(t, _rows([0] * 785, [0] * 786)),
        "row 2 has 786 columns; expected 785 (784 pixels + label)",
    ),
    "csv label 10": (lambda t: _csv(t, _rows([0] * 784 + [3], [0] * 784 + [10])), "row 2: label 10 is outside 0..9"),
    "csv pixel 256": (lambda t: _csv(t, _rows([256] + [0] * 783 + [1])), "row 1: a pixel outside the integers 0..255"),
    "csv label first": (lambda t: _csv(t, _rows(*[[9] + [0] * 784] * 120)), "all 120 rows have label 0"),
    "csv text": (lambda t: _csv(t, "a," * 784 + "1\n"), "row 1, column 1: 'a' is not a number"),
    "csv empty": (lambda t: _csv(t, ""), "the file is empty"),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_malformed_data_is_one_line_naming_the_file(tmp_path, case):
    make, message = DATA_CASES[case]
    data, culprit = make(tmp_path)
    with pytest.raises(UserError) as err:
        gan.load_data(dataclasses.replace(TINY, data=str(data)))
    text = str(err.value)
    assert text.startswith(f"{culprit}: ") and message in text and "\n" not in text


def test_the_shared_mnist_csv_sample():
    path = shared_file("mnist", "mnist_5k.csv.gz")
    x, y = mnist.read_mnist_csv(path)
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8 and np.bincount(y).tolist() == [500] * 10
    assert 20 < x.mean() < 60  # MNIST's mean ink is ~33 of 255
    splits = mnist.load_mnist(path, max_rows=500)
    assert [np.bincount(splits[s][1]).tolist() for s in ("train", "test")] == [[40] * 10, [10] * 10]


def test_debian_fashion_mnist_idx_files():
    folder = Path("/usr/share/datasets/fashion-mnist")
    if not folder.is_dir():
        pytest.skip(f"{folder} absent (Debian package dataset-fashion-mnist)")
    splits = mnist.load_mnist(folder, max_rows=1000)
    assert splits["train"][0].shape == (1000, 28, 28) and splits["test"][0].shape == (1000, 28, 28)
    assert set(np.unique(splits["train"][1])) == set(range(10))


def test_synthetic_glyphs_are_seeded_balanced_and_inked():
    x, y = mnist.make_glyphs(200, seed=3)
    again, _ = mnist.make_glyphs(200, seed=3)
    np.testing.assert_array_equal(x, again)
    assert x.shape == (200, 28, 28) and x.dtype == np.uint8 and np.bincount(y).tolist() == [20] * 10
    ink = (x > 127).mean(axis=(1, 2))
    assert ink.min() > 0.03 and ink.max() < 0.4  # strokes, neither blank nor filled
    assert x[:, 0].max() == 0 and x[:, :, 0].max() == 0  # a margin, like MNIST's 20 x 20 box


# ------------------------------------------------------------------ score and classifier


def test_recognisability_on_hand_made_probabilities():
    probs = np.zeros((4, 10))
    probs[0, :2] = 0.95, 0.05  # class 0, confident
    probs[1, :2] = 0.5, 0.5  # class 0 (first of a tie), unsure
    probs[2, 1:3] = 0.9, 0.1  # class 1, exactly at the threshold: counts
    probs[3, [0, 2]] = 0.1, 0.9  # class 2
    recognisable, entropy = gan.recognisability(probs)
    assert recognisable == 0.75
    assert entropy == pytest.approx(1.5)  # classes 0, 0, 1, 2: shares 1/2, 1/4, 1/4
    assert gan.recognisability(np.eye(10))[1] == pytest.approx(math.log2(10))
    assert gan.recognisability(np.tile(np.eye(10)[3], (5, 1))) == (1.0, 0.0)  # collapse onto one digit


def test_the_classifier_is_trained_once_then_read_from_the_cache(cache, monkeypatch):
    first = gan.load_data(TINY)
    assert [p.name.startswith("digit-classifier-") for p in (cache / "gan").iterdir()] == [True]
    assert 0 <= first["classifier"]["accuracy"] <= 1 and first["train"].dtype == np.uint8

    def no_training(*args, **kwargs):
        raise AssertionError("retrained although cached")

    monkeypatch.setattr(gan, "train_classifier", no_training)
    second = gan.load_data(TINY)
    assert second["classifier"]["accuracy"] == first["classifier"]["accuracy"]
    for k, v in first["classifier"]["state"].items():
        assert torch.equal(second["classifier"]["state"][k], v)
    with pytest.raises(AssertionError, match="retrained"):  # other settings, another classifier
        gan.load_data(dataclasses.replace(TINY, classifier_steps=21))


def test_recognisable_capped_counts_each_digit_up_to_its_share():
    share = np.full(10, 0.1)
    one_digit = np.tile(np.eye(10)[0], (100, 1))  # 100 confident zeros
    scores = gan.digit_scores(one_digit, share)
    assert scores == {
        "recognisable": 1.0,
        "recognisable_capped": pytest.approx(0.1),
        "class_entropy": 0.0,
        "top_class_share": 1.0,
    }
    every_digit = np.tile(np.eye(10), (10, 1))
    assert gan.digit_scores(every_digit, share)["recognisable_capped"] == pytest.approx(1.0)
    unsure = every_digit * 0.5 + 0.05  # top probability 0.55: labelled, not recognisable
    assert gan.digit_scores(unsure, share)["recognisable_capped"] == 0.0
    skewed = np.array([0.3] + [0.7 / 9] * 9)  # real shares count: 30 zeros may all count here
    assert gan.digit_scores(np.tile(np.eye(10)[0], (100, 1)), skewed)["recognisable_capped"] == pytest.approx(0.3)


def test_frechet_distance_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    a = gan.feature_stats(rng.normal(size=(400, 16)))
    b = gan.feature_stats(rng.normal(size=(300, 16)) @ rng.normal(size=(16, 16)) * 0.3 + 1.0)
    (mu_a, cov_a), (mu_b, cov_b) = a, b
    from scipy import linalg  # the usual computation, for a well-conditioned pair

    root = linalg.sqrtm(cov_a @ cov_b).real
    expected = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root)
    assert gan.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert gan.frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)
    assert gan.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    # a collapsed batch: zero covariance (rank 0), still a finite, exact distance
    point = gan.feature_stats(np.tile(rng.normal(size=16), (50, 1)))
    assert gan.frechet_distance(point, b) == pytest.approx(((point[0] - mu_b) ** 2).sum() + np.trace(cov_b), rel=1e-9)
    assert math.isnan(gan.frechet_distance((np.full(16, np.nan), cov_a), b))


def test_frechet_distance_on_the_classifier_features_punishes_collapse():
    """Real digits stand in for generators: all classes (diverse), one class (collapsed
    onto a digit), one image repeated (collapsed onto a sample)."""
    data = gan.load_data(TINY)
    splits = mnist.synthetic_splits(TINY.synthetic_size, TINY.data_seed, TINY.test_fraction)
    classifier = gan.load_classifier(data["classifier"]["state"])
    x, y = splits["train"]
    reference = data["reference"]

    def distance(images):
        return gan.frechet_distance(gan.feature_stats(gan._features(classifier, gan.scaled(images))), reference)

    held_out = splits["test"][0]
    assert distance(held_out) == pytest.approx(0.0, abs=1e-6 * np.trace(reference[1]))  # the same set
    diverse, one_class, identical = distance(x), distance(x[y == 3]), distance(np.repeat(x[:1], 64, axis=0))
    assert diverse < one_class < identical
    assert identical > np.trace(reference[1])  # no spread at all: at least the real digits' whole variance
    assert diverse == pytest.approx(data["real_frechet_distance"])  # the floor: training digits (all < 1,000 here)
    assert data["class_share"].tolist() == pytest.approx([0.1] * 10)


def test_too_few_held_out_digits_for_a_covariance(monkeypatch):
    splits = mnist.synthetic_splits(TINY.synthetic_size, 0, TINY.test_fraction)
    splits["test"] = (splits["test"][0][:1], splits["test"][1][:1])
    monkeypatch.setattr(mnist, "synthetic_splits", lambda *args: splits)
    with pytest.raises(UserError, match="gan: 1 held-out digit; the Fréchet distance needs a covariance of at least 2"):
        gan.load_data(TINY)


# ------------------------------------------------------------------ the GAN through the engine


class NoArtifacts(LocalSession):
    def artifact_dir(self):
        return None


def run(cfg, out, resume=False, session_cls=LocalSession):
    session = session_cls(out, cpus=1, resume=resume, echo=lambda _: None)
    tasks = []

    def factory(*args):
        tasks.append(gan.GanTask(*args))
        return tasks[-1]

    last = engine.fit(factory, cfg, gan.load_data(cfg), session, MONITOR)
    return last, session.history, tasks[0]


def test_a_short_run_reports_scores_and_losses_and_writes_sample_grids(tmp_path):
    best, history, _ = run(TINY, tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["samples_iter_00005.png", "samples_iter_00010.png"]
    assert [r["iteration"] for r in history] == [5, 10]
    assert history[-1]["sample_grid"] == str(tmp_path / "samples_iter_00010.png")
    assert image.imread(history[-1]["sample_grid"]).shape[:2] == (480, 480)  # 8 x 8 tiles of 28 + 2, twice
    # fit returns the best epoch's row: the lowest distance, with the test noise's scores
    assert best["frechet_distance"] == min(r["frechet_distance"] for r in history)
    for key in ("frechet_distance", "recognisable", "recognisable_capped", "class_entropy", "top_class_share"):
        assert math.isfinite(best[f"test_{key}"]), key
    assert best["test_frechet_distance"] > 0
    for row in history:
        assert row["frechet_distance"] > row["real_frechet_distance"] > 0  # 10 iterations are no digits yet
        assert 0 <= row["recognisable_capped"] <= row["recognisable"] <= 1
        assert 0 <= row["class_entropy"] <= math.log2(10) + 1e-9 and 0.1 <= row["top_class_share"] <= 1
        assert 0 <= row["d_accuracy_real"] <= 1 and 0 <= row["d_accuracy_fake"] <= 1
        assert math.isfinite(row["train_d_loss"]) and math.isfinite(row["train_g_loss"])
        assert row["lr_g"] == row["lr_d"] == pytest.approx(2e-4)
        assert 0 <= row["classifier_accuracy"] <= 1 and 0 <= row["real_recognisable"] <= 1
    assert (
        json.loads((tmp_path / "history.jsonl").read_text().splitlines()[-1])["sample_grid"]
        == history[-1]["sample_grid"]
    )


def test_no_artifact_folder_means_no_grid(tmp_path):
    last, _, _ = run(dataclasses.replace(TINY, epochs=1), tmp_path, session_cls=NoArtifacts)
    assert "sample_grid" not in last and not list(tmp_path.glob("*.png"))


def test_a_resumed_run_matches_an_unbroken_one_and_takes_new_betas(tmp_path):
    full, _, _ = run(TINY, tmp_path / "full")
    run(dataclasses.replace(TINY, epochs=1), tmp_path / "broken")
    shutil.copytree(tmp_path / "broken", tmp_path / "pbt")
    resumed, history, _ = run(TINY, tmp_path / "broken", resume=True)
    assert [r["epoch"] for r in history] == [2] and (tmp_path / "broken" / "samples_iter_00010.png").exists()
    for key in (
        "train_d_loss",
        "train_g_loss",
        "frechet_distance",
        "recognisable",
        "class_entropy",
        "test_frechet_distance",
        "test_recognisable",
    ):
        assert resumed[key] == pytest.approx(full[key], rel=1e-5), key
    # PBT: the donor's checkpoint, the receiver's beta1 (the engine keeps this config's
    # optimizer settings over the checkpoint's)
    built = []
    original = gan.GanTask.configure_optimizers
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(
            gan.GanTask, "configure_optimizers", lambda self, model: built.append(original(self, model)) or built[-1]
        )
        run(dataclasses.replace(TINY, beta1=0.9), tmp_path / "pbt", resume=True)
    assert [g["betas"] for o in built[0].values() for g in o.param_groups] == [(0.9, 0.999)] * 2


def test_config_checks_and_hot_fields():
    assert set(gan.GanConfig.HOT_FIELDS) == {
        "lr_g",
        "lr_d",
        "beta1",
        "beta2",
        "label_smoothing",
        "d_steps",
        "batch_size",
    }
    with pytest.raises(UserError, match="GanConfig: key 'label_smoothing' must be in \\[0, 1\\), got 1.0"):
        gan.GanConfig(label_smoothing=1.0)
    with pytest.raises(UserError, match="GanConfig: unknown key\\(s\\) 'd_step'"):
        gan.GanConfig.from_dict({"d_step": 2})
    with pytest.raises(UserError, match="key 'report_every' must be >= 1"):
        gan.GanConfig(report_every=0)


def test_more_than_one_worker_is_refused(tmp_path):
    session = LocalSession(tmp_path, echo=lambda _: None)
    session.world_size = 2
    with pytest.raises(UserError, match="gan: runs on one worker"):
        gan.GanTask(TINY, gan.load_data(TINY), session)


def test_the_space_file_and_its_report_preset():
    spec = spaces.load(spaces.SPACES_DIR / "gan.yaml", gan.GanConfig, "gan")
    report = gan.GanConfig.from_dict(spec.preset_configs()["report"])
    assert report.epochs * report.report_every == 3000 and report.report_every == 500
    assert (
        report.latent_dim,
        report.hidden,
        report.lr_g,
        report.lr_d,
        report.beta1,
        report.batch_size,
        report.d_steps,
        report.label_smoothing,
    ) == (100, 256, 2e-4, 2e-4, 0.5, 64, 1, 0.0)
    assert (spec.metric, spec.mode) == ("frechet_distance", "min")
    assert spec.scheduler == {"name": "promotion", "grace_period": 2, "reduction_factor": 3}
