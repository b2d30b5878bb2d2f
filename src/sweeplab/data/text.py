"""Movie reviews for sentiment (report 001): the aclImdb folders, fastai's CSV sample and
a seeded synthetic stand-in; a Keras-like tokenizer; an on-disk cache of the tokens.

``load_imdb`` returns ``{"train" | "val" | "test": (X int32 (n, maxlen), y int64 (n,))}``
with 0 = padding, 1 = <unk>, 2.. = words by falling frequency in the training split.

The cache holds each review as ids into the full frequency-ranked vocabulary of the
training split. Cutting that to ``vocab_size`` words and padding to ``maxlen`` take
milliseconds on load, so one entry (keyed by the files, their sizes and mtimes, the
split options and ``FORMAT_VERSION``) serves every vocab_size / maxlen / padding a sweep
tries, and the texts are tokenized once per corpus, not once per trial or per option.
"""

from __future__ import annotations

import html
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Literal, Optional, Sequence, Union

import numpy as np
import pandas as pd

from ..errors import UserError
from ..progress import Ticker
from .cache import cached_arrays, file_stamps
from .splits import stratified_split, stratified_subset
from .tables import non_utf8_line

CLASS_NAMES = ("neg", "pos")
PAD, UNK = 0, 1
SPLITS = ("train", "val", "test")
FORMAT_VERSION = 1  # bump when tokenize, the synthetic generator or the cache layout changes
CSV_COLUMNS = ("label", "text", "is_valid")
_CSV_LABELS = {"negative": 0, "positive": 1, "neg": 0, "pos": 1}
_CSV_FLAGS = {"true": True, "false": False, "1": True, "0": False}

Side = Literal["pre", "post"]
Splits = dict[str, tuple[np.ndarray, np.ndarray]]
Texts = dict[str, tuple[list[str], np.ndarray]]

log = logging.getLogger(__name__)

# ------------------------------------------------------------------ tokenizer

_TAG = re.compile(r"</?[a-zA-Z][^<>]*>")  # aclImdb's <br /> (and the odd <i>) are markup, not words
# A word (letters / digits, inner apostrophes kept: "don't") or one punctuation mark.
_TOKEN = re.compile(r"[^\W_]+(?:'[^\W_]+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lower-cased words and punctuation marks, each mark a token of its own."""
    return _TOKEN.findall(html.unescape(_TAG.sub(" ", text)).lower())


def rank_vocabulary(token_lists: Iterable[Sequence[str]]) -> list[str]:
    """Every word, most frequent first; ties alphabetical so the ranking depends on counts only."""
    counts: Counter = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    return sorted(counts, key=lambda w: (-counts[w], w))


def pad_sequences(
    seqs: Sequence[np.ndarray], maxlen: int, padding: Side = "pre", truncating: Side = "pre"
) -> np.ndarray:
    """Keras' pad_sequences: 'pre' truncation keeps a review's end, 'pre' padding puts zeros first."""
    out = np.full((len(seqs), maxlen), PAD, dtype=np.int32)
    for row, seq in enumerate(seqs):
        seq = seq[-maxlen:] if truncating == "pre" else seq[:maxlen]
        if not len(seq):
            continue
        if padding == "pre":
            out[row, maxlen - len(seq) :] = seq
        else:
            out[row, : len(seq)] = seq
    return out


def _encode_corpus(texts: Texts) -> dict[str, np.ndarray]:
    """Token ids of every split (flat, with lengths) against the training split's ranking."""
    tick, done = Ticker("tokenising reviews:", sum(len(texts[s][0]) for s in SPLITS)), 0
    tokens: dict[str, list[list[str]]] = {}
    for s in SPLITS:
        tokens[s] = []
        for text in texts[s][0]:
            tokens[s].append(tokenize(text))
            done += 1
            tick(done)
    words = rank_vocabulary(tokens["train"])
    index = {w: i + 2 for i, w in enumerate(words)}
    arrays: dict[str, np.ndarray] = {}
    for s in SPLITS:
        lengths = np.asarray([len(t) for t in tokens[s]], dtype=np.int64)
        flat = (index.get(w, UNK) for review in tokens[s] for w in review)  # unseen in train: <unk>
        arrays[f"{s}_ids"] = np.fromiter(flat, dtype=np.int32, count=int(lengths.sum()))
        arrays[f"{s}_lengths"] = lengths
        arrays[f"{s}_labels"] = np.asarray(texts[s][1], dtype=np.int64)
    return arrays


def _to_splits(corpus: dict[str, np.ndarray], vocab_size: int, maxlen: int, padding: Side, truncating: Side) -> Splits:
    out = {}
    for s in SPLITS:
        ids = corpus[f"{s}_ids"]
        ids = np.where(ids < vocab_size, ids, UNK).astype(np.int32, copy=False)
        lengths = corpus[f"{s}_lengths"]
        seqs = np.split(ids, np.cumsum(lengths)[:-1]) if len(lengths) else []
        out[s] = (pad_sequences(seqs, maxlen, padding, truncating), corpus[f"{s}_labels"])
    return out


# ------------------------------------------------------------------ cache


# ------------------------------------------------------------------ aclImdb folders


def list_aclimdb(root: Path) -> dict[str, tuple[list[Path], np.ndarray]]:
    """``{"train" | "test": (review files, labels)}`` of an aclImdb root (train/unsup is ignored)."""
    out = {}
    for split in ("train", "test"):
        files, labels = [], []
        for label, name in enumerate(CLASS_NAMES):
            folder = root / split / name
            if not folder.is_dir():
                raise UserError(
                    f"{folder}: no such folder; an aclImdb root holds train/ and test/, each with neg/ and pos/"
                )
            found = sorted(p for p in folder.glob("*.txt") if p.is_file())
            if not found:
                raise UserError(f"{folder}: holds no .txt reviews")
            files += found
            labels += [label] * len(found)
        out[split] = (files, np.asarray(labels, dtype=np.int64))
    return out


def _read_review(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None


def _aclimdb_texts(listing: dict, val_fraction: float, seed: int, max_rows: int) -> Texts:
    picked = {}
    for split, (files, labels) in listing.items():
        keep = stratified_subset(labels, max_rows, seed)
        picked[split] = ([_read_review(files[i]) for i in keep], labels[keep])
    texts, labels = picked["train"]
    train, val = stratified_split(labels, (1 - val_fraction, val_fraction), seed)
    return {
        "train": ([texts[i] for i in train], labels[train]),
        "val": ([texts[i] for i in val], labels[val]),
        "test": picked["test"],
    }


# ------------------------------------------------------------------ CSV


def read_imdb_csv(path: Union[str, Path]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """A CSV with header ``label,text,is_valid`` (fastai's IMDB_SAMPLE): texts, labels, is_valid."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise UserError(f"{path}: the file is empty") from None
    except UnicodeDecodeError:
        raise UserError(
            f"{path}: {non_utf8_line(path)}; expected UTF-8 text with a header {','.join(CSV_COLUMNS)}"
        ) from None
    except pd.errors.ParserError as e:
        raise UserError(f"{path}: not a readable CSV ({str(e).strip().splitlines()[0]})") from None
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise UserError(f"{path}: no column {', '.join(missing)}; expected a header {','.join(CSV_COLUMNS)}")
    if frame.empty:
        raise UserError(f"{path}: holds a header but no reviews")
    labels = _column(frame["label"], _CSV_LABELS, path, "label", "negative, positive")
    valid = _column(frame["is_valid"], _CSV_FLAGS, path, "is_valid", "True, False")
    absent = [name for label, name in enumerate(("negative", "positive")) if not (labels == label).any()]
    if absent:
        raise UserError(f"{path}: no {absent[0]} review; expected reviews of both classes (negative, positive)")
    return frame["text"].tolist(), labels.astype(np.int64), valid.astype(bool)


def _column(values: pd.Series, allowed: dict, path: Path, name: str, expected: str) -> np.ndarray:
    mapped = values.str.strip().str.lower().map(allowed)
    bad = mapped.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise UserError(f"{path}: row {row + 1}: {name} {values.iloc[row]!r} is not one of {expected}")
    return mapped.to_numpy()


def _csv_texts(path: Path, val_fraction: float, test_fraction: float, seed: int, max_rows: int) -> Texts:
    """is_valid rows are the validation split; a seeded, stratified ``test_fraction`` of the
    other rows is held out as test (the sample has no test rows of its own). With no
    is_valid rows, validation is a ``val_fraction`` of them too."""
    texts, labels, valid = read_imdb_csv(path)
    keep = stratified_subset(labels, max_rows, seed)
    texts, labels, valid = [texts[i] for i in keep], labels[keep], valid[keep]
    rest = np.flatnonzero(~valid)
    if valid.any():
        train, test = stratified_split(labels[rest], (1 - test_fraction, test_fraction), seed)
        parts = {"train": rest[train], "val": np.flatnonzero(valid), "test": rest[test]}
    else:
        fractions = (1 - val_fraction - test_fraction, val_fraction, test_fraction)
        parts = dict(zip(SPLITS, (rest[i] for i in stratified_split(labels[rest], fractions, seed))))
    return {s: ([texts[i] for i in rows], labels[rows]) for s, rows in parts.items()}


# ------------------------------------------------------------------ synthetic

_POSITIVE = (
    "good great excellent wonderful superb brilliant enjoyable moving delightful beautiful masterpiece loved".split()
)
_NEGATIVE = "bad awful terrible boring dull poor waste worst horrible weak mess hated".split()
_FILLER = (
    "the a this that movie film plot story actor actress cast scene script music ending director camera "
    "character it was is and but with of in i think really quite very time some at".split()
)


def synthetic_reviews(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``n`` reviews from word lists, half of each class. A review carries 2-5 sentiment
    words among filler; "not" flips the word after it; the label is the sign of the sum,
    so a model has to read the words in order, and the majority can still disagree."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 2)
    texts = []
    for label in labels:
        while True:
            cues = [(rng.random() < 0.7) == bool(label) for _ in range(rng.integers(2, 6))]  # True = praise
            negated = rng.random(len(cues)) < 0.25
            score = sum((1 if c else -1) * (-1 if neg else 1) for c, neg in zip(cues, negated))
            if score != 0 and (score > 0) == bool(label):
                break
        words = list(rng.choice(_FILLER, rng.integers(15, 60)))
        for cue, neg in zip(cues, negated):
            phrase = [str(rng.choice(_POSITIVE if cue else _NEGATIVE))]
            at = int(rng.integers(0, len(words) + 1))
            words[at:at] = ["not", *phrase] if neg else phrase
        for at in sorted(rng.integers(1, len(words), len(words) // 12), reverse=True):
            words.insert(int(at), str(rng.choice([".", ",", "!", "<br /><br />"])))
        texts.append(" ".join(words).capitalize() + ".")
    return texts, labels.astype(np.int64)


def _synthetic_texts(n: int, seed: int, val_fraction: float, test_fraction: float) -> Texts:
    texts, labels = synthetic_reviews(n, seed)
    parts = stratified_split(labels, (1 - val_fraction - test_fraction, val_fraction, test_fraction), seed)
    return {s: ([texts[i] for i in rows], labels[rows]) for s, rows in zip(SPLITS, parts)}


# ------------------------------------------------------------------ entry point


def load_imdb(
    data: Optional[Union[str, Path]],
    *,
    vocab_size: int,
    maxlen: int,
    padding: Side = "pre",
    truncating: Side = "pre",
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    seed: int = 0,
    max_rows: int = 0,
    synthetic_size: int = 2000,
    cache_dir: Optional[str] = None,
) -> Splits:
    """An aclImdb root (train -> train / val, test -> test), a label,text,is_valid CSV, or
    with ``data`` None the synthetic set. ``max_rows`` > 0 caps each file / folder read."""
    split_key: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "val": val_fraction,
        "test": test_fraction,
        "seed": seed,
        "max_rows": max_rows,
    }
    if data is None:
        key = {**split_key, "synthetic": synthetic_size}
        corpus = cached_arrays(
            "imdb",
            key,
            lambda: _encode_corpus(_synthetic_texts(synthetic_size, seed, val_fraction, test_fraction)),
            cache_dir,
        )
    else:
        path = Path(data).expanduser()
        if not path.exists():
            raise UserError(f"{path}: no such file or folder")
        if path.is_dir():
            listing = list_aclimdb(path)
            key = {**split_key, "files": file_stamps(p for files, _ in listing.values() for p in files)}
            corpus = cached_arrays(
                "imdb", key, lambda: _encode_corpus(_aclimdb_texts(listing, val_fraction, seed, max_rows)), cache_dir
            )
        else:
            key = {**split_key, "files": file_stamps([path])}
            corpus = cached_arrays(
                "imdb",
                key,
                lambda: _encode_corpus(_csv_texts(path, val_fraction, test_fraction, seed, max_rows)),
                cache_dir,
            )
    return _to_splits(corpus, vocab_size, maxlen, padding, truncating)
