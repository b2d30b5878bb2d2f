"""Configs a warm-started sweep already knows (known.py): an earlier sweep's trial of the same
full config, seed and code, run to the end of its budget, is taken as measured instead of
trained again (issue 32.4: the suggest -> warm-start loop re-ran 60 of its 96 epochs)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis_fixtures import meta_for, write_sweep
from sweeplab import known, plan, record, store
from sweeplab.search.rung_tpe import RungTPE
from sweeplab.record import SweepRecord


def prepare(tmp_path, **kw):
    return plan.prepare(
        plan.SweepOptions(storage=str(tmp_path / "sweeps"), name="new", target="freq", smoke=True, **kw)
    )


def earlier(tmp_path, code: str, seed: int = 0, name: str = "earlier"):
    """An earlier freq smoke sweep: a (initial, full length), b (tuned, stopped at epoch 1),
    c (initial's values on another seed), d (a searched config, full length)."""
    base = {"lr_schedule": "plateau", "clip_grad_norm": 1.0, "epochs": 2, "duration": 1.0, "seed": seed}
    configs = {
        "a": {**base, "hidden_size": 32, "lr": 0.001, "seq_length": 10},
        "b": {**base, "hidden_size": 64, "lr": 0.0005, "seq_length": 50},
        "c": {**base, "seed": seed + 1, "hidden_size": 32, "lr": 0.001, "seq_length": 10},
        "d": {**base, "hidden_size": 64, "lr": 0.0004, "seq_length": 10},
    }
    lengths = {"a": 2, "b": 1, "c": 2, "d": 2}
    trials, history = [], []
    for t, config in configs.items():
        n = lengths[t]
        trials.append(
            {
                "trial_id": t,
                "status": "TERMINATED",
                "preset": None,
                "error": None,
                "iterations": n,
                "stopped_at_rung": 1 if n == 1 else None,
                "val_predictions": json.dumps([0.1, 0.2]),
                **{f"config/{k}": v for k, v in config.items()},
            }
        )
        history += [
            {
                "trial_id": t,
                "training_iteration": i,
                "epoch": i,
                "val_mse": 0.5 - 0.01 * i - 0.001 * ord(t),
                "test_mse": 0.6,
                "time_total_s": float(i),
            }
            for i in range(1, n + 1)
        ]
    meta = {**meta_for("freq", "val_mse", "min", name, space="freq"), "versions": {record.CODE: code}}
    return write_sweep(tmp_path / name, trials, history, meta)


def test_only_full_length_trials_of_the_same_config_seed_and_code_are_known(tmp_path, capsys):
    code = known.code_digest(None)
    folder = earlier(tmp_path, code)
    prep = prepare(tmp_path, warm_start=[str(folder)])
    assert prep.code == code
    # a: initial's config, full length; b was cut at its rung; c ran on another seed; d: searched, full length
    assert [k.source for k in prep.known] == ["earlier/a", "earlier/d"]
    a = prep.known[0]
    assert (
        a.trial_id == "a-known"
        and a.params["hidden_size"] == 32
        and a.scores("val_mse") == {1: pytest.approx(0.5 - 0.01 - 0.097), 2: pytest.approx(0.5 - 0.02 - 0.097)}
    )
    assert a.predictions == "[0.1, 0.2]"
    assert (
        "note: 2 config(s) measured before with the same seed and code are not trained again (their stored "
        "figures are this sweep's: earlier/a, earlier/d); the budget goes to new configs"
    ) in capsys.readouterr().out
    other = earlier(tmp_path, "0000other0000000", name="other")  # another code: measured again, and said
    assert prepare(tmp_path, warm_start=[str(other)]).known == ()
    assert (
        "note: 4 earlier trial(s) ran other code (or a sweeplab that recorded none): their configs are measured "
        "again where they come up"
    ) in capsys.readouterr().out
    # a sweep on seed 1 knows nothing of a sweep on seed 0 (c's config says seed 1, its sweep ran on 0)
    assert prepare(tmp_path, warm_start=[str(folder)], seed=1).known == ()


def test_a_known_config_goes_into_the_store_measured_and_survives_a_reload_and_a_resume(tmp_path):
    folder = earlier(tmp_path, known.code_digest(None))
    prep = prepare(tmp_path, warm_start=[str(folder)])
    uri = str(tmp_path / "s")
    recorder = store.SweepRecorder(uri, SweepRecord(), "val_mse", "min", presets=prep.spec.preset_configs())
    recorder.open()
    for k in prep.known:
        recorder.measured(k)
        recorder.measured(k)  # once only
    reread = store.SweepRecorder(uri, None, "val_mse", "min")
    reread.load()  # from the journal
    row = reread.trials["a-known"]
    assert (row["status"], row["preset"], row["measured_in"], row["epochs_trained"], row["iterations"]) == (
        "TERMINATED",
        "initial",
        "earlier/a",
        0,
        2,
    )
    assert row["best/val_mse"] == pytest.approx(0.5 - 0.02 - 0.097) and row["val_predictions"] == "[0.1, 0.2]"
    assert sorted(it for t, it in reread.history if t == "a-known") == [1, 2]
    assert reread.reconcile(set()) == []  # Tune never knows them: they are not "lost" on a resume
    assert reread.close({}) == [] and "a-known" in reread.trials  # nor dropped as orphans at the end
    trials = pd.read_parquet(tmp_path / "s" / store.TRIALS).set_index("trial_id")
    assert trials.loc["d-known", "measured_in"] == "earlier/d" and trials.loc["d-known", "epochs_trained"] == 0


def test_rung_tpe_never_proposes_a_known_config_and_learns_its_scores(tmp_path):
    from ray import tune

    space = {"lr": tune.choice([0.001, 0.01]), "width": tune.choice([8, 16])}
    taken = [({"lr": 0.001, "width": 8}, {1: 0.4, 3: 0.3}), ({"lr": 0.01, "width": 8}, {1: 0.5})]
    s = RungTPE(
        max_t=3,
        grace_period=1,
        reduction_factor=3,
        seed=0,
        known=taken,
        points_to_evaluate=[{"lr": 0.001, "width": 8}, {"lr": 0.001, "width": 16}],
    )
    s.set_search_properties("loss", "min", space)
    proposed = [s.suggest(f"t{i}") for i in range(2)]
    assert proposed == [{"lr": 0.001, "width": 16}, {"lr": 0.01, "width": 16}]  # the known preset is skipped
    assert s.suggest("t9") is not None and len(s.studies[1].trials) == 2 and len(s.studies[3].trials) == 1


def test_the_promotion_scheduler_counts_a_known_configs_rung_scores(tmp_path):
    from test_search import FakeController, FakeTrial, result, scheduler

    folder = earlier(tmp_path, known.code_digest(None))
    prep = prepare(tmp_path, warm_start=[str(folder)])
    uri = str(tmp_path / "s")
    recorder = store.SweepRecorder(uri, SweepRecord(), "acc", "max")
    recorder.open()
    measured = known.Known(
        source="earlier/x",
        trial_id="x-known",
        config=prep.known[0].config,
        rows=(((("training_iteration", 1), ("acc", 0.9))), (("training_iteration", 2), ("acc", 0.95))),
    )
    recorder.measured(measured)
    s = scheduler(store_uri=uri)  # rungs at 1 (eta 3)
    trials = [FakeTrial(t) for t in "pq"]
    ctrl = FakeController(trials)
    # the known config is the rung's best and went past it: it holds the rung's one promotion
    assert [s.on_trial_result(ctrl, t, result(1, v)) for t, v in zip(trials, (0.5, 0.6))] == ["PAUSE", "PAUSE"]
    assert s.rungs[1]["x-known"] == 0.9 and "x-known" in s.promoted[1] and s.spent == 2
    recorder.close({})


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_the_suggest_warm_start_loop_does_not_train_a_config_it_knows_again(tmp_path, capsys):
    """The loop as a user runs it: a sweep, suggest, then the printed next command: the
    presets and the earlier sweep's full-length configs are taken as measured (the same
    figures), and every epoch trained goes to a config the first sweep did not run."""
    from sweeplab.cli import main

    storage = tmp_path / "sweeps"
    assert main(["tune", "freq_clean", "--smoke", "--storage", str(storage), "--name", "a", "--quiet"]) == 0
    assert main(["suggest", str(storage / "a"), "--out", str(tmp_path / "next.yaml")]) == 0
    assert (
        main(
            [
                "tune",
                "--space",
                str(tmp_path / "next.yaml"),
                "--warm-start",
                str(storage / "a"),
                "--smoke",
                "--storage",
                str(storage),
                "--name",
                "b",
                "--quiet",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    first = pd.read_parquet(storage / "a" / "trials.parquet")
    second = pd.read_parquet(storage / "b" / "trials.parquet")
    measured = second[second["measured_in"].notna()]
    stopped = first["stopped_at_rung"].notna() if "stopped_at_rung" in first else False
    full = first[(first["status"] == "TERMINATED") & ~stopped & (first["iterations"] == first["config/epochs"])]
    assert len(measured) == len(full) >= 2 and set(measured["preset"].dropna()) >= {"initial", "tuned"}
    assert (measured["epochs_trained"] == 0).all()
    by_source = first.set_index("trial_id")["best/val_mse"]
    assert all(row["best/val_mse"] == by_source[row["measured_in"].split("/")[1]] for _, row in measured.iterrows())
    config = [c for c in second.columns if c.startswith("config/")]
    trained = second[second["measured_in"].isna()]
    key = lambda frame: set(map(tuple, frame[config].astype(str).to_numpy()))  # noqa: E731
    assert not key(trained) & key(full[config])  # nothing measured was trained again
    assert "are not trained again (their stored figures are this sweep's" in out  # said before it starts
    assert "were taken as they are, not trained again" in out  # and in the summary
