"""--warm-start: earlier sweeps' trials read from their results stores (search/warm.py) and
learnt by RungTPE before its first config."""

from __future__ import annotations

import optuna
import pytest
from ray import tune

from analysis_fixtures import meta_for, write_sweep
from sweeplab import plan
from sweeplab.errors import UserError
from sweeplab.search.rung_tpe import RungTPE

# seqclf_gru's space: hidden_dim {32, 64, 128}, n_layers {1, 2, 3}, bidirectional, lr in
# [1e-3, 5e-2] (log), label_smoothing {0, 0.1}; fixed cell gru, epochs 60; rungs 10, 30.
IN_SPACE = {"hidden_dim": 64, "n_layers": 2, "bidirectional": True, "lr": 0.01, "label_smoothing": 0.1}


def earlier_sweep(folder, experiment="seqclf", epochs=12):
    """Four trials of an earlier seqclf sweep (12 epochs a trial): two in seqclf_gru's space
    (the second recorded without label_smoothing, which its sweep.json's default fills in),
    one with a hidden_dim outside it, one with an lr outside it."""
    configs = {
        "a": IN_SPACE,
        "b": {"hidden_dim": 32, "n_layers": 1, "bidirectional": False, "lr": 0.02},
        "c": {**IN_SPACE, "hidden_dim": 256},
        "d": {**IN_SPACE, "lr": 0.5},
    }
    finals = {"a": 0.80, "b": 0.90, "c": 0.95, "d": 0.99}
    trials, history = [], []
    for t, config in configs.items():
        trials.append(
            {
                "trial_id": t,
                "status": "TERMINATED",
                "preset": None,
                "error": None,
                **{f"config/{k}": v for k, v in {"cell": "gru", "epochs": epochs, **config}.items()},
            }
        )
        for it in range(1, epochs + 1):
            history.append({"trial_id": t, "training_iteration": it, "val_macro_f1": finals[t] * it / epochs})
    return write_sweep(folder, trials, history, meta_for(experiment, "val_macro_f1", "max", "earlier"))


def prepare(tmp_path, **kw):
    return plan.prepare(plan.SweepOptions(target="seqclf_gru", storage=str(tmp_path / "sweeps"), name="new", **kw))


def test_the_trials_of_an_earlier_sweep_that_lie_in_this_space_are_read_with_their_scores(tmp_path, capsys):
    earlier = earlier_sweep(tmp_path / "earlier")
    prior = prepare(tmp_path, warm_start=[str(earlier)]).prior
    curve = lambda final: {it: pytest.approx(final * it / 12) for it in range(1, 13)}  # noqa: E731
    assert prior == (
        (IN_SPACE, curve(0.80)),
        (
            {**IN_SPACE, "hidden_dim": 32, "n_layers": 1, "bidirectional": False, "lr": 0.02, "label_smoothing": 0.0},
            curve(0.90),
        ),
    )
    out = capsys.readouterr().out
    assert (
        "note: --warm-start earlier ran with other fixed values: epochs=12 (here 60); its scores are used as they are"
        in out
    )
    assert "note: warm start: 2 trials of 1 earlier sweep teach the searcher; 2 outside this space left out" in out


def test_a_value_this_sweep_pins_keeps_out_the_earlier_trials_that_searched_another(tmp_path):
    earlier = earlier_sweep(tmp_path / "earlier")
    prior = prepare(tmp_path, warm_start=[str(earlier)], sets=["hidden_dim=64"]).prior
    assert [p["lr"] for p, _ in prior] == [0.01]  # b (hidden_dim 32) is another config now


@pytest.mark.parametrize(
    "kw, problem",
    [
        ({"warm_start": ["nowhere"]}, "--warm-start nowhere: no such folder"),
        (
            {"warm_start": ["EARLIER"], "search": "random"},
            "--warm-start: only the rung_tpe search learns from earlier sweeps (this sweep's search: random; add --search "
            "rung_tpe)",
        ),
        ({"warm_start": ["IMDB"]}, "--warm-start IMDB: a sweep of experiment imdb; this one is seqclf"),
        (
            {"warm_start": ["EARLIER"], "sets": ["hidden_dim=128"]},
            "--warm-start EARLIER: none of its 4 trials has a val_macro_f1 score for a config in this sweep's space",
        ),
    ],
)
def test_a_warm_start_that_cannot_teach_is_refused_before_anything_starts(tmp_path, kw, problem):
    earlier, imdb = earlier_sweep(tmp_path / "earlier"), earlier_sweep(tmp_path / "imdb", experiment="imdb")
    names = {"EARLIER": str(earlier), "IMDB": str(imdb)}
    kw = {k: [names.get(v, v) for v in vs] if k == "warm_start" else vs for k, vs in kw.items()}
    with pytest.raises(UserError) as e:
        prepare(tmp_path, **kw)
    assert str(e.value).startswith(problem.replace("EARLIER", names["EARLIER"]).replace("IMDB", names["IMDB"]))
    assert not (tmp_path / "sweeps" / "new").exists()


def test_a_storage_folder_gives_its_sweeps_of_this_experiment_and_a_resume_reads_nothing(tmp_path):
    earlier_sweep(tmp_path / "store" / "one")
    earlier_sweep(tmp_path / "store" / "two")
    earlier_sweep(tmp_path / "store" / "other", experiment="imdb")
    assert len(prepare(tmp_path, warm_start=[str(tmp_path / "store")]).prior) == 4
    # a resumed sweep's searcher has its prior in Tune's saved state: the folders may be gone
    gone = plan.prepare(
        plan.SweepOptions(target="seqclf_gru", storage=str(tmp_path / "sweeps"), name="new", warm_start=("gone",)),
        fresh=False,
    )
    assert gone.prior == ()


SPACE = {"lr": tune.loguniform(1e-4, 1e-1), "width": tune.choice([8, 16, 32])}


def scores(study, state=optuna.trial.TrialState.COMPLETE):
    return sorted(t.value for t in study.get_trials(states=(state,)))


def asked(study):
    """Proposals drawn from a study (told FAIL: a proposal is not a result)."""
    return len(study.get_trials(states=(optuna.trial.TrialState.FAIL,)))


def test_rung_tpe_learns_the_prior_at_its_rungs_apart_and_runs_its_best_configs_first():
    prior = [
        ({"lr": 1e-3, "width": 8}, {1: 0.5, 2: 0.6, 3: 0.7}),
        ({"lr": 1e-2, "width": 16}, {1: 0.6, 3: 0.9, 9: 0.95}),
        ({"lr": 3e-2, "width": 64}, {1: 0.99}),  # a width this space does not have: left out
        ({"lr": 5e-2, "width": 32}, {1: 0.2, 3: 0.3}),
    ]
    s = RungTPE(
        max_t=9,
        grace_period=1,
        reduction_factor=3,
        seed=0,
        min_points=3,
        prior=prior,
        points_to_evaluate=[{"lr": 1e-4, "width": 8}],
    )
    s.set_search_properties("acc", "max", SPACE)
    assert [scores(s.warm[m]) for m in (1, 3, 9)] == [[0.2, 0.5, 0.6], [0.3, 0.7, 0.9], [0.95]]
    assert [scores(s.studies[m]) for m in (1, 3, 9)] == [[], [], []]  # the sweep's own: none yet
    first = [s.suggest(f"t{i}") for i in range(3)]
    assert first == [
        {"lr": 1e-4, "width": 8},
        {"lr": 1e-2, "width": 16},
        {"lr": 1e-3, "width": 8},
    ]  # presets, then the best two
    assert s.spent() == 0


def test_the_prior_steers_only_until_a_rung_has_enough_scores_of_the_sweeps_own():
    prior = [({"lr": lr, "width": 8}, {1: acc}) for lr, acc in ((1e-3, 0.5), (1e-2, 0.6), (5e-2, 0.2))]
    s = RungTPE(
        max_t=9,
        grace_period=1,
        reduction_factor=3,
        seed=0,
        min_points=3,
        prior=prior,
        prior_first=0,
        random_fraction=0.0,
    )
    s.set_search_properties("acc", "max", SPACE)
    s.suggest("t0")
    assert (asked(s.warm[1]), asked(s.studies[1])) == (1, 0)  # 3 prior scores at rung 1, none of its own
    for i, acc in enumerate((0.3, 0.4, 0.8)):
        s.on_trial_result(f"t{i}", {"training_iteration": 1, "acc": acc})
        s.suggest(f"t{i + 1}")
    assert scores(s.warm[1]) == [0.2, 0.3, 0.4, 0.5, 0.6, 0.8]  # the warm study follows the sweep too
    assert scores(s.studies[1]) == [0.3, 0.4, 0.8]
    assert (asked(s.warm[1]), asked(s.studies[1])) == (3, 1)  # its third own score: its own study from then on


def test_rung_tpe_ranks_the_prior_by_the_sweep_direction():
    prior = [({"lr": 1e-3, "width": 8}, {1: 0.5}), ({"lr": 1e-2, "width": 16}, {1: 0.1})]
    s = RungTPE(max_t=9, grace_period=1, reduction_factor=3, seed=0, prior=prior, prior_first=1)
    s.set_search_properties("loss", "min", SPACE)
    assert s.suggest("t0") == {"lr": 1e-2, "width": 16}


def test_a_user_trainable_learns_from_a_plain_ray_tune_experiment_folder(tmp_path, capsys):
    import json

    exp = tmp_path / "ray_exp"
    for i, values in enumerate([[0.5, 0.7], [0.4]]):
        trial = exp / f"train_fn_{i:05d}"
        trial.mkdir(parents=True)
        (trial / "params.json").write_text(json.dumps({"lr": 0.01 * (i + 1), "width": 8}))
        (trial / "result.json").write_text(
            "".join(
                json.dumps({"acc": v, "training_iteration": k + 1, "trial_id": f"r{i}"}) + "\n"
                for k, v in enumerate(values)
            )
        )
    (tmp_path / "mine.py").write_text("def objective(config):\n    pass\n")
    (tmp_path / "space.yaml").write_text(
        "method: bayes\nmetric: {name: acc, goal: maximize}\nparameters:\n"
        "  lr: {distribution: log_uniform_values, min: 1.0e-3, max: 1.0e-1}\n"
        "  width: {values: [8, 16]}\n  epochs: {value: 2}\n"
    )
    prep = plan.prepare(
        plan.SweepOptions(
            trainable=f"{tmp_path / 'mine.py'}:objective",
            space=str(tmp_path / "space.yaml"),
            storage=str(tmp_path / "sweeps"),
            name="mine",
            warm_start=[str(exp)],
        )
    )
    assert prep.prior == (({"lr": 0.01, "width": 8}, {1: 0.5, 2: 0.7}), ({"lr": 0.02, "width": 8}, {1: 0.4}))
    assert "note: warm start: 2 trials of 1 earlier sweep teach the searcher\n" in capsys.readouterr().out


def test_a_warm_started_searcher_saved_and_restored_goes_on_with_its_prior(tmp_path):
    """A resumed sweep reads no earlier sweep again: its searcher's saved state holds the prior."""
    prior = [({"lr": lr, "width": 8}, {1: acc}) for lr, acc in ((1e-3, 0.5), (1e-2, 0.6), (5e-2, 0.2))]
    a = RungTPE(max_t=9, grace_period=1, reduction_factor=3, seed=0, min_points=3, prior=prior)
    a.set_search_properties("acc", "max", SPACE)
    a.suggest("t0")
    a.on_trial_result("t0", {"training_iteration": 1, "acc": 0.3})
    a.save(str(tmp_path / "state.pkl"))
    b = RungTPE(max_t=9, grace_period=1, reduction_factor=3, seed=0, min_points=3)  # as Tune rebuilds it: no prior
    b.restore(str(tmp_path / "state.pkl"))
    assert scores(b.warm[1]) == [0.2, 0.3, 0.5, 0.6]
    assert [a.suggest(f"n{i}") for i in range(4)] == [b.suggest(f"n{i}") for i in range(4)]
