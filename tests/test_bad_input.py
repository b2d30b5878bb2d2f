"""Bad input, one table: every case is a file, flag, data set or storage a user can get
wrong. Each must give ONE line on stderr that names the culprit and says what is
expected, exit with status 2, and write nothing (no sweep folder, no run folder).

A case is (id, files to write under tmp_path, argv, expected text of the line).
``{t}`` in file names, argv and the expected text stands for tmp_path. A ``tune`` case
without ``--storage`` gets ``--storage {t}/sweeps --name s``.
"""

from __future__ import annotations

import errno
import gzip
import json
import logging
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from analysis_fixtures import gru_sweep
from sweeplab.cli import main

Content = str | bytes | Callable[[Path], None]

# ------------------------------------------------------------------ data in the real formats, tiny


def ecg(rows_per_class: int = 4, classes=range(5), width: int = 187) -> str:
    """MIT-BIH rows: ``width`` samples then the class index (no header)."""
    return "".join(",".join(["0.5"] * width + [f"{c}.0"]) + "\n" for c in classes for _ in range(rows_per_class))


def imdb_csv(labels=("negative", "positive") * 6) -> str:
    rows = [f"{label},A {label} film with a plot,{'True' if i % 4 == 0 else 'False'}" for i, label in enumerate(labels)]
    return "label,text,is_valid\n" + "\n".join(rows) + "\n"


def mnist_csv(n: int = 20, labels=None) -> str:
    labels = list(range(10)) * (n // 10) if labels is None else labels
    return "".join(",".join(["0"] * 783 + ["255", str(y)]) + "\n" for y in labels)


def idx(array: np.ndarray) -> bytes:
    return (
        bytes([0, 0, 0x08, array.ndim])
        + struct.pack(f">{array.ndim}I", *array.shape)
        + array.astype(np.uint8).tobytes()
    )


def parallel(folder: str, **override: Content) -> dict[str, Content]:
    """A Multi30k-shaped folder: train / val in German and English, gzip."""
    files: dict[str, Content] = {}
    for split, n in (("train", 6), ("val", 4)):
        for lang, word in (("de", "ein Hund"), ("en", "a dog")):
            files[f"{folder}/{split}.{lang}.gz"] = gzip.compress("".join(f"{word} {i}\n" for i in range(n)).encode())
    files.update({f"{folder}/{k}": v for k, v in override.items()})
    return files


GLOSSES = ("book", "drink", "computer")


def wlasl_root(folder: str, videos: str = "good", empty_gloss: bool = False) -> Callable[[Path], None]:
    """A WLASL root in the real schema: 3 glosses x (train, train, val, test). ``videos``:
    good (all decodable), none (no videos/ folder), corrupt (every file garbage),
    one_class_corrupt (the training videos of 'drink' garbage), one_corrupt (00001.mp4)."""

    def make(t: Path) -> None:
        from sweeplab.data.video import write_video

        root = t / folder
        root.mkdir(parents=True)
        entries, n = [], 0
        for label, gloss in enumerate(GLOSSES):
            instances = []
            for split in ("train", "train", "val", "test"):
                n += 1
                vid = f"{n:05d}"
                path = root / "videos" / f"{vid}.mp4"
                bad = (
                    videos == "corrupt"
                    or (videos == "one_class_corrupt" and gloss == "drink" and split == "train")
                    or (videos == "one_corrupt" and n == 1)
                )
                if bad:
                    path.parent.mkdir(exist_ok=True)
                    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
                elif videos != "none":
                    frames = np.zeros((4, 16, 16, 3), np.uint8)
                    frames[:, :, 4 * label : 4 * label + 4] = 200
                    write_video(path, frames, codec="mpeg4")
                instances.append(
                    {
                        "video_id": vid,
                        "split": split,
                        "frame_start": 1,
                        "frame_end": -1,
                        "fps": 25,
                        "bbox": [0, 0, 16, 16],
                    }
                )
            entries.append({"gloss": gloss, "instances": [] if empty_gloss and gloss == "drink" else instances})
        (root / "WLASL_v0.3.json").write_text(json.dumps(entries))

    return make


VIDEO = ["tune", "videomae", "--smoke", "--set", "subset=3", "--set", "decode_workers=1"]
SPACE_HEAD = "experiment: freq\nmetric: {name: val_mse, goal: minimize}\n"


def space(body: str) -> dict[str, Content]:
    return {"s.yaml": SPACE_HEAD + body}


def a_sweep_of(experiment: str, folder: str = "sweeps/s", **more: Content) -> dict[str, Content]:
    """A stopped sweep folder's own files, as sweeplab and Ray leave them (Ray's state a stub)."""
    from sweeplab import spaces

    return {
        f"{folder}/sweep.json": json.dumps(
            {"experiment": experiment, "space_file": f"{experiment}.yaml", "name": "s", "options": {}}
        ),
        f"{folder}/tuner.pkl": b"\x80\x04N.",
        f"{folder}/space.yaml": spaces.find(experiment).read_text(),
        **{f"{folder}/{k}": v for k, v in more.items()},
    }


# ------------------------------------------------------------------ the table

CASES: list[tuple[str, dict[str, Content], list[str], str]] = [
    # --- search-space files
    (
        "space-yaml-syntax",
        {"s.yaml": SPACE_HEAD + "parameters:\n  lr: {values: [1, 2}\n"},
        ["tune", "freq", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: line 4: not valid YAML (expected ',' or ']', but got '}}')",
    ),
    (
        "space-not-a-mapping",
        {"s.yaml": "- lr\n- hidden_size\n"},
        ["tune", "freq", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: a space file is a mapping",
    ),
    (
        "space-unknown-top-key",
        space("paramters:\n  lr: {values: [0.1]}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: paramters: unknown key; allowed: choose, constraints, early_terminate, experiment",
    ),
    (
        "space-unknown-parameter",
        space("parameters:\n  hiden_size: {values: [32]}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: parameters.hiden_size: not a field of FreqConfig; allowed:",
    ),
    (
        "space-unknown-param-key",
        space("parameters:\n  lr: {distribution: uniform, mn: 0.1, max: 0.2}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: parameters.lr.mn: unknown key; allowed:",
    ),
    (
        "space-min-above-max",
        space("parameters:\n  lr: {distribution: uniform, min: 0.1, max: 0.01}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: parameters.lr.min: min 0.1 > max 0.01",
    ),
    (
        "space-log-min-zero",
        space("parameters:\n  lr: {distribution: log_uniform_values, min: 0, max: 0.01}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "parameters.lr.min: log_uniform_values needs min > 0, got 0",
    ),
    (
        "space-empty-values",
        space("parameters:\n  hidden_size: {values: []}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: parameters.hidden_size.values: expected a non-empty list",
    ),
    (
        "space-unknown-distribution",
        space("parameters:\n  lr: {distribution: loguniform, min: 0.1, max: 1}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "parameters.lr.distribution: unknown distribution 'loguniform'; allowed:",
    ),
    (
        "space-int-field-float-range",
        space("parameters:\n  hidden_size: {distribution: uniform, min: 8, max: 64.5}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "parameters.hidden_size: is an integer field; use int_uniform",
    ),
    (
        "space-value-wrong-type",
        space("parameters:\n  hidden_size: {values: [32, big]}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "parameters.hidden_size.values[1]: must be int, got 'big' (str)",
    ),
    (
        "space-fixed-not-allowed",
        space("fixed: {optimizer: adamax}\nparameters:\n  lr: {values: [0.1]}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "fixed.optimizer: must be one of 'adam', 'adamw', 'sgd', got 'adamax'",
    ),
    (
        "preset-unknown-key",
        space("parameters:\n  lr: {values: [0.1, 0.2]}\npresets:\n  p: {hidden: 3}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "presets.p.hidden: 'hidden' is not a searched parameter; a preset sets",
    ),
    (
        "preset-outside-space",
        space("parameters:\n  lr: {values: [0.1, 0.2]}\npresets:\n  p: {lr: 0.3}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "presets.p.lr: 0.3 is outside the space; allowed: one of 0.1, 0.2",
    ),
    (
        "metric-goal",
        {"s.yaml": "experiment: freq\nmetric: {name: val_mse, goal: lowest}\n"},
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: metric.goal: got 'lowest'; allowed: minimize, maximize",
    ),
    (
        "space-method",
        space("method: bayesian\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: method: got 'bayesian'; allowed: grid, random, bayes",
    ),
    (
        "space-scheduler-option",
        space("scheduler: {name: asha, grace: 3}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "scheduler.grace: not an option of asha; allowed: brackets, grace_period",
    ),
    (
        "space-other-experiment",
        {"s.yaml": "experiment: gan\nparameters:\n  lr_g: {values: [0.1]}\n"},
        ["tune", "freq", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: experiment: this file is for 'gan', not 'freq'",
    ),
    (
        "space-num-samples",
        space("num_samples: 0\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: num_samples: must be a positive integer, got 0",
    ),
    (
        "space-fixed-outside-config",
        {"s.yaml": "experiment: seqclf\nfixed: {label_smoothing: 1.5}\n"},
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: fixed.label_smoothing: SeqclfConfig: key 'label_smoothing' must be in [0, 1), got 1.5",
    ),
    (
        "space-values-outside-config",
        {"s.yaml": "experiment: seqclf\nparameters:\n  label_smoothing: {values: [0.1, 1.0]}\n"},
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: parameters.label_smoothing = 1.0: SeqclfConfig: key 'label_smoothing' must be in [0, 1), got 1.0",
    ),
    (
        "train-unknown-preset",
        {},
        ["train", "freq", "--preset", "best", "--out", "{t}/run"],
        "freq.yaml: no preset 'best'; presets: initial, tuned, serial, long, large",
    ),
    (
        "train-config-unknown-key",
        {"c.yaml": "hidden_size: 64\nlearning_rate: 0.1\n"},
        ["train", "freq", "--config", "{t}/c.yaml", "--out", "{t}/run"],
        "{t}/c.yaml: learning_rate: not a field of FreqConfig; allowed:",
    ),
    # a best.yaml whose chosen epoch no longer matches its config
    (
        "train-chosen-config-edited",
        {"c.yaml": "hidden_size: 32\nchosen: {epoch: 3, metric: val_mse, value: 0.5, config_sha: 0123456789ab}\n"},
        ["train", "freq", "--config", "{t}/c.yaml", "--out", "{t}/run"],
        "{t}/c.yaml: the config was edited after `sweeplab best` chose epoch 3 for it (config_sha 0123456789ab no longer "
        "matches); delete the 'chosen' block to train the edited config to its full budget",
    ),
    (
        "train-chosen-epoch-past-budget",
        {"c.yaml": "epochs: 5\nchosen: {epoch: 9, metric: val_mse, value: 0.5}\n"},
        ["train", "freq", "--config", "{t}/c.yaml", "--out", "{t}/run"],
        "{t}/c.yaml: chosen.epoch 9 is past the config's epochs 5; the epoch no longer matches its config",
    ),
    (
        "train-chosen-epoch-not-a-number",
        {"c.yaml": "epochs: 5\nchosen: {epoch: last}\n"},
        ["train", "freq", "--config", "{t}/c.yaml", "--out", "{t}/run"],
        "{t}/c.yaml: chosen.epoch: a whole number >= 1 (the chosen epoch) is needed",
    ),
    # --- flags
    (
        "flag-unknown-scheduler",
        {},
        ["tune", "freq", "--scheduler", "asha2"],
        "tune: argument --scheduler: invalid choice: 'asha2' (choose from 'promotion', 'asha', 'hyperband', 'pbt', 'median', 'fifo')",
    ),
    (
        "flag-seed-not-int",
        {},
        ["tune", "freq", "--seed", "one"],
        "tune: argument --seed: invalid int value: 'one' (see sweeplab tune --help)",
    ),
    (
        "flag-num-samples-negative",
        {},
        ["tune", "freq", "--num-samples", "-1"],
        "--num-samples -1: must be in [1, 10000000]",
    ),
    ("flag-num-samples-zero", {}, ["tune", "freq", "--num-samples", "0"], "--num-samples 0: must be in [1, 10000000]"),
    ("flag-cpus-zero", {}, ["tune", "freq", "--cpus-per-trial", "0"], "--cpus-per-trial 0: must be > 0"),
    ("flag-gpus-negative", {}, ["tune", "freq", "--gpus-per-trial", "-1"], "--gpus-per-trial -1: must be >= 0"),
    ("flag-workers-zero", {}, ["tune", "freq", "--workers-per-trial", "0"], "--workers-per-trial 0: must be >= 1"),
    (
        "flag-max-concurrent-zero",
        {},
        ["tune", "freq", "--max-concurrent", "0"],
        "--max-concurrent 0: must be in [1, 1000000]",
    ),
    (
        "flag-cpus-beyond-machine",
        {},
        ["tune", "freq", "--cpus-per-trial", "64", "--num-cpus", "2"],
        "a trial needs 64 CPUs (1 worker(s) x 64); this machine has 2",
    ),
    (
        "flag-grid-with-distribution",
        {},
        ["tune", "freq", "--search", "grid"],
        "--search grid: parameter 'lr' is a distribution; grid needs values",
    ),
    (
        "flag-name-with-slash",
        {},
        ["tune", "freq", "--name", "a/b", "--storage", "{t}/sweeps"],
        "--name 'a/b': a folder name, without '/'",
    ),
    (
        "flag-trainable-malformed",
        {"s.yaml": "metric: {name: score, goal: max}\nparameters:\n  x: {values: [1]}\n"},
        ["tune", "--trainable", "objective", "--space", "{t}/s.yaml"],
        "--trainable 'objective': expected path/to/file.py:function or module:function",
    ),
    (
        "flag-set-wrong-type",
        {},
        ["tune", "freq", "--set", "hidden_size=big"],
        "--set hidden_size: must be int, got 'big' (str)",
    ),
    (
        "flag-set-outside-config",
        {},
        ["tune", "freq", "--set", "epochs=0"],
        "--set epochs: FreqConfig: key 'epochs' must be >= 1, got 0",
    ),
    ("flag-time-budget", {}, ["tune", "freq", "--time-budget", "-5"], "--time-budget -5: must be > 0 seconds"),
    ("flag-max-failures", {}, ["tune", "freq", "--max-failures", "-1"], "--max-failures -1: must be >= 0"),
    (
        "freq-has-no-data-file",
        {},
        ["tune", "freq", "--set", "data={t}/x.csv"],
        "--set data: FreqConfig: key 'data' is '{t}/x.csv', but freq generates its signals",
    ),
    # --- data files
    (
        "ecg-truncated",
        {"ecg.csv": ecg()[:-900]},
        ["tune", "seqclf", "--smoke", "--set", "data={t}/ecg.csv"],
        "{t}/ecg.csv: row 19 has 152 columns; expected 188 (187 samples + class index); the file looks truncated",
    ),
    (
        "ecg-column-count",
        {"ecg.csv": ecg(width=186)},
        ["tune", "seqclf", "--smoke", "--set", "data={t}/ecg.csv"],
        "{t}/ecg.csv: row 1 has 187 columns; expected 188 (187 samples + class index)",
    ),
    (
        "ecg-label-range",
        {"ecg.csv": ecg() + ecg(1, classes=[7])},
        ["tune", "seqclf", "--smoke", "--set", "data={t}/ecg.csv"],
        "{t}/ecg.csv: row 21: class index 7 is outside 0..4",
    ),
    (
        "ecg-class-without-rows",
        {"ecg.csv": ecg(classes=[0, 1, 2, 4])},
        ["tune", "seqclf", "--smoke", "--set", "data={t}/ecg.csv"],
        "{t}/ecg.csv: no row of class 3 (F); expected every class 0..4 (N, S, V, F, Q)",
    ),
    (
        "ecg-not-utf8",
        {"ecg.csv": ecg().encode() + b"\xff\xfe\x00garbage\n"},
        ["train", "seqclf", "--preset", "original", "--smoke", "--set", "data={t}/ecg.csv", "--out", "{t}/run"],
        "{t}/ecg.csv: line 21 is not UTF-8 text (byte 0xff at character 1); expected 188 comma-separated numbers",
    ),
    (
        "imdb-not-utf8",
        {"imdb.csv": imdb_csv().encode() + b"positive,caf\xe9 au lait,False\n"},
        ["tune", "imdb", "--smoke", "--set", "data={t}/imdb.csv"],
        "{t}/imdb.csv: line 14 is not UTF-8 text",
    ),
    (
        "imdb-wrong-header",
        {"imdb.csv": imdb_csv().replace("label,text", "sentiment,review")},
        ["tune", "imdb", "--smoke", "--set", "data={t}/imdb.csv"],
        "{t}/imdb.csv: no column label, text; expected a header label,text,is_valid",
    ),
    (
        "imdb-label-value",
        {"imdb.csv": imdb_csv(("negative", "positive", "meh", "positive") * 3)},
        ["tune", "imdb", "--smoke", "--set", "data={t}/imdb.csv"],
        "{t}/imdb.csv: row 3: label 'meh' is not one of negative, positive",
    ),
    (
        "imdb-one-class-only",
        {"imdb.csv": imdb_csv(("positive",) * 12)},
        ["tune", "imdb", "--smoke", "--set", "data={t}/imdb.csv"],
        "{t}/imdb.csv: no negative review; expected reviews of both classes (negative, positive)",
    ),
    (
        "aclimdb-review-not-utf8",
        {
            **{
                f"acl/{s}/{c}/{i}_5.txt": "Fine film."
                for s in ("train", "test")
                for c in ("neg", "pos")
                for i in range(3)
            },
            "acl/train/pos/9_9.txt": b"Tr\xe8s bien",
        },
        ["tune", "imdb", "--smoke", "--set", "data={t}/acl"],
        "{t}/acl/train/pos/9_9.txt: not UTF-8 text",
    ),
    (
        "mnist-corrupt-gzip",
        {"m.csv.gz": gzip.compress(mnist_csv().encode())[:-40]},
        ["tune", "gan", "--smoke", "--set", "data={t}/m.csv.gz"],
        "{t}/m.csv.gz: damaged or truncated gzip",
    ),
    (
        "mnist-label-range",
        {"m.csv": mnist_csv(labels=list(range(10)) * 2 + [12])},
        ["tune", "gan", "--smoke", "--set", "data={t}/m.csv"],
        "{t}/m.csv: row 21: label 12 is outside 0..9",
    ),
    (
        "mnist-digit-without-rows",
        {"m.csv": mnist_csv(labels=list(range(9)) * 3)},
        ["tune", "gan", "--smoke", "--set", "data={t}/m.csv"],
        "{t}/m.csv: no row of digit 9; expected every digit 0..9",
    ),
    (
        "mnist-idx-truncated",
        {
            "mn/train-images-idx3-ubyte": idx(np.zeros((20, 28, 28)))[:-100],
            "mn/train-labels-idx1-ubyte": idx(np.arange(20) % 10),
        },
        ["tune", "gan", "--smoke", "--set", "data={t}/mn"],
        "{t}/mn/train-images-idx3-ubyte: truncated: dimensions (20, 28, 28) need 15680 bytes of data, the file holds 15580",
    ),
    (
        "text-corrupt-gzip",
        parallel("mt", **{"train.de.gz": b"\x1f\x8b\x08\x00garbage"}),
        ["tune", "seq2seq", "--smoke", "--set", "data={t}/mt", "--set", "src_lang=de", "--set", "tgt_lang=en"],
        "{t}/mt/train.de.gz: damaged or truncated gzip",
    ),
    (
        "text-not-utf8",
        parallel("mt", **{"val.en.gz": gzip.compress(b"a dog\na d\xf6g\nx\ny\n")}),
        ["tune", "seq2seq", "--smoke", "--set", "data={t}/mt", "--set", "src_lang=de", "--set", "tgt_lang=en"],
        "{t}/mt/val.en.gz: line 2 is not UTF-8 text",
    ),
    (
        "wlasl-wrong-schema",
        {"w/WLASL_v0.3.json": json.dumps({"book": [{"video_id": "1"}]})},
        [*VIDEO, "--set", "data={t}/w"],
        "{t}/w/WLASL_v0.3.json: neither WLASL_v0.3.json's shape (a list of {{gloss, instances: [...]}}) nor nslt's",
    ),
    (
        "wlasl-bad-split",
        {
            "w/WLASL_v0.3.json": json.dumps(
                [{"gloss": g, "instances": [{"video_id": "1", "split": "dev"}]} for g in GLOSSES]
            )
        },
        [*VIDEO, "--set", "data={t}/w"],
        "{t}/w/WLASL_v0.3.json: book.instances[0]: split 'dev'; allowed: train, val, test",
    ),
    (
        "wlasl-missing-videos",
        {"w": wlasl_root("w", videos="none")},
        [*VIDEO, "--set", "data={t}/w"],
        "{t}/w/WLASL_v0.3.json: the train split holds no readable video; 12 of 12 videos are missing under {t}/w/videos",
    ),
    (
        "wlasl-corrupt-mp4",
        {"w": wlasl_root("w", videos="corrupt")},
        [*VIDEO, "--set", "data={t}/w"],
        "{t}/w/WLASL_v0.3.json: the train split holds no readable video; 0 of 12 videos are missing under {t}/w/videos, 12 undecodable",
    ),
    (
        "wlasl-class-all-corrupt",
        {"w": wlasl_root("w", videos="one_class_corrupt")},
        [*VIDEO, "--set", "data={t}/w"],
        "{t}/w/WLASL_v0.3.json: gloss 'drink' (class 1): none of its 2 training videos under {t}/w/videos can be decoded",
    ),
    (
        "wlasl-gloss-without-videos",
        {"w": wlasl_root("w", empty_gloss=True)},
        [*VIDEO, "--set", "data={t}/w"],
        "{t}/w/WLASL_v0.3.json: gloss 'drink' (class 1) lists no training video",
    ),
    # --- what a hostile user tried (issue 20, point 9), and the commands' missing files
    (
        "space-yaml-alias-bomb",
        space(
            "fixed:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"  {n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcde", "bcdef"))
            + "  g: [*f, *f, *f, *f, *f]\n"
        ),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: line 8: refused: its aliases expand to more than 100,000 nodes (a YAML alias bomb?)",
    ),
    (
        "space-bound-nan",
        space("parameters:\n  lr: {distribution: uniform, min: .nan, max: 0.1}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: parameters.lr.min: must be a finite number, got nan",
    ),
    (
        "space-bound-inf",
        space("parameters:\n  lr: {distribution: log_uniform_values, min: 0.001, max: .inf}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: parameters.lr.max: must be a finite number, got inf",
    ),
    (
        "space-int-bound-1e23",
        space("parameters:\n  hidden_size: {distribution: int_uniform, min: 1, max: 1e23}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: parameters.hidden_size.max: is an integer field's bound; expected an integer, got 1e+23",
    ),
    (
        "space-fixed-nan",
        space("fixed: {lr: .nan}\nparameters:\n  hidden_size: {values: [8]}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: fixed.lr: must be a finite number, got nan",
    ),
    (
        "space-preset-nan",
        space("parameters:\n  lr: {values: [0.01, 0.001]}\npresets:\n  mine: {lr: .nan}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: presets.mine.lr: must be a finite number, got nan",
    ),
    (
        "space-scheduler-option-text",
        space("scheduler: {name: asha, grace_period: five}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: scheduler.grace_period: must be an integer >= 1, got 'five'",
    ),
    (
        "space-scheduler-factor-one",
        space("scheduler: {name: asha, reduction_factor: 1}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: scheduler.reduction_factor: must be a number > 1, got 1",
    ),
    (
        "space-scheduler-option-negative",
        space("scheduler: {name: median, min_samples_required: -3}\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: scheduler.min_samples_required: must be an integer >= 1, got -3",
    ),
    (
        "space-time-budget-text",
        space("time_budget: soon\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: time_budget: must be a positive number of seconds, got 'soon'",
    ),
    (
        "space-num-samples-text",
        space("num_samples: ten\n"),
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: num_samples: must be a positive integer, got 'ten'",
    ),
    (
        "space-metric-never-reported",
        {"s.yaml": "experiment: freq\nmetric: {name: val_bogus, goal: minimize}\n"},
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: metric: freq reports no 'val_bogus'; known: val_mse, train_loss, epoch_seconds, train_seconds",
    ),
    ("space-file-missing", {}, ["tune", "--space", "{t}/nope.yaml"], "{t}/nope.yaml: no such space file"),
    ("experiment-unknown", {}, ["tune", "fre"], "unknown experiment or space 'fre'; known: freq, freq_clean"),
    ("flag-seed-negative", {}, ["tune", "freq", "--seed", "-1"], "--seed -1: must be in [0, 2**32)"),
    ("flag-seed-exponent", {}, ["tune", "freq", "--seed", "1e20"], "tune: argument --seed: invalid int value: '1e20'"),
    (
        "flag-seed-huge",
        {},
        ["tune", "freq", "--seed", "100000000000000000000"],
        "--seed 100000000000000000000: must be in [0, 2**32)",
    ),
    ("flag-cpus-nan", {}, ["tune", "freq", "--cpus-per-trial", "nan"], "--cpus-per-trial nan: must be > 0"),
    ("flag-time-budget-nan", {}, ["tune", "freq", "--time-budget", "nan"], "--time-budget nan: must be > 0 seconds"),
    (
        "flag-epoch-budget-zero",
        {},
        ["tune", "freq", "--epoch-budget", "0"],
        "--epoch-budget 0: must be in [1, 1000000000]",
    ),
    ("flag-max-epochs-zero", {}, ["tune", "freq", "--max-epochs", "0"], "--max-epochs 0: must be in [1, 1000000]"),
    (
        "flag-max-concurrent-text",
        {},
        ["tune", "freq", "--max-concurrent", "two"],
        "tune: argument --max-concurrent: invalid int value: 'two'",
    ),
    ("flag-set-nan", {}, ["tune", "freq", "--set", "lr=nan"], "--set lr: must be a finite number, got nan"),
    ("flag-set-inf", {}, ["tune", "freq", "--set", "lr=inf"], "--set lr: must be a finite number, got inf"),
    ("flag-set-no-equals", {}, ["tune", "freq", "--set", "lr"], "--set 'lr': expected KEY=VALUE"),
    (
        "flag-name-dotdot",
        {},
        ["tune", "freq", "--name", "..", "--storage", "{t}/sweeps"],
        "--name '..': a folder name, without '/', '\\' or NUL bytes, and not '.' or '..'",
    ),
    ("flag-name-dot", {}, ["tune", "freq", "--name", ".", "--storage", "{t}/sweeps"], "--name '.': a folder name"),
    ("flag-name-empty", {}, ["tune", "freq", "--name", "", "--storage", "{t}/sweeps"], "--name '': a folder name"),
    (
        "trainable-file-missing",
        {"s.yaml": "metric: {name: score, goal: maximize}\nparameters:\n  x: {values: [1]}\n"},
        ["tune", "--trainable", "{t}/mine.py:train", "--space", "{t}/s.yaml"],
        "--trainable '{t}/mine.py:train': no such file {t}/mine.py",
    ),
    (
        "trainable-function-missing",
        {
            "mine.py": "def other(config):\n    pass\n",
            "s.yaml": "metric: {name: score, goal: maximize}\nparameters:\n  x: {values: [1]}\n",
        },
        ["tune", "--trainable", "{t}/mine.py:train", "--space", "{t}/s.yaml"],
        "--trainable '{t}/mine.py:train': {t}/mine.py has no function 'train'",
    ),
    (
        "trainable-not-python",
        {
            "mine.txt": "def train(config):\n    pass\n",
            "s.yaml": "metric: {name: score, goal: maximize}\nparameters:\n  x: {values: [1]}\n",
        },
        ["tune", "--trainable", "{t}/mine.txt:train", "--space", "{t}/s.yaml"],
        "--trainable '{t}/mine.txt:train': {t}/mine.txt is not a Python file (expected path/to/file.py)",
    ),
    (
        "trainable-syntax-error",
        {
            "mine.py": "def train(config:\n    pass\n",
            "s.yaml": "metric: {name: score, goal: maximize}\nparameters:\n  x: {values: [1]}\n",
        },
        ["tune", "--trainable", "{t}/mine.py:train", "--space", "{t}/s.yaml"],
        "--trainable '{t}/mine.py:train': {t}/mine.py failed to import: SyntaxError: '(' was never closed",
    ),
    (
        "trainable-no-epochs",
        {
            "mine.py": "def train(config):\n    pass\n",
            "s.yaml": "metric: {name: score, goal: maximize}\nparameters:\n  x: {values: [1]}\n",
        },
        ["tune", "--trainable", "{t}/mine.py:train", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: no 'epochs' parameter, so sweeplab cannot tell how many epochs train reports, and the promotion "
        "scheduler counts in them: pass --max-epochs N",
    ),
    (
        "trainable-no-epochs-fifo-rung-tpe",
        {
            "mine.py": "def train(config):\n    pass\n",
            "s.yaml": "metric: {name: score, goal: maximize}\nparameters:\n  x: {values: [1]}\n",
        },
        [
            "tune",
            "--trainable",
            "{t}/mine.py:train",
            "--space",
            "{t}/s.yaml",
            "--scheduler",
            "fifo",
            "--search",
            "rung_tpe",
        ],
        "{t}/s.yaml: no 'epochs' parameter, so sweeplab cannot tell how many epochs train reports, and the rung_tpe "
        "search counts in them",
    ),
    (
        "train-config-missing",
        {},
        ["train", "freq", "--config", "{t}/nope.yaml", "--out", "{t}/run"],
        "{t}/nope.yaml: cannot read (No such file or directory)",
    ),
    (
        "ecg-infinite-cell",
        {"e.csv": "".join(",".join(["0.5"] * 186 + ["inf", f"{c}.0"]) + "\n" for c in range(5) for _ in range(4))},
        ["tune", "seqclf", "--smoke", "--set", "data={t}/e.csv"],
        "{t}/e.csv: row 1, column 187: an infinite value (inf); expected a finite number in each of the 188 columns",
    ),
    (
        "mnist-missing",
        {},
        ["tune", "gan", "--smoke", "--set", "data={t}/nope"],
        "--set data: {t}/nope: no such file or folder",
    ),
    *[
        (f"{command}-folder-missing", {}, [command, "{t}/nope"], "{t}/nope: no such folder")
        for command in ("analyze", "best", "report", "suggest", "dashboard")
    ],
    ("resume-folder-missing", {}, ["resume", "{t}/nope"], "{t}/nope: no sweep.json here; not a sweeplab sweep folder"),
    # --- valid bytes, wrong shape (issue 34.8)
    (
        "space-nested-too-deep",
        {"s.yaml": "experiment: freq\nparameters:\n  lr: " + "[" * 4000 + "]" * 4000 + "\n"},
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: refused: nested too deep to read",
    ),
    (
        "space-latin-1",
        {"s.yaml": b"experiment: freq\n# caf\xe9\nparameters:\n  lr: {values: [0.001]}\n"},
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: line 2: not UTF-8 text (byte 22: 0xe9); save it as UTF-8",
    ),
    (
        "space-5000-digit-bound",
        {"s.yaml": "experiment: freq\nparameters:\n  lr: {min: 0, max: " + "9" * 5000 + "}\n"},
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: not valid YAML (exceeds the limit (4300 digits) for integer string",
    ),
    (
        "space-negative-sigma",
        {"s.yaml": "experiment: freq\nparameters:\n  lr: {distribution: normal, mu: 0.01, sigma: -1}\n"},
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: parameters.lr.sigma: must be > 0, got -1",
    ),
    (
        "space-duplicated-key",
        {"s.yaml": "experiment: freq\nparameters:\n  lr: {values: [0.001]}\n  lr: {values: [0.1]}\n"},
        ["tune", "--space", "{t}/s.yaml"],
        "{t}/s.yaml: line 4: not valid YAML (key 'lr' given twice)",
    ),
    (
        "train-config-nan",
        {"c.yaml": "lr: .nan\n"},
        ["train", "freq", "--config", "{t}/c.yaml", "--out", "{t}/run"],
        "{t}/c.yaml: lr: must be a finite number, got nan",
    ),
    (
        "train-config-latin-1",
        {"c.yaml": b"lr: 0.001 # caf\xe9\n"},
        ["train", "freq", "--config", "{t}/c.yaml", "--out", "{t}/run"],
        "{t}/c.yaml: line 1: not UTF-8 text (byte 15: 0xe9); save it as UTF-8",
    ),
    (
        "flag-name-newline",
        {},
        ["tune", "freq", "--name", "a\nb", "--storage", "{t}/sweeps"],
        "--name 'a\\nb': no control characters (newlines, tabs, terminal escapes)",
    ),
    (
        "flag-name-ansi",
        {},
        ["tune", "freq", "--name", "\x1b[31mred", "--storage", "{t}/sweeps"],
        "--name '\\x1b[31mred': no control characters",
    ),
    (
        "flag-name-300-chars",
        {},
        ["tune", "freq", "--name", "x" * 300, "--storage", "{t}/sweeps"],
        "--name 'xxxxxxxxxxxxxxxxxxxx'...: at most 200 bytes",
    ),
    (
        "dashboard-port-out-of-range",
        {},
        ["dashboard", "{t}", "--port", "99999"],
        "dashboard: argument --port: 99999: a port is 0-65535",
    ),
    (
        "analyze-csv-a-file",
        {**a_sweep_of("freq"), "out.txt": "x"},
        ["analyze", "{t}/sweeps/s", "--csv", "{t}/out.txt"],
        "--csv {t}/out.txt: is a file, not a folder; give a folder to write the files into",
    ),
    (
        "report-out-a-file",
        {**a_sweep_of("freq"), "out.txt": "x"},
        ["report", "{t}/sweeps/s", "--out", "{t}/out.txt"],
        "--out {t}/out.txt: is a file, not a folder",
    ),
    (
        "best-where-990-nots",
        {"sweeps/s": lambda t: gru_sweep(t / "sweeps" / "s")},
        ["best", "{t}/sweeps/s", "--where", "not " * 990 + "lr > 0"],
        "--where 'not not not not not not not not not not not not not not not not not not not n...': nested too deep",
    ),
    (
        "flag-max-epochs-20-digits",
        {},
        ["tune", "freq", "--max-epochs", "99999999999999999999"],
        "--max-epochs 99999999999999999999: must be in [1, 1000000]",
    ),
    # --- storage
    (
        "storage-under-a-file",
        {"afile": "x"},
        ["tune", "freq", "--storage", "{t}/afile/sweeps", "--name", "s"],
        "--storage {t}/afile/sweeps: cannot create it ({t}/afile is a file)",
    ),
    (
        "storage-other-sweep",
        a_sweep_of("gan"),
        ["tune", "freq", "--storage", "{t}/sweeps", "--name", "s"],
        "{t}/sweeps/s holds another sweep (experiment gan, from gan.yaml); pick another --name",
    ),
    (
        "storage-not-a-sweep",
        {"sweeps/s/notes.txt": "mine"},
        ["tune", "freq", "--storage", "{t}/sweeps", "--name", "s"],
        "{t}/sweeps/s already exists and is not a sweeplab sweep (it holds notes.txt); pick another --name",
    ),
    (
        "resume-marked-failed",
        a_sweep_of("freq", FAILED="no space left on device under /data while the sweep ran\n"),
        ["resume", "{t}/sweeps/s"],
        (
            "{t}/sweeps/s: the sweep is marked failed (no space left on device under /data "
            "while the sweep ran); it cannot be resumed: start a new sweep"
        ),
    ),
    # the disk that filled also cut Ray's state short: the marker is what the user needs to hear
    (
        "resume-marked-failed-state-cut",
        a_sweep_of(
            "freq",
            FAILED="no space left on device under /data\n",
            **{"experiment_state-2026-12-03_12-29-44.json": '{"trial_data": "cut'},
        ),
        ["resume", "{t}/sweeps/s"],
        "{t}/sweeps/s: the sweep is marked failed (no space left on device under /data)",
    ),
    (
        "resume-not-a-sweep",
        {"sweeps/s/notes.txt": "mine"},
        ["resume", "{t}/sweeps/s"],
        "{t}/sweeps/s: no sweep.json here; not a sweeplab sweep folder",
    ),
    # a damaged store: refused before Ray starts, in one line naming the file
    (
        "resume-sweep-json-garbage",
        {**a_sweep_of("freq"), "sweeps/s/sweep.json": b"\x00\x00{"},
        ["resume", "{t}/sweeps/s"],
        "{t}/sweeps/s/sweep.json: not JSON (Expecting value: line 1 column 1)",
    ),
    (
        "resume-sweep-json-not-utf8",
        {**a_sweep_of("freq"), "sweeps/s/sweep.json": b'{"name": "\xff"}'},
        ["resume", "{t}/sweeps/s"],
        "{t}/sweeps/s/sweep.json: not UTF-8 text (byte 10)",
    ),
    (
        "resume-sweep-json-array",
        {**a_sweep_of("freq"), "sweeps/s/sweep.json": "[]"},
        ["resume", "{t}/sweeps/s"],
        "{t}/sweeps/s/sweep.json: holds an array, not a JSON object",
    ),
    (
        "resume-trials-parquet-cut",
        a_sweep_of("freq", **{"trials.parquet": b"PAR1\x15\x04 cut short"}),
        ["resume", "{t}/sweeps/s"],
        "{t}/sweeps/s/trials.parquet: not a Parquet file (cut short or damaged: Parquet magic bytes not found in footer)",
    ),
    (
        "resume-tuner-pkl-cut",
        a_sweep_of("freq", **{"tuner.pkl": b"\x80\x04\x95\x10"}),
        ["resume", "{t}/sweeps/s"],
        "{t}/sweeps/s/tuner.pkl: Ray's experiment state is damaged (not a whole pickle: not enough data in stream "
        "to read uint8)",
    ),
    (
        "resume-sweep-json-empty-object",
        {**a_sweep_of("freq"), "sweeps/s/sweep.json": "{}"},
        ["resume", "{t}/sweeps/s"],
        "{t}/sweeps/s/sweep.json: no 'options': not what sweeplab tune writes",
    ),
    # what fsck left of a store on a disk that went read-only without an fsync: every file 0 bytes
    (
        "resume-after-fsck-all-empty",
        {
            **a_sweep_of("freq", **{"journal.jsonl": b"", "trials.parquet": b"", "tuner.pkl": b""}),
            "sweeps/s/sweep.json": b"",
        },
        ["resume", "{t}/sweeps/s"],
        "{t}/sweeps/s/sweep.json: empty (0 bytes): cut short by a crash before it reached the disk",
    ),
    (
        "resume-journal-garbage",
        a_sweep_of("freq", **{"journal.jsonl": b'{"trial_id": "a", \n{}\n'}),
        ["resume", "{t}/sweeps/s"],
        "{t}/sweeps/s/journal.jsonl: line 1: not JSON (Expecting property name enclosed in double quotes: column 19)",
    ),
]

# (id, the tmpfs at {t}/mnt: read-only or filled up, files written there first, argv, expected)
MOUNTED: list[tuple[str, str, dict[str, Content], list[str], str]] = [
    (
        "storage-read-only",
        "ro",
        {},
        ["tune", "freq", "--storage", "{t}/mnt/sweeps", "--name", "s"],
        "--storage {t}/mnt/sweeps: cannot write there (Read-only file system)",
    ),
    (
        "storage-full",
        "full",
        {},
        ["tune", "freq", "--storage", "{t}/mnt/sweeps", "--name", "s"],
        "--storage {t}/mnt/sweeps: no space left (0.0 MiB free; a sweep needs 100 MiB or more",
    ),
    (
        "resume-on-full-disk",
        "full",
        a_sweep_of("freq", "mnt/sweeps/s"),
        ["resume", "{t}/mnt/sweeps/s"],
        "--storage {t}/mnt/sweeps: no space left (0.0 MiB free",
    ),
]


def _write(t: Path, files: dict[str, Content]) -> None:
    for name, content in files.items():
        path = t / name.format(t=t)
        if callable(content):
            content(t)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _snapshot(t: Path) -> dict[str, Any]:
    return {str(p.relative_to(t)): (p.stat().st_size if p.is_file() else None) for p in sorted(t.rglob("*"))}


@pytest.fixture
def nothing_starts(monkeypatch):
    """Bad input fails before Ray starts or training begins: either is a failure here (and
    without this guard, a case that slipped through would run a whole sweep)."""
    from sweeplab import engine, tuning

    def refuse(*args, **kwargs):
        raise AssertionError("the bad input got as far as starting Ray or training")

    monkeypatch.setattr(tuning, "start_ray", refuse)
    monkeypatch.setattr(engine, "fit", refuse)


def _check(argv: list[str], expected: str, t: Path, capsys, caplog=None) -> str:
    argv = [a.format(t=t) for a in argv]
    if argv[0] == "tune" and "--storage" not in argv:
        argv += ["--storage", str(t / "sweeps"), "--name", "s"]
    before = _snapshot(t)
    code = main(argv)
    _, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("sweeplab: error: "), lines[0]
    assert expected.format(t=t) in lines[0], lines[0]
    assert _snapshot(t) == before, "the command wrote files"
    if caplog is not None:  # pytest takes log records off stderr: outside it, a warning is one more line
        assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    return lines[0]


@pytest.mark.parametrize("case, files, argv, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case, files, argv, expected, tmp_path, capsys, caplog, nothing_starts
):
    _write(tmp_path, files)
    _check(argv, expected, tmp_path, capsys, caplog)


@pytest.mark.parametrize(
    "argv",
    [["tune", "freq", "--smoke"], ["tune", "--trainable", "{t}/mine.py:train", "--space", "{t}/s.yaml"]],
    ids=["experiment", "user-trainable"],
)
def test_a_bad_fault_setting_is_refused_before_anything_starts(argv, tmp_path, capsys, monkeypatch, nothing_starts):
    """SWEEPLAB_FAULTS is read once, as the sweep is planned, for a registry experiment and
    a user's own trainable alike."""
    from sweeplab import faults, settings

    _write(
        tmp_path,
        {
            "mine.py": "def train(config):\n    pass\n",
            "s.yaml": "metric: {name: score, goal: maximize}\nparameters:\n  x: {values: [1]}\n  epochs: {value: 2}\n",
        },
    )
    monkeypatch.setenv(faults.ENV, "kill@nowhere")
    settings.load()
    _check(argv, f"{faults.ENV}: 'kill@nowhere': expected raise@EPOCH[:P]", tmp_path, capsys)


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a tiny tmpfs at tmp_path/mnt (root only); yields a function that remounts it."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = []

    def mount(options: str) -> Path:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(mnt)], capture_output=True, check=False
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(mnt)
        return mnt

    yield mount
    for m in mounted:
        subprocess.run(["umount", "-l", str(m)], check=False)


@pytest.mark.parametrize("case, kind, files, argv, expected", MOUNTED, ids=[c[0] for c in MOUNTED])
def test_unwritable_or_full_storage_is_one_line(
    case, kind, files, argv, expected, tmp_path, tmpfs, capsys, caplog, nothing_starts
):
    if kind == "ro":
        tmpfs("size=1m,ro")
    else:
        mnt = tmpfs("size=1m")
        _write(tmp_path, files)
        subprocess.run(
            ["dd", "if=/dev/zero", f"of={mnt}/filler", "bs=64k"], capture_output=True, check=False
        )  # to the last block
    _check(argv, expected, tmp_path, capsys, caplog)


def test_a_few_bad_videos_are_skipped_with_one_warning(tmp_path, caplog):
    """The tolerant side of the line the wlasl cases draw: one undecodable video among many
    is left out, with one warning line (not one per video), and training goes on."""
    from sweeplab.trainables import videomae

    wlasl_root("w", videos="one_corrupt")(tmp_path)
    (tmp_path / "w" / "videos" / "00006.mp4").unlink()  # and one of 'drink' listed but never downloaded
    cfg = videomae.VideomaeConfig.from_dict(
        {
            "data": str(tmp_path / "w"),
            "subset": 3,
            "num_frames": 2,
            "image_size": 8,
            "model_size": "tiny",
            "decode_workers": 1,
        }
    )
    with caplog.at_level(logging.WARNING):
        data = videomae.load_data(cfg)
    assert data.skipped == {"missing": ["00006"], "corrupt": ["00001"]}
    assert sorted(data.labels["train"].tolist()) == [0, 1, 2, 2]  # every gloss keeps a training video
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "1 of 12 videos missing" in warnings[0] and "1 undecodable" in warnings[0]


def _fill(mnt: Path) -> None:
    subprocess.run(["dd", "if=/dev/zero", f"of={mnt}/filler", "bs=4k"], capture_output=True, check=False)


def test_train_on_a_full_disk_is_one_line(tmp_path, tmpfs, capsys):
    """``train`` writes its run folder as it trains: a full disk there is one line, exit 2
    (the empty history.jsonl it could open stays behind)."""
    _fill(tmpfs("size=100k"))
    assert main(["train", "freq", "--preset", "tuned", "--smoke", "--out", f"{tmp_path}/mnt/run"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines == [f"sweeplab: error: --out {tmp_path}/mnt/run: no space left on device (writing there failed)"]


# ------------------------------------------------------------------ the disk giving out mid-sweep


class _Result:  # what Tune's ResultGrid holds for a trial that raised
    def __init__(self, error: BaseException):
        self.error = error


def test_storage_giving_out_mid_sweep_marks_it_failed_and_resume_refuses(tmp_path, capsys):
    """What run() does when Tune ran out of disk (a trial's checkpoint, Ray's state or the
    store could not be written): one line, exit 2, the sweep marked FAILED, resume refuses."""
    from sweeplab import plan, storage_checks
    from sweeplab.errors import UserError

    prep = plan.prepare(plan.SweepOptions(target="freq", smoke=True, storage=str(tmp_path / "sweeps"), name="s"))
    _write(tmp_path, a_sweep_of("freq", **{"trials.parquet.tmp-99": b"half a file"}))
    folder = tmp_path / "sweeps" / "s"
    storage_checks.storage_failure(
        prep.storage, prep.uri, error=ValueError("a bug"), results=[_Result(RuntimeError("diverged"))]
    )  # not the disk
    assert not (folder / "FAILED").exists()

    full = _Result(RuntimeError("ray::ImplicitFunc.train() ... OSError: [Errno 28] No space left on device"))
    with pytest.raises(UserError) as info:
        storage_checks.storage_failure(prep.storage, prep.uri, results=[_Result(RuntimeError("diverged")), full])
    assert str(info.value) == (
        f"--storage {tmp_path}/sweeps: no space left on device while the sweep ran (trial "
        f"checkpoints, results); {folder} is marked failed and cannot be resumed: free space, "
        "then start the sweep again"
    )
    assert (folder / "FAILED").read_text() == f"no space left on device under {tmp_path}/sweeps while the sweep ran\n"
    assert not (folder / "trials.parquet.tmp-99").exists()  # the store's half-written file is gone
    _check(
        ["resume", str(folder)],
        f"{folder}: the sweep is marked failed (no space left on device under",
        tmp_path,
        capsys,
    )

    (folder / "FAILED").unlink()
    with pytest.raises(UserError, match="read-only file system while the sweep ran"):
        storage_checks.storage_failure(prep.storage, prep.uri, error=OSError(errno.EROFS, "Read-only file system"))


def test_the_disk_giving_out_is_found_by_its_errno_in_the_error_chain(tmp_path):
    """A trial's OSError, wrapped (Ray's RayTaskError keeps it as .cause; a re-raise chains
    it) under a message that names no errno: found by the exception's errno, not its text."""
    from sweeplab import plan, storage_checks
    from sweeplab.errors import UserError

    class RayTaskError(Exception):  # the shape of Ray's: the trial's own exception as .cause
        def __init__(self, cause):
            super().__init__("ray::ImplicitFunc.train() failed")
            self.cause = cause

    prep = plan.prepare(plan.SweepOptions(target="freq", smoke=True, storage=str(tmp_path / "sweeps"), name="s"))
    try:
        try:
            raise OSError(errno.EDQUOT, "quota")
        except OSError as e:
            raise RuntimeError("checkpoint could not be saved") from e
    except RuntimeError as chained:
        wrapped = chained
    storage_checks.storage_failure(
        prep.storage, prep.uri, results=[_Result(RayTaskError(OSError(errno.ENOENT, "gone")))]
    )  # not the disk
    with pytest.raises(UserError, match="disk quota exceeded while the sweep ran"):
        storage_checks.storage_failure(prep.storage, prep.uri, results=[_Result(RayTaskError(wrapped))])
    with pytest.raises(UserError, match="no space left on device while the sweep ran"):
        storage_checks.storage_failure(prep.storage, prep.uri, error=RayTaskError(OSError(errno.ENOSPC, "full")))


@pytest.mark.slow
def test_a_disk_filling_up_mid_sweep_is_one_line_and_resume_refuses(tmp_path, tmpfs, capsys, monkeypatch, ray_local):
    """End to end, through Ray: a 400 KiB storage fills with the smoke sweep's checkpoints."""
    monkeypatch.setenv("SWEEPLAB_MIN_FREE_MB", "0")  # let it start on the tiny disk
    storage = tmpfs("size=400k") / "sweeps"
    code = main(["tune", "freq", "--smoke", "--storage", str(storage), "--name", "s", "--quiet"])
    ours = [line for line in capsys.readouterr().err.splitlines() if line.startswith("sweeplab: error:")]
    assert (
        code == 2 and len(ours) == 1 and f"--storage {storage}: no space left on device while the sweep ran" in ours[0]
    )
    assert (storage / "s" / "FAILED").exists()
    assert main(["resume", str(storage / "s")]) == 2
    assert "the sweep is marked failed" in capsys.readouterr().err


@pytest.fixture
def ext4(tmp_path):
    """A 64 MiB ext4 file system on a loop device at tmp_path/disk, mounted errors=remount-ro
    (root only); yields (mount point, a function that makes the kernel turn it read-only as
    after an I/O error: open files or not, as a failing disk does)."""
    import shutil

    image, mnt = tmp_path / "disk.img", tmp_path / "disk"
    mnt.mkdir()
    if not shutil.which("mkfs.ext4"):
        pytest.skip("no mkfs.ext4 here")
    with open(image, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-q", str(image)], check=True, capture_output=True)
    done = subprocess.run(["mount", "-o", "loop,errors=remount-ro", str(image), str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a loop device here: {done.stderr.decode().strip()}")
    device = subprocess.run(["findmnt", "-n", "-o", "SOURCE", str(mnt)], capture_output=True, text=True).stdout.strip()

    def fail() -> None:  # ext4's own fault trigger: the error path a bad sector takes
        Path(f"/sys/fs/ext4/{Path(device).name}/trigger_fs_error").write_text("1")

    try:
        yield mnt, fail
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        subprocess.run(["losetup", "-d", device], check=False, capture_output=True)


@pytest.mark.slow
def test_a_disk_turning_read_only_mid_sweep_is_one_line_that_says_no_marker_could_be_written(tmp_path, ext4):
    """The storage's disk turns read-only while trials train (the kernel's reaction to an
    I/O error): Tune cannot checkpoint, the store cannot write. One line, exit 2; it says
    the sweep could not be marked FAILED, rather than claiming a marker that is not there."""
    import time

    from conftest import sweeplab_process

    from sweeplab import store

    mnt, fail = ext4
    space = tmp_path / "s.yaml"
    space.write_text(
        SPACE_HEAD + "num_samples: 4\nscheduler: fifo\nmethod: random\n"
        "fixed: {epochs: 30, duration: 20.0, lr_schedule: none}\n"
        "parameters:\n  hidden_size: {values: [4, 8]}\n"
    )
    folder = mnt / "sweeps" / "s"
    args = [
        "tune",
        "freq",
        "--space",
        str(space),
        "--storage",
        str(mnt / "sweeps"),
        "--name",
        "s",
        "--max-concurrent",
        "2",
        "--num-cpus",
        "2",
        "--quiet",
    ]
    with sweeplab_process(args, stderr=subprocess.PIPE, SWEEPLAB_MIN_FREE_MB="0") as proc:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:  # some epochs stored: pull the rug
            try:
                _, history = store.read_tables(str(folder), "val_mse", "min")
            except Exception:  # not made yet
                history = None
            if history is not None and len(history) >= 4:
                break
            time.sleep(0.3)
        assert proc.poll() is None, "the sweep ended before the disk went read-only"
        fail()
        _, err = proc.communicate(timeout=300)
    ours = [line for line in err.decode().splitlines() if line.startswith("sweeplab: error:")]
    assert proc.returncode == 2 and len(ours) == 1, err.decode()[-3000:]
    assert ours[0] == (
        f"sweeplab: error: --storage {mnt}/sweeps: read-only file system while the sweep ran (trial "
        f"checkpoints, results); {folder} could not be marked failed (nothing can be written there): "
        "do not resume it; make it writable, then start the sweep again"
    )
    assert not (folder / "FAILED").exists()
