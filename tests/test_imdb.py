"""imdb: the tokenizer, the aclImdb / CSV loaders and their errors, the token cache, the
variational LSTM, and one epoch of the Task through the engine."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import shared_file
from sweeplab import engine, settings
from sweeplab.data import text
from sweeplab.data.text import load_imdb, pad_sequences, rank_vocabulary, read_imdb_csv, tokenize
from sweeplab.errors import UserError
from sweeplab.local_training import LocalSession
from sweeplab.models.text import SentimentLSTM
from sweeplab.trainables import imdb

OPTS = {"vocab_size": 100, "maxlen": 6}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SWEEPLAB_CACHE", str(tmp_path / "cache"))
    settings.load()
    return tmp_path / "cache" / "imdb"


def aclimdb(root: Path, train: int = 5, test: int = 2) -> Path:
    """A tiny aclImdb tree: every positive train review alike, every negative one alike."""
    reviews = {"pos": "Great, great film!<br />", "neg": "Awful film."}
    for split, n in (("train", train), ("test", test)):
        for label, body in reviews.items():
            folder = root / split / label
            folder.mkdir(parents=True)
            for i in range(n):
                (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(
                    body if split == "train" else "Zebra film!"
                )
    (root / "train" / "unsup").mkdir()
    (root / "train" / "unsup" / "0_0.txt").write_text("ignored entirely")
    return root


# ------------------------------------------------------------------ tokenizer


def test_tokenize_lowercases_splits_punctuation_and_drops_markup():
    assert tokenize("Great movie!<br /><br />It's NOT bad, 10/10... <i>Really</i>") == [
        "great",
        "movie",
        "!",
        "it's",
        "not",
        "bad",
        ",",
        "10",
        "/",
        "10",
        ".",
        ".",
        ".",
        "really",
    ]
    assert tokenize("end.<BR/>Start &amp; stop") == ["end", ".", "start", "&", "stop"]


def test_vocabulary_ranks_by_count_then_alphabet():
    assert rank_vocabulary([["b", "a", "c"], ["c", "b", "d"], ["c"]]) == ["c", "b", "a", "d"]


@pytest.mark.parametrize(
    "padding, truncating, expected",
    [
        ("pre", "pre", [[0, 0, 5, 6], [3, 4, 5, 6]]),
        ("post", "pre", [[5, 6, 0, 0], [3, 4, 5, 6]]),
        ("pre", "post", [[0, 0, 5, 6], [1, 2, 3, 4]]),
        ("post", "post", [[5, 6, 0, 0], [1, 2, 3, 4]]),
    ],
)
def test_pad_sequences_sides(padding, truncating, expected):
    seqs = [np.array([5, 6]), np.array([1, 2, 3, 4, 5, 6])]
    assert pad_sequences(seqs, 4, padding, truncating).tolist() == expected
    assert pad_sequences([np.zeros(0, np.int32)], 3).tolist() == [[0, 0, 0]]


# ------------------------------------------------------------------ aclImdb


def test_aclimdb_splits_and_encodes_with_the_training_vocabulary(tmp_path):
    splits = load_imdb(aclimdb(tmp_path / "aclImdb"), **OPTS)
    (x, y), (xv, yv), (xt, yt) = (splits[s] for s in ("train", "val", "test"))
    assert (len(y), len(yv), len(yt)) == (8, 2, 4)
    assert np.bincount(y).tolist() == [4, 4] and np.bincount(yv).tolist() == [1, 1]
    # train counts: film 8, great 8, then "!" "," "." awful 4 each -> ids 2..7 in that order
    pos, neg = [0, 3, 5, 3, 2, 4], [0, 0, 0, 7, 2, 6]
    assert all(row == (pos if label else neg) for row, label in zip(x.tolist(), y))
    assert xt.tolist() == [[0, 0, 0, 1, 2, 4]] * 4  # "zebra" is not in train: <unk>
    assert x.dtype == np.int32 and y.dtype == np.int64
    small = load_imdb(tmp_path / "aclImdb", vocab_size=4, maxlen=6)["train"]
    assert sorted(map(tuple, small[0].tolist())) == sorted([(0, 3, 1, 3, 2, 1)] * 4 + [(0, 0, 0, 1, 2, 1)] * 4)
    post = load_imdb(tmp_path / "aclImdb", vocab_size=100, maxlen=2, padding="post", truncating="post")["test"]
    assert post[0].tolist() == [[1, 2]] * 4


def test_aclimdb_max_rows_caps_each_folder(tmp_path):
    splits = load_imdb(aclimdb(tmp_path / "a", train=10, test=10), **OPTS, max_rows=10)
    assert sum(len(splits[s][1]) for s in ("train", "val")) == 10 and len(splits["test"][1]) == 10


# ------------------------------------------------------------------ CSV sample


def test_csv_sample_validation_rows_and_held_out_test():
    sample = shared_file("imdb", "imdb_sample_texts.csv")
    texts, labels, valid = read_imdb_csv(sample)
    assert len(texts) == 1000 and valid.sum() == 200 and np.bincount(labels).tolist() == [524, 476]
    splits = load_imdb(sample, vocab_size=10000, maxlen=200, seed=0)
    assert [len(splits[s][1]) for s in ("train", "val", "test")] == [640, 200, 160]
    assert np.bincount(splits["val"][1]).tolist() == np.bincount(labels[valid]).tolist()
    assert np.bincount(splits["test"][1]).tolist() == [83, 77]  # 20% of 417 / 383, stratified
    assert splits["train"][0].shape == (640, 200) and splits["train"][0].max() < 10000
    other = load_imdb(sample, vocab_size=10000, maxlen=200, seed=1)
    lengths = {s: [(d[s][0] > 0).sum(axis=1) for d in (splits, other)] for s in ("val", "test")}  # vocabulary-free
    assert np.array_equal(*lengths["val"]) and not np.array_equal(*lengths["test"])  # the seed moves test rows only


# ------------------------------------------------------------------ bad input


CSV_CASES = {
    "no-column": (
        "label,review,is_valid\nnegative,bad,False\n",
        "no column text; expected a header label,text,is_valid",
    ),
    "unknown-label": (
        "label,text,is_valid\nnegative,a,False\nneutral,b,True\n",
        "row 2: label 'neutral' is not one of negative, positive",
    ),
    "bad-flag": ("label,text,is_valid\npositive,a,maybe\n", "row 1: is_valid 'maybe' is not one of True, False"),
    "header-only": ("label,text,is_valid\n", "holds a header but no reviews"),
    "empty": ("", "the file is empty"),
}


@pytest.mark.parametrize("body, words", CSV_CASES.values(), ids=CSV_CASES.keys())
def test_bad_csv_names_the_file(tmp_path, body, words):
    path = tmp_path / "reviews.csv"
    path.write_text(body)
    with pytest.raises(UserError) as info:
        load_imdb(path, **OPTS)
    assert str(path) in str(info.value) and words in str(info.value) and "\n" not in str(info.value)


def test_bad_folders_name_the_culprit(tmp_path):
    with pytest.raises(UserError, match="nope: no such file or folder"):
        load_imdb(tmp_path / "nope", **OPTS)
    root = aclimdb(tmp_path / "a")
    for review in (root / "test" / "pos").iterdir():
        review.unlink()
    with pytest.raises(UserError, match=f"{root / 'test' / 'pos'}: holds no .txt reviews"):
        load_imdb(root, **OPTS)
    (root / "test" / "pos").rmdir()
    with pytest.raises(UserError, match=f"{root / 'test' / 'pos'}: no such folder"):
        load_imdb(root, **OPTS)
    root = aclimdb(tmp_path / "b")
    (root / "train" / "neg" / "0_2.txt").write_bytes(b"caf\xe9")
    with pytest.raises(UserError, match="0_2.txt: not UTF-8 text"):
        load_imdb(root, **OPTS)


# ------------------------------------------------------------------ cache


def test_second_load_reads_the_cache_and_other_splits_get_their_own_entry(tmp_path, cache, monkeypatch):
    root = aclimdb(tmp_path / "a")
    first = load_imdb(root, **OPTS)
    assert len(list(cache.glob("*.npz"))) == 1 and not list(cache.glob("*.tmp"))

    def no_tokenizing(_):
        raise AssertionError("tokenized again")

    real = text.tokenize
    monkeypatch.setattr(text, "tokenize", no_tokenizing)
    again = load_imdb(root, **OPTS)
    assert all(np.array_equal(first[s][0], again[s][0]) for s in first)
    load_imdb(root, vocab_size=5, maxlen=3, padding="post")  # vocabulary / length options re-cut one entry
    with pytest.raises(AssertionError, match="tokenized again"):
        load_imdb(root, **OPTS, seed=1)  # another split: another training vocabulary
    monkeypatch.setattr(text, "tokenize", real)
    load_imdb(root, **OPTS, seed=1)
    (root / "test" / "pos" / "0_8.txt").write_text("Changed review, longer than before")
    load_imdb(root, **OPTS)  # size / mtime are in the key
    assert len(list(cache.glob("*.npz"))) == 3


# ------------------------------------------------------------------ model


def test_recurrent_dropout_drops_between_steps_in_training_only():
    tokens = torch.randint(2, 50, (4, 12))
    for recurrent, differs in ((0.5, True), (0.0, False)):
        torch.manual_seed(0)
        model = SentimentLSTM(50, 8, 6, dropout=0.0, recurrent_dropout=recurrent).train()
        assert (not torch.equal(model(tokens), model(tokens))) is differs
        model.eval()
        assert torch.equal(model(tokens), model(tokens))


def test_padding_is_masked_out_of_the_recurrence():
    torch.manual_seed(0)
    model = SentimentLSTM(50, 8, 6, bidirectional=True).eval()
    seqs = [np.array([5, 9, 7]), np.array([3, 4, 5, 6, 7])]
    pre, post = (torch.from_numpy(pad_sequences(seqs, 8, side, "pre")) for side in ("pre", "post"))
    assert torch.allclose(model(pre), model(post), atol=1e-6)


# ------------------------------------------------------------------ task


@pytest.mark.parametrize("overrides", [{}, {"bidirectional": True, "padding": "post"}], ids=["lstm", "bilstm-post"])
def test_task_trains_one_epoch(tmp_path, overrides):
    cfg = imdb.ImdbConfig.from_dict(
        {
            "epochs": 1,
            "synthetic_size": 200,
            "maxlen": 40,
            "units": 8,
            "embedding_dim": 8,
            "batch_size": 32,
            **overrides,
        }
    )
    data = imdb.load_data(cfg)
    session = LocalSession(tmp_path / "run", cpus=1, echo=lambda line: None, device="cpu")
    row = engine.fit(imdb.ImdbTask, cfg, data, session, engine.Monitor("val_accuracy", "max"))
    assert 0.0 <= row["val_accuracy"] <= 1.0 and 0.0 <= row["train_accuracy"] <= 1.0
    assert np.isfinite(row["val_loss"]) and 0.0 <= row["test_accuracy"] <= 1.0
    for split in ("val", "test"):
        matrix = np.asarray(json.loads(row[f"{split}_confusion_matrix"]))
        assert matrix.shape == (2, 2) and matrix.sum() == len(data[split][1])


def test_l2_reaches_the_weight_matrices_only(tmp_path):
    cfg = imdb.ImdbConfig(l2=1e-4, vocab_size=20, embedding_dim=4, units=3)
    task = imdb.ImdbTask(cfg, {}, LocalSession(tmp_path, device="cpu"))
    model = task.build_model()
    decayed, rest = task.param_groups(model)
    assert decayed["weight_decay"] == pytest.approx(2e-4) and "weight_decay" not in rest
    assert {p.shape for p in decayed["params"]} == {(12, 4), (12, 3), (1, 3)}
    assert model.embedding.weight in rest["params"] and len(rest["params"]) == 3  # embedding, LSTM bias, head bias


def test_config_rejects_bad_values():
    with pytest.raises(UserError, match="recurrent_dropout"):
        imdb.ImdbConfig(recurrent_dropout=1.0)
    with pytest.raises(UserError, match="padding"):
        imdb.ImdbConfig.from_dict({"padding": "left"})
    with pytest.raises(UserError, match="vocab_size"):
        imdb.ImdbConfig(vocab_size=2)
