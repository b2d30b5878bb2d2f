"""Sequence pairs for seq2seq (report 003): seeded generated tasks (copy, reverse, sort,
addition) and aligned parallel text (Multi30k's layout, gzip or not), with vocabularies
and an on-disk token cache.

Every source gives a ``SeqData``: per split padded id arrays (source without markers;
target followed by <eos>) and the reference tokens that decoded output is scored against
(the text's own tokens, so an <unk> in the vocabulary never matches a reference word).
"""

from __future__ import annotations

import gzip
import logging
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional, Sequence, Union

import numpy as np

from ..errors import UserError
from .cache import cached_arrays, file_stamps
from .tables import non_utf8_line
from .text import tokenize

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
SPLITS = ("train", "val", "test")
TASKS = ("copy", "reverse", "sort", "addition")
FORMAT_VERSION = 1  # bump when tokenizing, the vocabulary or the cache layout changes

Unit = Literal["word", "char"]
Ids = Union[Sequence[int], np.ndarray]  # one sequence's token ids: a list, or a slice of a cached array
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Split:
    src: np.ndarray  # (n, longest source) int64, PAD after the tokens
    src_len: np.ndarray  # (n,) int64, >= 1
    tgt: np.ndarray  # (n, longest target + 1) int64: tokens, EOS, then PAD
    refs: tuple[tuple[str, ...], ...]  # reference tokens of each row

    def __len__(self) -> int:
        return len(self.src_len)


@dataclass(frozen=True)
class SeqData:
    splits: dict[str, Split]
    src_vocab: tuple[str, ...]
    tgt_vocab: tuple[str, ...]
    unit: Unit

    def tokens(self, ids: Sequence[int]) -> tuple[str, ...]:
        """Target ids up to the first <eos> as tokens."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i != PAD:
                out.append(self.tgt_vocab[i])
        return tuple(out)

    def detokenize(self, tokens: Sequence[str]) -> str:
        return "".join(tokens) if self.unit == "char" else " ".join(tokens)


def _pad(seqs: Sequence[Ids], width: int, tail: Optional[int] = None) -> np.ndarray:
    out = np.full((len(seqs), width), PAD, dtype=np.int64)
    for row, seq in enumerate(seqs):
        out[row, : len(seq)] = seq
        if tail is not None:
            out[row, len(seq)] = tail
    return out


def make_split(src_ids: Sequence[Ids], tgt_ids: Sequence[Ids], refs: Sequence[Sequence[str]]) -> Split:
    src_len = np.asarray([len(s) for s in src_ids], dtype=np.int64)
    tgt_width = max((len(t) for t in tgt_ids), default=0) + 1
    return Split(
        _pad(src_ids, int(src_len.max(initial=1))),
        src_len,
        _pad(tgt_ids, tgt_width, EOS),
        tuple(tuple(r) for r in refs),
    )


# ------------------------------------------------------------------ generated tasks


def generate_pairs(
    task: str, n: int, min_len: int, max_len: int, n_symbols: int, rng: np.random.Generator
) -> list[tuple[list[str], list[str]]]:
    """``n`` (source, target) token lists. Source lengths are uniform in [min_len, max_len];
    for addition the source is ``a+b`` (digits, both terms at least one digit) and the
    length counts the '+', so n_symbols does not apply there."""
    pairs = []
    for _ in range(n):
        length = int(rng.integers(min_len, max_len + 1))
        if task == "addition":
            left = int(rng.integers(1, length - 1))
            a, b = (
                "".join(map(str, [rng.integers(1, 10), *rng.integers(0, 10, k - 1)])) for k in (left, length - 1 - left)
            )
            pairs.append(([*a, "+", *b], list(str(int(a) + int(b)))))
            continue
        seq = [str(s) for s in rng.integers(0, n_symbols, length)]
        if task == "copy":
            tgt = list(seq)
        elif task == "reverse":
            tgt = seq[::-1]
        else:
            tgt = sorted(seq, key=int)
        pairs.append((seq, tgt))
    return pairs


def generated_task(
    task: str, *, sizes: dict[str, int], min_len: int, max_len: int, n_symbols: int = 10, seed: int = 0
) -> SeqData:
    """One seeded stream per split, so the test set stays put when train_size changes."""
    if task not in TASKS:
        raise UserError(f"unknown task {task!r}; tasks: {', '.join(TASKS)}")
    symbols = [str(d) for d in range(10)] + ["+"] if task == "addition" else [str(s) for s in range(n_symbols)]
    vocab = (*SPECIALS, *symbols)
    index = {t: i for i, t in enumerate(vocab)}
    splits = {}
    for number, name in enumerate(SPLITS):
        pairs = generate_pairs(task, sizes[name], min_len, max_len, n_symbols, np.random.default_rng([seed, number]))
        splits[name] = make_split(
            [[index[t] for t in s] for s, _ in pairs],
            [[index[t] for t in t_] for _, t_ in pairs],
            [t for _, t in pairs],
        )
    return SeqData(splits, vocab, vocab, "word")


# ------------------------------------------------------------------ parallel text


def _find(folder: Path, split: str, lang: str) -> Optional[Path]:
    for name in (f"{split}.{lang}", f"{split}.{lang}.gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def read_lines(path: Path) -> list[str]:
    zipped = path.suffix == ".gz"
    opener = gzip.open if zipped else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            return [line.rstrip("\r\n") for line in f]
    except UnicodeDecodeError:
        raise UserError(f"{path}: {non_utf8_line(path)}; expected UTF-8 text, one sentence a line") from None
    except (OSError, EOFError, zlib.error) as e:
        if zipped and not isinstance(e, FileNotFoundError):
            raise UserError(f"{path}: damaged or truncated gzip ({e})") from None
        raise UserError(f"{path}: cannot read it ({getattr(e, 'strerror', None) or e})") from None


def read_pair(src_path: Path, tgt_path: Path) -> tuple[list[str], list[str]]:
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        raise UserError(
            f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}; "
            "aligned files need one line per sentence pair"
        )
    return src, tgt


def split_tokens(line: str, unit: Unit) -> list[str]:
    """Words: the imdb tokenizer (lower-cased words and punctuation); chars: the line as is."""
    return tokenize(line) if unit == "word" else list(line.strip())


def build_vocab(token_lists: Sequence[Sequence[str]], min_count: int) -> tuple[str, ...]:
    """Specials, then tokens seen at least ``min_count`` times, most frequent first (ties alphabetical)."""
    counts: Counter = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    kept = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return (*SPECIALS, *kept)


def _encode_text(
    files: dict[str, tuple[Path, Path]], unit: Unit, min_count: int, max_rows: int, seed: int
) -> dict[str, np.ndarray]:
    texts = {}
    for split, (src_path, tgt_path) in files.items():
        src, tgt = read_pair(src_path, tgt_path)
        texts[split] = (src[:max_rows], tgt[:max_rows]) if max_rows > 0 else (src, tgt)
    if "test" not in texts:  # no test files: a seeded half of validation is the test set
        src, tgt = texts["val"]
        order = np.random.default_rng(seed).permutation(len(src))
        half = len(src) // 2
        for name, rows in (("val", np.sort(order[:half])), ("test", np.sort(order[half:]))):
            texts[name] = ([src[i] for i in rows], [tgt[i] for i in rows])
    tokens = {}
    for split, (src, tgt) in texts.items():
        pairs = [(split_tokens(s, unit), split_tokens(t, unit)) for s, t in zip(src, tgt)]
        tokens[split] = [p for p in pairs if p[0]]  # an empty source has nothing to encode
    vocabs = [build_vocab([p[side] for p in tokens["train"]], min_count) for side in (0, 1)]
    arrays = {"src_vocab": np.asarray(vocabs[0]), "tgt_vocab": np.asarray(vocabs[1])}
    for split, pairs in tokens.items():
        for side, name in ((0, "src"), (1, "tgt")):
            index = {w: i for i, w in enumerate(vocabs[side])}
            seqs = [p[side] for p in pairs]
            arrays[f"{split}_{name}_lengths"] = np.asarray([len(s) for s in seqs], dtype=np.int64)
            arrays[f"{split}_{name}_ids"] = np.asarray([index.get(w, UNK) for s in seqs for w in s], dtype=np.int64)
        joiner = "" if unit == "char" else " "
        arrays[f"{split}_refs"] = np.asarray([joiner.join(p[1]) for p in pairs], dtype=str)
    return arrays


def _from_arrays(arrays: dict[str, np.ndarray], unit: Unit) -> SeqData:
    splits = {}
    for split in SPLITS:
        ids = {}
        for name in ("src", "tgt"):
            lengths = arrays[f"{split}_{name}_lengths"]
            ids[name] = np.split(arrays[f"{split}_{name}_ids"], np.cumsum(lengths)[:-1]) if len(lengths) else []
        refs = [list(r) if unit == "char" else str(r).split() for r in arrays[f"{split}_refs"]]
        splits[split] = make_split(ids["src"], ids["tgt"], refs)
    return SeqData(splits, tuple(map(str, arrays["src_vocab"])), tuple(map(str, arrays["tgt_vocab"])), unit)


def parallel_files(folder: Path, src_lang: str, tgt_lang: str) -> dict[str, tuple[Path, Path]]:
    """train and val pairs (required) and a test pair where both files exist."""
    if not folder.is_dir():
        raise UserError(
            f"{folder}: no such folder; parallel text is a folder of train.{src_lang}, train.{tgt_lang}, "
            f"val.{src_lang}, val.{tgt_lang} (each may end in .gz)"
        )
    files = {}
    for split in SPLITS:
        src, tgt = _find(folder, split, src_lang), _find(folder, split, tgt_lang)
        if src is not None and tgt is not None:
            files[split] = (src, tgt)
        elif split != "test" or src is not None or tgt is not None:
            missing = f"{split}.{src_lang if src is None else tgt_lang}"
            raise UserError(
                f"{folder}: no {missing} (or {missing}.gz); expected aligned train, val (and optional test) "
                f"files for languages {src_lang!r} and {tgt_lang!r}"
            )
    return files


# ------------------------------------------------------------------ cache


def load_parallel(
    data: Union[str, Path],
    *,
    src_lang: str,
    tgt_lang: str,
    unit: Unit = "word",
    min_count: int = 2,
    max_rows: int = 0,
    seed: int = 0,
    cache_dir: Optional[str] = None,
) -> SeqData:
    """A folder of aligned ``{train,val[,test]}.{lang}[.gz]`` files. ``max_rows`` > 0 keeps
    the first rows of each file; vocabularies come from the training split only."""
    folder = Path(data).expanduser()
    files = parallel_files(folder, src_lang, tgt_lang)
    stamps = file_stamps(p for pair in files.values() for p in pair)
    key = {
        "version": FORMAT_VERSION,
        "files": stamps,
        "unit": unit,
        "min_count": min_count,
        "max_rows": max_rows,
        "seed": seed,
    }
    arrays = cached_arrays("seq2seq", key, lambda: _encode_text(files, unit, min_count, max_rows, seed), cache_dir)
    return _from_arrays(arrays, unit)
