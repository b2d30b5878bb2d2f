"""Analysis from files: the reports' tables regenerated from hand-built stores with the
reports' own numbers (exact Markdown), the observation rules one by one, choosing,
suggesting, reports, plain-Ray folders, and bad input."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import yaml

from analysis_fixtures import (
    PREDICTED_RUNS,
    VAL_Y,
    freq_trivial_sweep,
    gru_sweep,
    imdb_sweep,
    meta_for,
    predictions_sweep,
    write_sweep,
)
from sweeplab import chosen, registry, spaces
from sweeplab.analysis import bootstrap, conclude, intervals, load, observe, select, suggest, tables
from sweeplab.cli import main

GRU_TABLE = """\
| Model              | hidden_dim | n_layers | Bidirectional | LR        | Accuracy  | Macro F1  | Observations                                                                                                                                                                          |
| :----------------- | :--------- | :------- | :------------ | :-------- | :-------- | :-------- | :------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------ |
| **GRU (original)** | **64**     | **2**    | **Yes**       | **0.001** | **0.980** | **0.920** | **best val_macro_f1 of the sweep**                                                                                                                                                    |
| GRU (run #1)       | 128        | 1        | No            | 0.0064    | 0.980     | 0.890     | weak on minority classes: macro F1 0.890 against accuracy 0.980                                                                                                                       |
| GRU (run #2)       | 32         | 3        | No            | 0.0117    | 0.974     | 0.850     | weak on minority classes: macro F1 0.850 against accuracy 0.974                                                                                                                       |
| GRU (run #3)       | 128        | 1        | No            | 0.0098    | 0.973     | 0.850     | weak on minority classes: macro F1 0.850 against accuracy 0.973                                                                                                                       |
| GRU (run #5)       | 32         | 1        | No            | 0.0266    | 0.934     | 0.560     | weak on minority classes: macro F1 0.560 against accuracy 0.934; too small: the sweep's lowest capacity (hidden_dim 32, n_layers 1) and val_macro_f1 below the median                 |
| GRU (run #4)       | 128        | 1        | No            | 0.0449    | 0.827     | 0.180     | unstable training: val_macro_f1 0.180 far from the sweep median 0.850, at the sweep's highest learning rate (0.0449); weak on minority classes: macro F1 0.180 against accuracy 0.827 |"""

IMDB_EPOCHS_ES = """\
| Época | Loss (train) | Accuracy (train) | Loss (val) | Accuracy (val) |
| :---- | :----------- | :--------------- | :--------- | :------------- |
| 1     | 0.3951       | 0.8234           | 0.3245     | 0.8571         |
| 2     | 0.2857       | 0.8802           | 0.3102     | 0.8721         |
| 3     | 0.2411       | 0.9056           | 0.2984     | 0.8882 (mejor) |
| 4     | 0.1987       | 0.9321           | 0.3010     | 0.8820         |
| 5     | 0.1745       | 0.9478           | 0.3105     | 0.8830         |
| 6     | 0.1523       | 0.9607           | 0.3202     | 0.8784         |
| 7     | 0.1401       | 0.9683           | 0.3348     | 0.8762         |
| 8     | 0.1299       | 0.9722           | 0.3432     | 0.8750         |
| 9     | 0.1204       | 0.9761           | 0.3520     | 0.8743         |
| 10    | 0.1112       | 0.9790           | 0.3610     | 0.8722         |

Mejor val_accuracy en época 3: 0.888"""

IMDB_CONFUSION_ES = """\
|           | Predicho: neg | Predicho: pos |
| :-------- | :------------ | :------------ |
| Real: neg | 11142         | 1358          |
| Real: pos | 2048          | 10452         |"""


# --- report 000 and 001, regenerated ------------------------------------------------------


def test_report_000_gru_table_in_the_reports_order_and_judgements(tmp_path):
    sweep = load.load_sweep(str(gru_sweep(tmp_path / "gru")))
    base = conclude.baseline_trial(sweep)
    table = tables.trial_table(sweep, observe.observe(sweep), "en", base)
    assert table.markdown() == GRU_TABLE
    # the original in bold, run #4 unstable at the highest LR, run #5 too small
    notes = {row[0]: row[-1] for row in table.rows}
    assert "unstable training" in notes["GRU (run #4)"] and "0.0449" in notes["GRU (run #4)"]
    assert notes["GRU (run #5)"].count("too small") == 1 and "too small" not in notes["GRU (run #2)"]
    assert table.bold == {0}


def test_report_000_spanish_headers_and_conclusion(tmp_path):
    sweep = load.load_sweep(str(gru_sweep(tmp_path / "gru")))
    table = tables.trial_table(sweep, observe.observe(sweep), "es", conclude.baseline_trial(sweep))
    assert table.headers == [
        "Modelo",
        "hidden_dim",
        "n_layers",
        "Bidireccional",
        "LR",
        "Accuracy",
        "Macro F1",
        "Observaciones",
    ]
    assert table.rows[0][3] == "Sí" and table.rows[1][3] == "No"
    # a sweep without predictions: "beat" is a 1 % margin, said so once
    assert conclude.conclusions(sweep, "en", conclude.baseline_trial(sweep)) == [
        "No configuration beat the baseline GRU (original) on val_macro_f1 by more than a 1% margin: 0.920, and the "
        "best other trial, GRU (run #1), reached 0.890 (lower by 0.03).",
        "On val_accuracy, none beat it by more than a 1% margin: the best other trial, GRU (run #1), equals it (0.980).",
        "Every other configuration is smaller than the baseline, so the sweep says nothing about larger models.",
        'No intervals (sweep stored no predictions): "beat" means better by more than 1% (a margin, not an interval).',
    ]
    es = conclude.conclusions(sweep, "es", conclude.baseline_trial(sweep))
    assert es[0] == (
        "Ninguna configuración superó a la base GRU (original) en val_macro_f1 por más de un margen del 1%: "
        "0.920, y la mejor de las demás, GRU (run #1), alcanzó 0.890 (más baja en 0.03)."
    )
    assert es[-1] == (
        "Sin intervalos (el barrido no guardó predicciones): «superar» significa mejorar en más de 1% "
        "(un margen, no un intervalo)."
    )


def test_a_configuration_that_beats_the_baseline_is_named_with_its_margin(tmp_path):
    sweep = load.load_sweep(str(gru_sweep(tmp_path / "gru")), metric="val_accuracy")
    # by accuracy the original (0.98) is not beaten either; make run #2 better than it
    sweep.best_rows.loc["gru2", "val_accuracy"] = 0.99
    sweep.facts.loc[sweep.facts["trial_id"] == "gru2", "best"] = 0.99
    text = conclude.conclusions(sweep, "en", conclude.baseline_trial(sweep))[0]
    assert text == (
        "1 of 5 configurations beat the baseline GRU (original) on val_accuracy by more than a 1% margin; "
        "the best, GRU (run #2): 0.990 against 0.980, higher by 0.01 (1.0%)."
    )
    # within the margin it is a tie, never a negative "beat"
    sweep.facts.loc[sweep.facts["trial_id"] == "gru2", "best"] = 0.985
    assert conclude.conclusions(sweep, "en", conclude.baseline_trial(sweep))[0] == (
        "No configuration beat the baseline GRU (original) on val_accuracy by more than a 1% margin: the best other "
        "trial, GRU (run #2), reached 0.985 against 0.980, higher by 0.005: a tie."
    )


def test_report_001_epoch_table_marks_the_best_epoch_and_the_confusion_matrix(tmp_path):
    sweep = load.load_sweep(str(imdb_sweep(tmp_path / "imdb")))
    assert tables.epoch_table(sweep, "imdb1", "es").markdown() == IMDB_EPOCHS_ES
    # report 001's matrix is of the test split: shown only as the held-out figures, never by default
    assert tables.confusion_table(sweep, "imdb1", "es") is None
    assert tables.confusion_table(sweep, "imdb1", "es", split="test").markdown() == IMDB_CONFUSION_ES
    obs = observe.observe(sweep)["imdb1"]
    assert [o.code for o in obs] == ["overfitting"]
    assert obs[0].en == "overfitting: val loss rising after epoch 3 (0.298 → 0.361), train–val accuracy gap 0.107"
    assert tables.epoch_table(sweep, "imdb1", "en").headers == [
        "Epoch",
        "Train loss",
        "Train accuracy",
        "Val loss",
        "Val accuracy",
    ]


# --- observation rules: each fires, and does not -----------------------------------------


def sweep_of(tmp_path, trials, experiment="seqclf", metric="val_macro_f1", mode="max"):
    """``trials``: dicts of id, config, curves (column -> values per epoch), status, error."""
    t_rows, h_rows = [], []
    for spec in trials:
        curves = spec.get("curves", {})
        n = max((len(v) for v in curves.values()), default=0)
        for i in range(n):
            h_rows.append(
                {
                    "trial_id": spec["id"],
                    "epoch": i + 1,
                    "training_iteration": i + 1,
                    **{k: v[i] for k, v in curves.items() if i < len(v)},
                }
            )
        t_rows.append(
            {
                "trial_id": spec["id"],
                "status": spec.get("status", "TERMINATED"),
                "preset": spec.get("preset"),
                "error": spec.get("error"),
                **{f"config/{k}": v for k, v in spec["config"].items()},
                "iterations": n,
                "wall_time_s": 10.0 * n,
            }
        )
    folder = write_sweep(tmp_path / "s", t_rows, h_rows, meta_for(experiment, metric, mode, "synthetic"))
    return load.load_sweep(str(folder))


def population(values=(0.80, 0.82, 0.84, 0.86), epochs=1):
    """Ordinary trials to compare with: 64-128 wide, LR up to 0.01."""
    return [
        {
            "id": f"p{i}",
            "config": {
                "hidden_dim": 64 + 32 * (i % 2),
                "n_layers": 2,
                "bidirectional": True,
                "lr": 0.001 * (i + 1),
                "epochs": epochs,
            },
            "curves": {"val_macro_f1": [v] * epochs, "val_accuracy": [v + 0.02] * epochs, "train_loss": [0.5] * epochs},
        }
        for i, v in enumerate(values)
    ]


def one(config=None, **curves):
    base = {
        "hidden_dim": 64,
        "n_layers": 2,
        "bidirectional": True,
        "lr": 0.002,
        "epochs": len(next(iter(curves.values()))),
    }
    return {"id": "x", "config": {**base, **(config or {})}, "curves": curves}


CASES = {
    # code: (trial that fires, trial that does not, text the firing one says)
    "failed": (
        dict(one(val_macro_f1=[0.8]), status="ERROR", error="ValueError: boom"),
        one(val_macro_f1=[0.8]),
        "failed: ValueError: boom",
    ),
    "diverged": (
        one(val_macro_f1=[0.3, 0.2], train_loss=[1.0, float("nan")]),
        one(val_macro_f1=[0.3, 0.2], train_loss=[1.0, 0.9]),
        "diverged: the loss became NaN or infinite",
    ),
    "unstable": (
        one({"lr": 0.05}, val_macro_f1=[0.1]),
        one({"lr": 0.05}, val_macro_f1=[0.7]),
        "unstable training: val_macro_f1 0.100 far from the sweep median 0.820, at the sweep's highest learning rate (0.05)",
    ),
    "overfitting": (
        one(val_macro_f1=[0.8, 0.85, 0.84, 0.83], val_loss=[0.5, 0.4, 0.45, 0.5]),
        one(val_macro_f1=[0.8, 0.85, 0.84, 0.83], val_loss=[0.5, 0.4, 0.39, 0.38]),
        "overfitting: val loss rising after epoch 2 (0.4 → 0.5)",
    ),
    "underfitting": (
        one(val_macro_f1=[0.5, 0.6, 0.7]),
        one(val_macro_f1=[0.7, 0.9, 0.95]),
        "underfitting: still improving at its last epoch (3) and below the sweep median",
    ),
    "weak_minority": (
        one(val_macro_f1=[0.8], val_accuracy=[0.97]),
        one(val_macro_f1=[0.8], val_accuracy=[0.85]),
        "weak on minority classes: macro F1 0.800 against accuracy 0.970",
    ),
    "too_small": (
        one({"hidden_dim": 16, "n_layers": 1, "bidirectional": False}, val_macro_f1=[0.7]),
        one({"hidden_dim": 16, "n_layers": 1, "bidirectional": False}, val_macro_f1=[0.9]),
        "too small: the sweep's lowest capacity (hidden_dim 16, n_layers 1)",
    ),
    "stopped_improving": (
        one({"epochs": 10}, val_macro_f1=[0.5, 0.6, 0.7]),
        one({"epochs": 10}, val_macro_f1=[0.7, 0.6, 0.5]),
        "stopped by the scheduler at epoch 3 of 10 while still improving",
    ),
    "best": (one(val_macro_f1=[0.95]), one(val_macro_f1=[0.81]), "best val_macro_f1 of the sweep"),
}


@pytest.mark.parametrize("code", sorted(CASES))
def test_observation_rule_fires_and_does_not(code, tmp_path):
    fires, quiet, text = CASES[code]
    for trial, expected in ((fires, True), (quiet, False)):
        sweep = sweep_of(tmp_path / str(expected), [*population(), trial])
        got = {o.code: o.en for o in observe.observe(sweep)["x"]}
        assert (code in got) is expected, got
        if expected:
            assert got[code].startswith(text), got[code]


def test_trivial_baseline_majority_class_and_predicting_zero(tmp_path):
    majority = json.dumps([[90, 0], [10, 0]])  # always class 0: accuracy 0.9
    better = json.dumps([[88, 2], [3, 7]])
    for matrix, acc, fires in ((majority, 0.90, True), (better, 0.95, False)):
        sweep = sweep_of(
            tmp_path / f"m{fires}", [one(val_accuracy=[acc], val_confusion_matrix=[matrix])], metric="val_accuracy"
        )
        codes = {o.code: o.en for o in observe.observe(sweep)["x"]}
        assert ("trivial" in codes) is fires
    assert codes_of(sweep_of(tmp_path / "z1", [one(val_mse=[0.49], val_zero_mse=[0.5])], "freq", "val_mse", "min")) == [
        "no better than predicting zero (val_mse 0.490 against 0.500)"
    ]
    assert (
        codes_of(sweep_of(tmp_path / "z2", [one(val_mse=[0.01], val_zero_mse=[0.5])], "freq", "val_mse", "min")) == []
    )
    # the majority baseline's macro F1: F1 of the majority class over the classes present
    row = {"val_confusion_matrix": json.dumps([[80, 0, 0], [15, 0, 0], [5, 0, 0]])}
    assert observe.trivial_score("majority", "val_macro_f1", row) == pytest.approx((2 * 0.8 / 1.8) / 3)


def codes_of(sweep):
    return [o.en for o in observe.observe(sweep)["x"] if o.code == "trivial"]


# --- across sweeps, compute --------------------------------------------------------------


def test_schedulers_by_searchers_and_the_compute_account(tmp_path):
    sweeps = []
    for i, (scheduler, searcher, seed, values, iters) in enumerate(
        [
            ("asha", "optuna", 0, [0.9, 0.8], [10, 2]),
            ("asha", "optuna", 1, [0.7], [10]),
            ("fifo", "random", 0, [0.6, 0.5], [10, 10]),
        ]
    ):
        t_rows, h_rows = [], []
        for j, (v, n) in enumerate(zip(values, iters)):
            tid = f"t{i}{j}"
            t_rows.append(
                {
                    "trial_id": tid,
                    "status": "TERMINATED",
                    "preset": None,
                    "error": None,
                    "config/lr": 0.01 * (j + 1),
                    "config/epochs": 10,
                    "iterations": n,
                    "wall_time_s": 360.0 * n,
                }
            )
            h_rows += [
                {"trial_id": tid, "epoch": k + 1, "training_iteration": k + 1, "val_accuracy": v} for k in range(n)
            ]
        meta = meta_for(None, "val_accuracy", "max", f"s{i}", scheduler=scheduler, searcher=searcher, seed=seed)
        sweeps.append(load.load_sweep(str(write_sweep(tmp_path / f"s{i}", t_rows, h_rows, meta))))
    assert tables.sweeps_table(sweeps).rows == [
        ["-", "val_accuracy", "asha", "optuna", "0.900", "0.800 ± 0.100", "3", "1", "2.200"],
        ["-", "val_accuracy", "fifo", "random", "0.600", "0.550 ± 0.071", "2", "0", "2.000"],
    ]
    # s0: 1.0 h + 0.2 h spent; the stopped trial would have cost 1.0 h: 1.2 of 2.0 h
    assert tables.compute_table(sweeps[:1]).rows == [["s0", "2", "1.200", "2.000", "40%"]]
    tidy = load.tidy(sweeps)
    assert list(tidy.columns[:6]) == list(load.META_COLUMNS) and len(tidy) == 5
    assert sorted(tidy["seed"].unique()) == [0, 1]


def test_sweeps_of_other_settings_are_other_rows_and_paused_trials_count_as_cut(tmp_path):
    """freq at phase noise 0 and 2 pi, and a smoke run, are three settings, not one row; a
    trial left paused at a rung is cut early (stopped or paused) and its unspent budget saved."""
    space = "experiment: freq\nmetric: {name: val_mse, goal: minimize}\nparameters:\n  lr: {values: [0.01, 0.02]}\n"
    sweeps = []
    for i, (noise, smoke, statuses) in enumerate(
        [
            (0.0, False, ["TERMINATED", "PAUSED"]),
            (6.283, False, ["TERMINATED", "TERMINATED"]),
            (0.0, True, ["TERMINATED", "TERMINATED"]),
        ]
    ):
        t_rows, h_rows = [], []
        for j, status in enumerate(statuses):
            n = 2 if status == "PAUSED" else 10
            t_rows.append(
                {
                    "trial_id": f"t{i}{j}",
                    "status": status,
                    "preset": None,
                    "error": None,
                    "config/lr": 0.01 * (j + 1),
                    "config/phase_noise": noise,
                    "config/seed": i,
                    "config/epochs": 10,
                    "iterations": n,
                    "wall_time_s": 360.0 * n,
                }
            )
            h_rows += [
                {"trial_id": f"t{i}{j}", "epoch": k + 1, "training_iteration": k + 1, "val_mse": 0.5 - 0.01 * j}
                for k in range(n)
            ]
        meta = {
            **meta_for(None, "val_mse", "min", f"s{i}", scheduler="promotion", searcher="rung_tpe", seed=i),
            "experiment": "freq",
            "space": space,
            "options": {"smoke": smoke},
        }
        sweeps.append(load.load_sweep(str(write_sweep(tmp_path / f"s{i}", t_rows, h_rows, meta))))
    table = tables.sweeps_table(sweeps)
    assert table.headers[:2] == ["Experiment", "Setting"] and table.headers[-2] == "Stopped or paused early"
    assert [row[:2] + row[-3:] for row in table.rows] == [
        ["freq", "phase_noise=0", "2", "1", "1.200"],
        ["freq", "phase_noise=6.283", "2", "0", "2.000"],
        ["freq", "phase_noise=0, smoke", "2", "0", "2.000"],
    ]
    # the paused trial: 0.2 h spent of the 1.0 h its budget would have cost
    assert tables.compute_table(sweeps[:1]).rows == [["s0", "2", "1.200", "2.000", "40%"]]


# --- choosing ----------------------------------------------------------------------------


def test_best_where_then_pareto_and_the_config_file_train_takes(tmp_path, capsys):
    folder = gru_sweep(tmp_path / "gru")
    sweep = load.load_sweep(str(folder))
    assert select.choose(sweep).name == "gru6"
    assert select.choose(sweep, where="hidden_dim <= 64 and not bidirectional").name == "gru2"
    assert select.choose(sweep, where="hidden_dim == 32 and n_layers == 1").name == "gru5"
    # runs 2 and 3 tie on macro F1 (0.85): the first is taken, unless --then decides
    assert select.choose(sweep, where="lr > 0.009 and lr < 0.02").name == "gru2"
    assert select.choose(sweep, where="lr > 0.009 and lr < 0.02", then="hidden_dim").name == "gru3"
    assert select.choose(sweep, metric="val_accuracy", where="lr > 0.02").name == "gru5"
    assert list(select.pareto(sweep, ["val_macro_f1", "lr"]).index) == ["gru6", "gru1", "gru2", "gru5", "gru4"]
    out = tmp_path / "chosen.yaml"
    assert main(["best", str(folder), "--where", "n_layers == 1", "--out", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "GRU (run #1) (trial gru1): val_macro_f1 0.890, the best among the trials where n_layers == 1; "
        "no intervals (sweep stored no predictions)"
    )
    written = yaml.safe_load(out.read_text())
    config = {"cell": "gru", "hidden_dim": 128, "n_layers": 1, "bidirectional": False, "lr": 0.0064, "epochs": 1}
    assert written == {
        **config,
        "chosen": {
            "trial": "gru1",
            "sweep": "gru_wandb",
            "epoch": 1,
            "metric": "val_macro_f1",
            "value": 0.89,
            "config_sha": chosen.digest(config),
        },
    }
    from sweeplab.local_training import single_config

    _, cfg, picked = single_config("seqclf", None, str(out), [], smoke=False)
    assert (cfg.hidden_dim, cfg.n_layers, cfg.bidirectional, cfg.lr) == (128, 1, False, 0.0064)
    assert (picked.epoch, picked.metric, picked.value, picked.trial) == (1, "val_macro_f1", 0.89, "gru1")


# --- suggesting --------------------------------------------------------------------------


def test_suggest_turns_overfitting_into_regularisation_in_a_valid_space(tmp_path, capsys):
    folder = imdb_sweep(tmp_path / "imdb")
    out = tmp_path / "next.yaml"
    assert main(["suggest", str(folder), "--out", str(out)]) == 0
    text = out.read_text()
    raw = spaces.loads(text)
    from sweeplab.trainables import imdb

    spec = spaces.parse(raw, str(out), text, imdb.ImdbConfig, "imdb")  # what tune --space runs
    assert raw["fixed"]["weight_decay"] == 0.05  # was 0 (off): report 002's starting value
    assert raw["fixed"]["batch_size"] == 48  # 64 * 0.75, report 002: 16 -> 12
    assert raw["parameters"]["dropout"]["values"] == [0.5, 0.6]  # best 0.5, moved up by 0.1
    assert "previous_best" not in spec.presets or spec.presets["previous_best"]["dropout"] == 0.5
    assert "weight_decay: 0 -> 0.05 (overfitting: LSTM (report), overfitting: val loss rising after epoch 3" in text
    # imdb.yaml searches with rung_tpe (method: bayes): the next sweep learns from this one
    assert f"\nnext: sweeplab tune --space {out} --warm-start {folder}\n" in capsys.readouterr().out


def test_the_next_commands_suggest_and_report_print_run_from_where_the_user_is(tmp_path, capsys, monkeypatch):
    """A relative sweep folder: the printed next command names the proposed space where it
    is, from the working directory (not the report folder's bare file name)."""
    imdb_sweep(tmp_path / "sweeps" / "imdb")
    monkeypatch.chdir(tmp_path)
    assert main(["report", "sweeps/imdb"]) == 0
    out = capsys.readouterr().out
    command = "sweeplab tune --space sweeps/imdb/report/imdb_report-next-space.yaml --warm-start sweeps/imdb"
    assert f"\nnext: {command}\n" in out
    assert (tmp_path / "sweeps/imdb/report/imdb_report-next-space.yaml").is_file()
    md = (tmp_path / "sweeps/imdb/report/REPORT.md").read_text()
    assert f"`{command}`" in md
    section = md[md.index("## Next search space") :]
    assert "\n-\n" not in section  # each change with its reason, or that there is no warning sign
    assert main(["suggest", "sweeps/imdb", "--out", "next.yaml"]) == 0
    assert "\nnext: sweeplab tune --space next.yaml --warm-start sweeps/imdb\n" in capsys.readouterr().out


def test_analyze_says_which_earlier_sweeps_a_warm_started_sweep_learnt_from(tmp_path, capsys):
    folder = gru_sweep(tmp_path / "gru")
    meta = json.loads((folder / "sweep.json").read_text())
    (folder / "sweep.json").write_text(json.dumps({**meta, "options": {"warm_start": ["sweeps/a", "sweeps/b"]}}))
    assert main(["analyze", str(folder)]) == 0
    assert "\nwarm-started from sweeps/a, sweeps/b\n" in capsys.readouterr().out
    gru_sweep(tmp_path / "cold")
    assert main(["analyze", str(tmp_path / "cold")]) == 0
    assert "warm-started" not in capsys.readouterr().out


def test_suggest_keeps_the_sweeps_command_line_pins(tmp_path):
    """`tune --set data=... && suggest --out next.yaml && tune --space next.yaml` runs on the
    same data: the pins are fixed values of the next space, out of its parameters and presets."""
    folder = imdb_sweep(tmp_path / "imdb")
    meta = json.loads((folder / "sweep.json").read_text())
    meta["pins"] = {"data": "/data/aclImdb", "dropout": 0.6}
    (folder / "sweep.json").write_text(json.dumps(meta))
    proposal = suggest.suggest(load.load_sweep(str(folder)), observe.observe(load.load_sweep(str(folder))))
    assert proposal.raw["fixed"]["data"] == "/data/aclImdb" and proposal.raw["fixed"]["dropout"] == 0.6
    assert "dropout" not in proposal.raw["parameters"]
    assert all("dropout" not in p for p in proposal.raw["presets"].values())


def test_suggest_turns_instability_into_a_lower_learning_rate(tmp_path):
    sweep = load.load_sweep(str(gru_sweep(tmp_path / "gru")))
    proposal = suggest.suggest(sweep, observe.observe(sweep))
    lr = proposal.raw["parameters"]["lr"]
    # best LR 0.001 halved, the log range keeps its width (0.001..0.05 -> ratio sqrt(50))
    assert lr["distribution"] == "log_uniform_values" and lr["min"] == pytest.approx(0.0005 / 50**0.5, rel=1e-3)
    assert proposal.raw["fixed"]["clip_grad_norm"] == 1.0  # off (0) -> report 002's 1.0
    assert proposal.raw["fixed"]["warmup_epochs"] == 1
    assert any(
        c.startswith("lr: searched around 0.0005 instead of 0.001 (instability: 1 trial(s), e.g. GRU (run #4)")
        for c in proposal.changes
    )


# --- reports, loading, bad input ---------------------------------------------------------


def test_report_writes_markdown_and_self_contained_html(tmp_path, capsys):
    folder = imdb_sweep(tmp_path / "imdb")
    assert main(["report", str(folder), "--out", str(tmp_path / "r"), "--lang", "es"]) == 0
    md = (tmp_path / "r" / "REPORT.md").read_text()
    page = (tmp_path / "r" / "report.html").read_text()
    assert "| 3     | 0.2411       | 0.9056           | 0.2984     | 0.8882 (mejor) |" in md
    assert "![learning curves](images/imdb_report-curves.png)" in md
    # its only confusion matrix is the test split's: in the held-out section, not plotted as the chosen one's
    assert not (tmp_path / "r" / "images" / "imdb_report-confusion.png").exists()
    assert page.count("data:image/png;base64,") == 1 and 'src="images' not in page  # curves
    assert "<td>11142</td>" in page and "imdb_report-next-space.yaml" in md
    held = md.index("## Test reservado de la configuración elegida")
    assert md.index("Test reservado de LSTM (report)") > held and md.index("| 11142 ") > held
    assert "Con los pesos de su época 10, no de su mejor época (3): este barrido evaluó el test solo al final." in md


def test_plain_ray_tune_folders_load_with_a_named_metric(tmp_path, capsys):
    exp = tmp_path / "ray_exp"
    for i, (values, error) in enumerate([([0.5, 0.7], None), ([0.4], "RuntimeError: worker died")]):
        trial = exp / f"train_fn_{i:05d}"
        trial.mkdir(parents=True)
        (trial / "params.json").write_text(json.dumps({"lr": 0.01 * (i + 1), "width": 8}))
        lines = [
            json.dumps(
                {
                    "acc": v,
                    "training_iteration": k + 1,
                    "trial_id": f"r{i}",
                    "time_total_s": k + 1.0,
                    "config": {"lr": 0.01},
                }
            )
            for k, v in enumerate(values)
        ]
        (trial / "result.json").write_text("\n".join(lines) + "\n")
        if error:
            (trial / "error.txt").write_text(f"Traceback...\n{error}\n")
    assert main(["analyze", str(exp)]) == 2
    assert "pass --metric NAME" in capsys.readouterr().err
    assert main(["analyze", str(exp), "--metric", "acc"]) == 0
    out = capsys.readouterr().out
    assert "| run #1 | 0.01 | 0.700 | best acc of the sweep " in out
    assert "| ray_exp | 2      | 0.001       | 0.001           | 0%    |" in out  # nothing stopped early
    assert "failed: RuntimeError: worker died" in out


@pytest.mark.parametrize(
    "damage, message",
    [
        (
            lambda t: (t / "params.json").write_text("[1, 2]"),
            "params.json: holds list, not the trial's config (a JSON object)",
        ),
        (lambda t: (t / "params.json").write_text("{"), "params.json: not JSON (JSONDecodeError)"),
        (
            lambda t: (t / "result.json").write_text("[1]\n[2]\n"),
            "result.json: line 1: holds list, not a result (a JSON object)",
        ),
        (
            lambda t: (t / "result.json").write_text('garbage\n{"acc": 1}\n'),
            "result.json: line 1: not JSON (Expecting value)",
        ),
        (lambda t: ((t / "result.json").unlink(), (t / "result.json").mkdir()), "result.json: is not a file"),
    ],
)
def test_a_damaged_plain_ray_folder_is_one_line_naming_the_file(damage, message, tmp_path, capsys):
    """Issue 34.8: these were tracebacks, or a garbage result.json silently shown as '-'."""
    trial = tmp_path / "ray_exp" / "train_fn_00000"
    trial.mkdir(parents=True)
    (trial / "params.json").write_text(json.dumps({"lr": 0.01}))
    (trial / "result.json").write_text(json.dumps({"acc": 0.5, "training_iteration": 1}) + "\n")
    damage(trial)
    assert main(["analyze", str(tmp_path / "ray_exp"), "--metric", "acc"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"sweeplab: error: {trial}/{message}" and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "command",
    [
        ["analyze"],
        ["best", "--out", "{tmp}/best.yaml"],
        ["suggest", "--out", "{tmp}/next.yaml"],
        ["report", "--out", "{tmp}/r.html"],
    ],
)
def test_the_readers_of_a_sweep_read_files_only_neither_ray_nor_torch_nor_tuning(tmp_path, command):
    folder = gru_sweep(tmp_path / "gru")
    argv = [command[0], str(folder), *(a.format(tmp=tmp_path) for a in command[1:])]
    code = (
        "import sys, json; from sweeplab.cli import main; assert main(json.loads(sys.argv[1])) == 0; "
        "bad = [m for m in ('ray', 'torch', 'optuna', 'sweeplab.tuning') if m in sys.modules]; assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code, json.dumps(argv)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    "argv, message",
    [
        (["analyze", "/nonexistent/sweep"], "/nonexistent/sweep: no such folder"),
        (["analyze", "{tmp}"], "not a sweep folder"),
        (["analyze", "{gru}", "--metric", "val_nope"], "no trial reported metric 'val_nope'; reported: "),
        (
            ["analyze", "{gru}", "--baseline", "nope"],
            "--baseline nope: not a preset of this sweep; presets: original (ran: original)",
        ),
        (
            ["analyze", "{gru}", "--metric", "test_accuracy"],
            "test_accuracy: the test split is held out and never ranks trials",
        ),
        (
            ["best", "{gru}", "--then", "test_accuracy"],
            "--then test_accuracy: the test split is held out and never chooses",
        ),
        (["best", "{gru}", "--ties", "all"], "invalid choice: 'all'"),
        (["analyze", "{gru}", "--trial", "nope"], "no trial 'nope'"),
        (["best", "{gru}", "--where", "hidden_dim <<< 3"], "--where 'hidden_dim <<< 3': SyntaxError"),
        (["best", "{gru}", "--where", "nope > 3"], "--where 'nope > 3': "),
        (["best", "{gru}", "--where", "hidden_dim > 1000"], "no scored trial matches --where"),
        (["best", "{gru}", "--where", "@pd.io.common.os.system('id > {tmp}/f')"], "SyntaxError"),
        (
            ["best", "{gru}", "--where", "__import__('os').system('id') == 0"],
            "Call; allowed: comparisons, and, or, not",
        ),
        (["best", "{gru}", "--where", "hidden_dim.__class__ == 1"], "Attribute; allowed:"),
        (["best", "{gru}", "--where", "hidden_dim + 1 > 3"], "BinOp; allowed:"),
        (
            ["best", "{gru}", "--where", "test_accuracy > 0.5"],
            "test_accuracy: the test split is held out and never chooses",
        ),
        (["best", "{gru}", "--then", "val_nope"], "no metric or config key 'val_nope'"),
        (["best", "{gru}", "--pareto", "val_accuracy"], "--pareto 'val_accuracy': name two or more metrics"),
        (["best", "{tmp}"], "not a sweep folder"),
        (["best", "{gru}", "--out", "{tmp}"], "is a folder; give a file name"),
        (["suggest", "{gru}", "--bogus"], "unrecognized arguments: --bogus"),
        (["analyze", "{gru}", "--lang", "fr"], "invalid choice: 'fr'"),
    ],
)
def test_bad_analysis_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    gru = gru_sweep(tmp_path / "store" / "gru")
    (tmp_path / "empty").mkdir()
    argv = [a.format(tmp=tmp_path / "empty", gru=gru) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1], err
    assert not (tmp_path / "empty" / "f").exists()  # --where ran nothing


def test_a_storage_folder_with_two_sweeps_is_analysed_together_but_chosen_from_one(tmp_path, capsys):
    gru_sweep(tmp_path / "store" / "gru")
    imdb_sweep(tmp_path / "store" / "imdb")
    assert main(["analyze", str(tmp_path / "store")]) == 0
    out = capsys.readouterr().out
    assert "## Sweep gru_wandb" in out and "## Sweep imdb_report" in out
    assert main(["best", str(tmp_path / "store")]) == 2
    assert "holds 2 sweeps; name one sweep folder" in capsys.readouterr().err


DAMAGE = {  # file of the gru sweep -> (what it is overwritten with, what the one line says about it)
    "trials.parquet": (
        b"PAR1 cut",
        "not a Parquet file (cut short or damaged: Parquet magic bytes not found in footer)",
    ),
    "history.parquet": (b"", "not a Parquet file (cut short or damaged: Parquet file size is 0 bytes)"),
    "sweep.json": (b'{"metric": "val_macro_f1"', "not JSON (Expecting ',' delimiter: line 1 column 26)"),
    "journal.jsonl": (
        b'{"event": "end"\n{"event": "end", "trial_id": "gru1", "status": "ERROR", "error": null}\n',
        "line 1: not JSON (Expecting ',' delimiter: column 16)",
    ),
}


@pytest.mark.parametrize("name", DAMAGE)
@pytest.mark.parametrize("command", ["analyze", "best", "suggest", "report"])
def test_a_damaged_store_file_is_one_line_and_exit_2(command, name, tmp_path, capsys):
    gru = gru_sweep(tmp_path / "gru")
    content, what = DAMAGE[name]
    (gru / name).write_bytes(content)
    assert main([command, str(gru)]) == 2
    out, err = capsys.readouterr()
    assert err.splitlines() == [f"sweeplab: error: {gru / name}: {what}"] and not out


def test_a_damaged_sweep_in_a_storage_folder_is_left_out_with_one_line(tmp_path, capsys):
    gru_sweep(tmp_path / "store" / "gru")
    imdb_sweep(tmp_path / "store" / "imdb")
    bad = gru_sweep(tmp_path / "store" / "bad")
    (bad / "trials.parquet").write_bytes(b"PAR1 cut")
    assert main(["analyze", str(tmp_path / "store")]) == 0
    out, err = capsys.readouterr()
    assert "## Sweep gru_wandb" in out and "## Sweep imdb_report" in out
    assert err.splitlines() == [
        f"note: {bad}/trials.parquet: not a Parquet file (cut short or damaged: Parquet magic "
        "bytes not found in footer); that sweep is left out"
    ]
    for sweep in ("gru", "imdb"):
        (tmp_path / "store" / sweep / "sweep.json").write_bytes(b"[]")  # nothing left to analyse: an error
    assert main(["analyze", str(tmp_path / "store")]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"sweeplab: error: {bad}/trials.parquet: not a Parquet file (cut "
        "short or damaged: Parquet magic bytes not found in footer)"
    ]


def test_minority_and_divergence_wording(tmp_path):
    balanced = json.dumps([[40, 5, 5], [30, 20, 0], [25, 0, 25]])  # 50 rows a class: no minority
    skewed = json.dumps([[400, 0, 0], [30, 20, 0], [25, 0, 25]])
    for matrix, fires in ((balanced, False), (skewed, True)):
        sweep = sweep_of(
            tmp_path / f"b{fires}", [one(val_macro_f1=[0.6], val_accuracy=[0.85], val_confusion_matrix=[matrix])]
        )
        assert ("weak_minority" in {o.code for o in observe.observe(sweep)["x"]}) is fires
    error = "sweeplab.errors.TrialDiverged: loss became nan at epoch 8, step 4 (lr=0.0333); trial stopped"
    trial = dict(
        one({"lr": 0.05, "hidden_dim": 128}, val_macro_f1=[0.3, 0.2], val_accuracy=[0.9, 0.9]),
        status="ERROR",
        error=error,
    )
    sweep = sweep_of(tmp_path / "d", [*population(), trial])
    assert [o.en for o in observe.observe(sweep)["x"]] == [
        "diverged: loss became nan at epoch 8, step 4 (lr=0.0333), at the sweep's highest learning rate (0.05)",
    ]  # and not "failed", nor "weak on minority classes": divergence explains the gap


# --- mode collapse (issue 16) ------------------------------------------------------------


def gan_trial(trial_id, fd, recognisable, entropy, top_share=None):
    """A GAN trial's two reports (curves per epoch); ``top_share`` None: a store from before
    that column was reported."""
    curves = {"frechet_distance": fd, "recognisable": recognisable, "class_entropy": entropy}
    if top_share is not None:
        curves["top_class_share"] = top_share
    config = {"hidden": 256, "latent_dim": 100, "lr_g": 2e-4, "lr_d": 2e-4, "batch_size": 64, "epochs": 2}
    return {"id": trial_id, "config": config, "curves": curves}


def test_mode_collapse_names_the_entropy_and_the_dominant_digit(tmp_path):
    sweep = sweep_of(
        tmp_path / "gan",
        [
            # issue 16's pair: 64 identical zeros (recognisable 1.000) against a diverse generator
            gan_trial("collapsed", [60.0, 45.0], [0.9, 1.0], [1.2, 0.0], [0.6, 1.0]),
            gan_trial("diverse", [30.0, 20.0], [0.7, 0.803], [3.1, 3.28], [0.2, 0.14]),
            gan_trial("one_digit_dominates", [40.0, 35.0], [0.8, 0.85], [2.5, 2.42], [0.5, 0.55]),
            gan_trial("quiet_at_its_best", [25.0, 50.0], [0.6, 1.0], [3.0, 0.5], [0.2, 0.9]),
        ],
        experiment="gan",
        metric="frechet_distance",
        mode="min",
    )
    seen = observe.observe(sweep)
    collapse = {tid: [o for o in obs if o.code == "mode_collapse"] for tid, obs in seen.items()}
    assert [(o.en, o.es) for o in collapse["collapsed"]] == [
        (
            "mode collapse: class entropy 0.00 bits of 3.32, one digit in 100% of the samples; the generator draws few digits",
            "colapso de modos: entropía de clases 0.00 bits de 3.32, un dígito en el 100% de las muestras; "
            "el generador dibuja pocos dígitos",
        )
    ]
    # 2.42 bits is above the entropy threshold; one digit in 55% of the samples is not
    assert [o.en for o in collapse["one_digit_dominates"]] == [
        "mode collapse: class entropy 2.42 bits of 3.32, one digit in 55% of the samples; the generator draws few digits"
    ]
    # judged at its best epoch (the first, by the distance), not at its collapsed last one
    assert collapse["diverse"] == [] and collapse["quiet_at_its_best"] == []
    assert "best" in {o.code for o in seen["diverse"]}  # the distance chooses the diverse generator


def test_mode_collapse_needs_only_the_class_entropy_column(tmp_path):
    # the default sweep of issue 16 as stored then: metric recognisable, no experiment id,
    # no top_class_share; the collapsed trial is the sweep's best and still flagged
    sweep = sweep_of(
        tmp_path / "old",
        [
            gan_trial("collapsed", [45.0], [1.0], [0.0]),
            gan_trial("diverse", [20.0], [0.803], [3.28]),
        ],
        experiment=None,
        metric="recognisable",
        mode="max",
    )
    seen = observe.observe(sweep)
    assert [(o.code, o.en, o.es) for o in seen["collapsed"]] == [
        ("best", "best recognisable of the sweep", "mejor recognisable del barrido"),
        (
            "mode_collapse",
            "mode collapse: class entropy 0.00 bits of 3.32; the generator draws few digits",
            "colapso de modos: entropía de clases 0.00 bits de 3.32; el generador dibuja pocos dígitos",
        ),
    ]
    assert seen["diverse"] == []
    # without the column the rule says nothing
    plain = sweep_of(tmp_path / "plain", [*population(), one(val_macro_f1=[0.9])])
    assert not any(o.code == "mode_collapse" for obs in observe.observe(plain).values() for o in obs)


# --- intervals, ties, the chosen epoch, honest conclusions (issue 16) ----------------------


def _reference_macro_f1(y, pred):
    """Macro F1 of one resample by its definition, one class at a time."""
    scores = []
    for c in sorted(set(y.tolist()) | set(pred.tolist())):
        tp = int(((y == c) & (pred == c)).sum())
        scores.append(2 * tp / (int((y == c).sum()) + int((pred == c).sum())))
    return sum(scores) / len(scores)


def _percentiles(values):
    import numpy as np

    return tuple(float(v) for v in np.quantile(values, [0.025, 0.975]))


def test_interval_numbers_equal_a_plain_loop_over_the_same_resamples(tmp_path):
    import numpy as np
    from sklearn.metrics import f1_score

    sweep = load.load_sweep(str(predictions_sweep(tmp_path / "p")))
    y = np.array(VAL_Y)
    preds = {
        t: np.array(json.loads(sweep.trials.set_index("trial_id").at[t, "val_predictions"])["y_pred"])
        for t, *_ in PREDICTED_RUNS
    }
    n = len(y)
    idx = np.random.default_rng(bootstrap.SEED).integers(0, n, size=(bootstrap.B, n), dtype=np.int32)
    for b in range(5):  # the reference is scikit-learn's definition, absent classes included
        for p in preds.values():
            assert _reference_macro_f1(y[idx[b]], p[idx[b]]) == pytest.approx(
                f1_score(y[idx[b]], p[idx[b]], average="macro", zero_division=0), abs=1e-15
            )
    statistics = {"val_macro_f1": _reference_macro_f1, "val_accuracy": lambda a, b: float(np.mean(a == b))}
    for metric, stat in statistics.items():
        boot = intervals.of(sweep, metric)
        loop = {t: np.array([stat(y[ix], p[ix]) for ix in idx]) for t, p in preds.items()}
        loop[intervals.TRIVIAL] = np.array([stat(y[ix], np.zeros(n, dtype=int)) for ix in idx])  # majority: 0
        for t, values in loop.items():
            j = boot.trials.index(t)
            np.testing.assert_allclose(boot.samples[:, j], values, rtol=1e-12, atol=1e-15)
            assert boot.point[j] == pytest.approx(
                stat(y, preds[t] if t in preds else np.zeros(n, dtype=int)), abs=1e-15
            )
        for t in preds:
            assert boot.interval(t) == pytest.approx(_percentiles(loop[t]), abs=1e-14)
            _, lo, hi = boot.difference(t, "b")
            assert (lo, hi) == pytest.approx(_percentiles(loop[t] - loop["b"]), abs=1e-14)
            _, lo, hi = boot.difference(t, intervals.TRIVIAL)
            assert (lo, hi) == pytest.approx(_percentiles(loop[t] - loop[intervals.TRIVIAL]), abs=1e-14)
    # the mean of per-row values (freq's squared errors per block), and its trivial predictor
    freq = load.load_sweep(str(freq_trivial_sweep(tmp_path / "f")))
    boot = intervals.of(freq)
    rows = {t: json.loads(raw) for t, raw in zip(freq.trials["trial_id"], freq.trials["val_predictions"])}
    idx = np.random.default_rng(bootstrap.SEED).integers(0, 40, size=(bootstrap.B, 40), dtype=np.int32)
    for t, p in rows.items():
        values = np.array(p["values"])
        np.testing.assert_allclose(boot.samples[:, boot.trials.index(t)], [values[ix].mean() for ix in idx], rtol=1e-12)
    trivial = np.array(rows["f1"]["trivial"])
    np.testing.assert_allclose(boot.samples[:, -1], [trivial[ix].mean() for ix in idx], rtol=1e-12)


def test_the_chosen_config_is_the_cheapest_of_the_trials_tied_with_the_best(tmp_path):
    sweep = load.load_sweep(str(predictions_sweep(tmp_path / "p")))
    boot = intervals.of(sweep)
    assert boot.ties("a") == ["a", "b"]  # c is clearly worse
    pick = select.choice(sweep)
    assert (pick.trial_id, pick.best, pick.tied) == ("b", "a", ["a", "b"])
    assert pick.reason == (
        "GRU (original) (trial b): val_macro_f1 0.885 [0.844, 0.922], tied with the best, GRU (run #1) (0.898), and the "
        "cheapest of the 2 trials statistically tied (95% paired bootstrap interval of the difference includes zero), "
        "2 of them within one standard error of the best (the one-standard-error rule): capacity hidden_dim x "
        "n_layers x bidirectional = 256 against 512"
    )
    best = select.choice(sweep, ties="best")
    assert best.trial_id == "a" and best.reason == (
        "GRU (run #1) (trial a): val_macro_f1 0.898 [0.860, 0.932], the best; 1 other trial(s) statistically tied with it "
        "(95% paired bootstrap interval of the difference includes zero); tie-breaking off (--ties best)"
    )
    # without the tied trial, nothing is tied with the best
    alone = select.choice(sweep, where="hidden_dim != 64")
    assert alone.trial_id == "a" and alone.reason.endswith(
        "the best among the trials where hidden_dim != 64, ahead of every other trial beyond noise "
        "(95% paired bootstrap)"
    )
    table = tables.trial_table(sweep, observe.observe(sweep), "en", conclude.baseline_trial(sweep))
    assert [row[5:7] for row in table.rows] == [
        ["0.900 [0.863, 0.933]", "0.898 [0.860, 0.932]"],
        ["0.890 [0.853, 0.923]", "0.885 [0.844, 0.922] (tie)"],
        ["0.600 [0.543, 0.663]", "0.579 [0.517, 0.642]"],
    ]
    assert table.note == (
        "[a, b]: 95% interval (paired bootstrap, 1000 resamples of the 300 validation rows). "
        "(tie): the interval of the best trial minus this one includes zero."
    )
    assert tables.trial_table(sweep, observe.observe(sweep), "es").rows[1][6] == "0.885 [0.844, 0.922] (empate)"


def test_best_writes_the_chosen_epoch_with_the_config_train_reads(tmp_path, capsys):
    folder = predictions_sweep(tmp_path / "p")
    out = tmp_path / "best.yaml"
    assert main(["best", str(folder), "--out", str(out)]) == 0
    assert capsys.readouterr().out.startswith(
        "GRU (original) (trial b): val_macro_f1 0.885 [0.844, 0.922], tied with the best"
    )
    written = yaml.safe_load(out.read_text())
    block = written.pop("chosen")
    config = {"cell": "gru", "hidden_dim": 64, "n_layers": 2, "bidirectional": True, "lr": 0.001, "epochs": 3}
    assert written == config  # the config keys stay at the top level
    f1_b = load.load_sweep(str(folder)).facts.set_index("trial_id").at["b", "best"]
    assert block == {
        "trial": "b",
        "sweep": "gru_predictions",
        "epoch": 2,
        "metric": "val_macro_f1",
        "value": f1_b,
        "config_sha": chosen.digest(config),
    }
    assert chosen.digest(config) == "364b1966c851"
    from sweeplab.local_training import single_config

    _, cfg, picked = single_config("seqclf", None, str(out), [], smoke=False)
    assert (cfg.hidden_dim, picked.epoch, picked.trial, picked.value) == (64, 2, "b", f1_b)
    # tie-breaking off: the best trial, its own best epoch
    assert main(["best", str(folder), "--ties", "best", "--out", str(out)]) == 0
    assert yaml.safe_load(out.read_text())["chosen"]["trial"] == "a"
    assert yaml.safe_load(out.read_text())["chosen"]["epoch"] == 3


def test_conclusions_say_tie_or_beat_with_the_paired_interval(tmp_path):
    sweep = load.load_sweep(str(predictions_sweep(tmp_path / "p")))
    assert conclude.conclusions(sweep, "en", conclude.baseline_trial(sweep)) == [
        "No configuration beat the baseline GRU (original) on val_macro_f1 beyond noise: the best other trial, "
        "GRU (run #1), reached 0.898 against 0.885, higher by 0.0135 (95% interval -0.014 to 0.041): a tie.",
        "On val_accuracy, none beat it beyond noise: the best other trial, GRU (run #1), reached 0.900 against 0.890, "
        "higher by 0.01 (95% interval -0.013 to 0.033): a tie.",
        "1 other trial(s) are statistically tied with the best, GRU (run #1), on val_macro_f1 (the 95% paired "
        "interval of the difference includes zero): GRU (original).",
    ]
    assert conclude.conclusions(sweep, "en", conclude.baseline_trial(sweep, "small"))[:2] == [
        "2 of 2 configurations beat the baseline GRU (small) on val_macro_f1 beyond noise; the best, GRU (run #1): "
        "0.898 against 0.579, higher by 0.319 (55.1%; 95% interval 0.259 to 0.377).",
        "On val_accuracy, 2 of 2 beat it beyond noise; the best, GRU (run #1): 0.900 against 0.600, higher by 0.3 "
        "(50.0%; 95% interval 0.240 to 0.353).",
    ]
    assert conclude.conclusions(sweep, "es", conclude.baseline_trial(sweep))[0] == (
        "Ninguna configuración superó a la base GRU (original) en val_macro_f1 más allá del ruido: la mejor de las "
        "demás, GRU (run #1), alcanzó 0.898 frente a 0.885, más alta en 0.0135 (intervalo del 95%: -0.014 a 0.041): "
        "un empate."
    )


def test_a_baseline_the_scheduler_cut_is_named_and_compared_at_equal_training(tmp_path):
    original = {
        "id": "orig",
        "preset": "original",
        "curves": {"val_macro_f1": [0.10, 0.15]},
        "config": {"hidden_dim": 64, "n_layers": 2, "bidirectional": True, "lr": 0.001, "epochs": 60},
    }
    others = [
        {
            "id": f"x{i}",
            "curves": {"val_macro_f1": values},
            "config": {"hidden_dim": 64, "n_layers": 2, "bidirectional": True, "lr": 0.002 * i, "epochs": 6},
        }
        for i, values in enumerate(([0.12, 0.20, 0.5, 0.7, 0.8, 0.99], [0.05, 0.14, 0.3, 0.6, 0.8, 0.9]), start=1)
    ]
    sweep = sweep_of(tmp_path, [original, *others])
    base = conclude.baseline_trial(sweep)
    assert conclude.conclusions(sweep, "en", base)[:2] == [
        "The baseline GRU (original) did not finish: stopped by the scheduler at epoch 2 of 60, so every trial is "
        "compared with it at equal training (each trial's best val_macro_f1 within its first 2 epochs).",
        "At equal training (2 epochs), 1 of 2 configurations beat the baseline GRU (original) on val_macro_f1 by more "
        "than a 1% margin; the best, GRU (run #2): 0.200 against 0.150, higher by 0.05 (33.3%).",
    ]  # not "+560 %": 0.99 after 6 epochs against 0.15 after 2
    assert conclude.conclusions(sweep, "es", base)[0] == (
        "La base GRU (original) no terminó: detenida por el planificador en la época 2 de 60, así que cada trial se "
        "compara con ella con igual entrenamiento (el mejor val_macro_f1 de cada trial en sus primeras 2 épocas)."
    )


def test_a_cut_baseline_no_other_trial_has_the_metric_within_its_epochs_of_leaves_no_gap(tmp_path):
    """No rival has a value in the baseline's 2 epochs: the comparison has nothing to say, and the
    conclusions name the top trial instead of holding a None (which the report's join failed on)."""
    original = {
        "id": "orig",
        "preset": "original",
        "curves": {"val_macro_f1": [0.10, 0.15]},
        "config": {"hidden_dim": 64, "n_layers": 2, "bidirectional": True, "lr": 0.001, "epochs": 60},
    }
    others = [
        {
            "id": f"x{i}",
            "curves": {"val_macro_f1": [math.nan, math.nan, 0.5, value]},
            "config": {"hidden_dim": 64, "n_layers": 2, "bidirectional": True, "lr": 0.002 * i, "epochs": 4},
        }
        for i, value in enumerate((0.99, 0.9), start=1)
    ]
    sweep = sweep_of(tmp_path, [original, *others])
    said = conclude.conclusions(sweep, "en", conclude.baseline_trial(sweep))
    assert all(isinstance(s, str) for s in said), said
    assert said[1] == "The best trial, GRU (run #2), reached val_macro_f1 0.990; median 0.900 over 3 scored trials."


def test_no_trial_beats_the_trivial_predictor_said_first_with_the_experiments_diagnosis(tmp_path):
    sweep = load.load_sweep(str(freq_trivial_sweep(tmp_path / "f")))
    en = conclude.conclusions(sweep, "en")
    assert en[0] == (
        "No trial beat the trivial predictor (predicting zero: val_mse 0.500) beyond noise: the best, "
        "LSTM (run #1), reached 0.500 (lower by 0.0005; 95% interval -0.00249 to 0.00333)."
    )
    assert en[1] == registry.EXPERIMENTS["freq"].diagnosis
    assert en[1].startswith(
        "Why: with the assignment's noise (phase_noise 2π, the default) each sample's phase is "
        "drawn uniformly over the whole circle"
    )
    assert "`sweeplab tune freq_noise`" in en[1]
    assert en[2:] == [
        "The best trial, LSTM (run #1), reached val_mse 0.500 (95% interval 0.496 to 0.504); median 0.501 over 3 "
        "scored trials.",
    ]  # no ties listed: among trivial predictors, which ties which says nothing
    base = sweep.facts["trial_id"].iloc[1]
    assert conclude.conclusions(sweep, "en", baseline=base)[2] == (
        "Comparing with the baseline LSTM (run #2) says nothing here: every configuration, the baseline included, "
        "is at the trivial predictor's level."
    )  # never "beat ... by -0.0 %"
    es = conclude.conclusions(sweep, "es")
    assert es[0] == (
        "Ningún trial superó al predictor trivial (predecir cero: val_mse 0.500) más allá del ruido: el "
        "mejor, LSTM (run #1), alcanzó 0.500 (más baja en 0.0005; intervalo del 95%: -0.00249 a 0.00333)."
    )
    assert es[1] == registry.EXPERIMENTS["freq"].diagnosis_es
    # without predictions, the observation rule's margin says it, and says it is a margin
    old = sweep_of(tmp_path / "old", [one(val_mse=[0.499], val_zero_mse=[0.5])], "freq", "val_mse", "min")
    assert conclude.conclusions(old, "en")[:2] == [
        "No trial beat the trivial predictor (predicting zero: val_mse 0.500): every scored trial is within 2% of it; "
        "the best, LSTM (run #1), reached 0.499.",
        registry.EXPERIMENTS["freq"].diagnosis,
    ]


def test_analyze_shows_test_figures_only_in_the_held_out_section(tmp_path, capsys):
    assert main(["analyze", str(predictions_sweep(tmp_path / "p"))]) == 0
    out = capsys.readouterr().out
    held = out.index("## Held-out test of the chosen config")
    assert out.index("## Chosen config: GRU (original)") < held
    assert out.index("**Confusion matrix of GRU (original) (val)**") < held < out.index("(test)**")
    assert "| test_" not in out[:held] and "Test " not in out[:held]  # no test figure before that section
    assert "| test_macro_f1 | 0.835 |" in out
    assert (
        "On the weights of its best epoch (2) by val_macro_f1. The test split chose nothing and compared nothing" in out
    )
    assert all("test" not in m.lower() for m in tables.table_metrics(load.load_sweep(str(tmp_path / "p"))))


def test_analyze_of_an_old_sweep_says_once_it_has_no_intervals(tmp_path, capsys):
    assert main(["analyze", str(gru_sweep(tmp_path / "gru"))]) == 0
    out = capsys.readouterr().out
    assert out.lower().count("no intervals") == 1
    assert 'No intervals (sweep stored no predictions): "beat" means better by more than 1%' in out
    assert "[0." not in out and "(tie)" not in out
    assert "| **GRU (original)** | **64**     | **2**    | **Yes**       | **0.001** | **0.980** | **0.920** |" in out


def test_a_sweep_reads_with_the_table_it_recorded_not_the_registry_of_today(tmp_path):
    """sweep.json keeps the experiment's table as it was; a later registry edit does not
    change an old sweep's tables, its capacity (the cost of a tie) or its trivial baseline."""
    import json

    from sweeplab.analysis import load, tables

    folder = gru_sweep(tmp_path / "gru")
    sweep = load.load_sweep(str(folder))
    assert tables.table_params(sweep)[:4] == ["hidden_dim", "n_layers", "bidirectional", "lr"]  # as the registry has it
    meta = json.loads((folder / "sweep.json").read_text())
    assert meta["table"] == {
        "table": ["hidden_dim", "n_layers", "bidirectional", "lr"],
        "table_metrics": ["val_accuracy", "val_macro_f1"],
        "capacity": ["hidden_dim", "n_layers", "bidirectional"],
        "trivial": "majority",
    }
    meta["table"] = {
        "table": ["lr", "hidden_dim"],
        "table_metrics": ["val_accuracy"],
        "capacity": ["hidden_dim"],
        "trivial": None,
    }
    (folder / "sweep.json").write_text(json.dumps(meta))
    old = load.load_sweep(str(folder))
    assert tables.table_params(old)[:2] == ["lr", "hidden_dim"]
    assert tables.table_metrics(old) == ["val_macro_f1", "val_accuracy"]
    assert (old.experiment.capacity, old.experiment.trivial) == (("hidden_dim",), None)


def test_the_sweeps_summary_compares_the_chosen_config_with_the_baseline(tmp_path):
    """The headline a user looks for in `tune`'s own summary: the chosen trial against the
    baseline preset, both with intervals, the relative change and the paired interval."""
    from sweeplab.analysis.summary import summarize

    sweep = load.load_sweep(str(predictions_sweep(tmp_path / "p")))
    assert conclude.headline(sweep, "a") == (
        "against the baseline GRU (original): val_macro_f1 0.898 [0.860, 0.932] against 0.885 [0.844, 0.922], "
        "higher by 0.0135 (1.5% better); 95% interval of chosen - baseline -0.014 to 0.041, a tie: the interval "
        "includes zero"
    )
    lines: list[str] = []
    assert summarize(str(tmp_path / "p"), "val_macro_f1", "max", echo=lines.append) == 0
    chosen = next(i for i, line in enumerate(lines) if line.startswith("chosen: "))
    assert lines[chosen + 1] == "the chosen trial is the baseline GRU (original) itself: no other config beat it"
    plain = load.load_sweep(str(gru_sweep(tmp_path / "g")))  # no predictions: the 1 % margin, said as such
    assert conclude.headline(plain, "gru1") == (
        "against the baseline GRU (original): val_macro_f1 0.890 against 0.920, lower by 0.03 (3.3% worse); "
        "no intervals: worse by more than a 1% margin"
    )


def test_the_summary_says_when_no_searched_config_ran(tmp_path):
    """A time budget that ended with the presets: the summary says nothing was searched and
    how many presets ran, instead of a table that reads like a search (issue 32.5)."""
    from sweeplab.analysis.summary import summarize

    trials = [
        {
            "trial_id": t,
            "status": "TERMINATED",
            "preset": p,
            "error": None,
            "config/lr": lr,
            "iterations": 2,
            "best/val_mse": v,
            "best_iteration": 2,
        }
        for t, p, lr, v in (("a", "initial", 1e-3, 0.3), ("b", "tuned", 5e-4, 0.2))
    ]
    history = [{"trial_id": t, "training_iteration": i, "val_mse": 0.5} for t in "ab" for i in (1, 2)]
    presets = {"initial": {"lr": 1e-3}, "tuned": {"lr": 5e-4}, "third": {"lr": 1e-2}}
    folder = write_sweep(tmp_path / "s", trials, history, meta_for(None, "val_mse", "min", "s", presets=presets))
    lines: list[str] = []
    summarize(str(folder), "val_mse", "min", echo=lines.append)
    assert (
        "note: no searched config ran: the budget ended with the presets; 2 of its 3 presets ran. The presets "
        "alone are no search; give the sweep more budget (--num-samples, --epoch-budget or --time-budget) or "
        "fewer presets"
    ) in lines
    trials.append({**trials[0], "trial_id": "c", "preset": None, "config/lr": 0.05})
    write_sweep(tmp_path / "t", trials, history, meta_for(None, "val_mse", "min", "t", presets=presets))
    lines.clear()
    summarize(str(tmp_path / "t"), "val_mse", "min", echo=lines.append)
    assert not any("no searched config" in line for line in lines)
