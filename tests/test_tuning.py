"""Sweep preparation and the scheduler / searcher factories, without starting Ray."""

from __future__ import annotations

import pytest

from sweeplab import plan, session, tuning
from sweeplab.errors import UserError
from sweeplab.options import SchedulerSpec
from sweeplab.search import factories


def prep(tmp_path, **kw):
    return plan.prepare(plan.SweepOptions(storage=str(tmp_path), **kw))


def test_resources_come_from_registry_then_space_then_flags(tmp_path):
    default = prep(tmp_path, target="freq")
    # the registry's share (a quarter GPU) stands until the cluster is known to have no GPU
    assert (default.trial_plan.cpus, default.trial_plan.gpus, default.gpu_default) == (1.0, 0.25, True)
    space = tmp_path / "s.yaml"
    space.write_text("experiment: freq\nresources: {cpu: 2, gpu: 0.5}\nparameters:\n  lr: {values: [0.001]}\n")
    from_file = prep(tmp_path, target="freq", space=str(space), address="auto")  # a cluster may have GPUs
    assert (
        from_file.trial_plan.cpus,
        from_file.trial_plan.gpus,
        from_file.trial_plan.workers,
        from_file.gpu_default,
    ) == (2.0, 0.5, 1, False)
    flags = prep(tmp_path, target="freq", space=str(space), gpus_per_trial=0.25, workers_per_trial=2, address="auto")
    assert (flags.trial_plan.cpus, flags.trial_plan.gpus, flags.trial_plan.workers) == (2.0, 0.25, 2)
    with pytest.raises(UserError, match="--cpus-per-trial 0: must be > 0"):
        prep(tmp_path, target="freq", cpus_per_trial=0)
    with pytest.raises(UserError, match="a trial needs 1 GPU"):  # asked for, on a machine without
        prep(tmp_path, target="freq", gpus_per_trial=1)


def test_a_user_trainables_share_is_resolved_once_and_a_zero_gpu_flag_counts(tmp_path):
    """--gpus-per-trial 0 beats the space's GPU share (an `or` once turned 0 back into it)."""
    code = tmp_path / "mine.py"
    code.write_text("def train(config):\n    pass\n")
    space = tmp_path / "s.yaml"
    space.write_text(
        "metric: {name: score, goal: maximize}\nresources: {cpu: 2, gpu: 1}\n"
        "parameters:\n  x: {values: [1, 2]}\n  epochs: {value: 2}\n"
    )
    p = prep(tmp_path, trainable=f"{code}:train", space=str(space), gpus_per_trial=0, address="auto")
    assert (p.trial_plan, p.resources) == (None, plan.registry.Resources(cpu=2.0, gpu=0.0, workers=1))
    assert tuning.build_trainable(p, None)._resources.required_resources == {"CPU": 2.0}
    p = prep(tmp_path, trainable=f"{code}:train", space=str(space), address="auto")
    assert tuning.build_trainable(p, None)._resources.required_resources == {"CPU": 2.0, "GPU": 1.0}
    with pytest.raises(AttributeError):  # frozen: a consumer cannot change the plan under the others
        p.num_samples = 3


def test_a_cluster_without_gpus_runs_the_registrys_gpu_share_on_cpu(tmp_path, monkeypatch, capsys):
    import ray

    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 2.0})
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True}])
    p = session.fit_to_cluster(prep(tmp_path, target="freq"))
    assert (p.trial_plan.gpus, p.resources.gpu) == (
        0.0,
        0.0,
    ) and "has no GPU; trials run on CPU" in capsys.readouterr().out
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 8.0, "GPU": 2.0})
    p = session.fit_to_cluster(prep(tmp_path, target="freq"))
    assert (p.trial_plan.gpus, p.resources.gpu) == (0.25, 0.25)
    monkeypatch.setattr(ray, "nodes", lambda: [{"Alive": True}, {"Alive": True}])
    with pytest.raises(UserError, match="a folder of this node, but the cluster has 2 nodes"):
        session.fit_to_cluster(prep(tmp_path, target="freq"))
    shared = plan.prepare(plan.SweepOptions(target="freq", storage="file:///mnt/shared/sweeps"))
    session.fit_to_cluster(shared)  # a shared mount, declared as such


def test_seed_reaches_every_trial_and_metric_mode_come_from_the_registry(tmp_path):
    p = prep(tmp_path, target="seqclf_lstm", seed=7)
    assert p.spec.param_space()["seed"] == 7 and p.spec.param_space()["cell"] == "lstm"
    assert (p.metric, p.mode, p.search, p.scheduler.name) == ("val_macro_f1", "max", "rung_tpe", "promotion")


def test_smoke_pins_numbers_and_flags_override_the_file(tmp_path):
    p = prep(tmp_path, target="freq", smoke=True, scheduler="hyperband", search="random", max_epochs=1)
    assert p.num_samples == 2 and p.time_budget is None
    assert p.spec.fixed["duration"] == 1.0 and "epochs" not in p.spec.parameters and p.spec.fixed["epochs"] == 1
    assert (p.search, p.scheduler) == ("random", plan.SchedulerSpec("hyperband"))
    assert prep(tmp_path, target="freq", smoke=True, num_samples=5).num_samples == 5


def test_existing_sweep_folder_is_not_overwritten(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(UserError, match="taken already exists; resume it with `sweeplab resume`"):
        prep(tmp_path, target="freq", name="taken")


def test_trials_with_workers_cannot_pause_so_promotion_becomes_asha(tmp_path, capsys):
    p = prep(tmp_path, target="freq", workers_per_trial=2, cpus_per_trial=0.5)
    assert p.scheduler == plan.SchedulerSpec("asha", grace_period=5, reduction_factor=3)
    assert "trials cannot pause, so the promotion scheduler becomes asha" in capsys.readouterr().out


def test_pbt_with_workers_is_refused(tmp_path):
    with pytest.raises(UserError, match="pbt needs checkpoints in Tune"):
        prep(tmp_path, target="freq", scheduler="pbt", workers_per_trial=2)


@pytest.mark.parametrize(
    "name, cls",
    [
        ("asha", "AsyncHyperBandScheduler"),
        ("hyperband", "HyperBandScheduler"),
        ("median", "MedianStoppingRule"),
        ("pbt", "PopulationBasedTraining"),
        ("fifo", "FIFOScheduler"),
    ],
)
def test_scheduler_factory(tmp_path, name, cls):
    from ray.tune import schedulers

    p = prep(tmp_path, target="freq", scheduler=name)
    sched = factories.make_scheduler(p.scheduler, p.spec.max_epochs(), p.spec, 0)
    assert isinstance(sched, getattr(schedulers, cls))
    if name == "pbt":  # architecture and data fields are never mutated
        assert set(sched._hyperparam_mutations) == {"lr"}
    if name == "asha":
        assert sched._max_t == 50


from types import SimpleNamespace  # noqa: E402


class _FakeTrial:
    def __init__(self, trial_id, config):
        self.trial_id, self.config, self.status, self.evaluated_params = trial_id, config, "RUNNING", {}


@pytest.mark.parametrize("name", ["asha", "median"])
def test_schedulers_never_cut_a_preset(tmp_path, name):
    """The reports' configurations are the baselines: a preset as bad as a cut trial runs on."""
    from ray.tune.schedulers import TrialScheduler

    p = prep(tmp_path, target="seqclf_gru", scheduler=name)
    options = (
        {"grace_period": 1, "reduction_factor": 2} if name == "asha" else {"grace_period": 1, "min_samples_required": 1}
    )
    sched = factories.make_scheduler(SchedulerSpec(name, **options), 10, p.spec, 0)
    sched.set_search_properties("val_macro_f1", "max")
    preset = p.spec.preset_configs()["original"]
    trials = {
        k: _FakeTrial(k, c)
        for k, c in {"good": {**preset, "lr": 0.02}, "preset": preset, "bad": {**preset, "lr": 0.03}}.items()
    }
    controller = SimpleNamespace(get_live_trials=lambda: list(trials.values()))
    for t in trials.values():
        sched.on_trial_add(controller, t)
    for it in (1, 2, 3):  # a good trial first, to its end
        sched.on_trial_result(
            controller, trials["good"], {"val_macro_f1": 0.9, "training_iteration": it, "time_total_s": it}
        )
    sched.on_trial_complete(
        controller, trials["good"], {"val_macro_f1": 0.9, "training_iteration": 3, "time_total_s": 3}
    )
    decisions = {}
    for it in (1, 2, 3):
        for key in ("preset", "bad"):
            if decisions.get(key) != TrialScheduler.STOP:
                result = {"val_macro_f1": 0.1, "training_iteration": it, "time_total_s": it}
                decisions[key] = sched.on_trial_result(controller, trials[key], result)
    assert decisions["bad"] == TrialScheduler.STOP  # the same score as the preset's: cut
    assert decisions["preset"] == TrialScheduler.CONTINUE


def test_searcher_factory_gets_presets_first(tmp_path):
    p = prep(tmp_path, target="freq")
    opt = factories.make_searcher("optuna", p.spec, 0, 2, num_samples=3)  # behind its ConcurrencyLimiter
    assert [pt["hidden_size"] for pt in opt.searcher._points_to_evaluate] == [32, 64, 64]
    basic = factories.make_searcher("random", p.spec, 0, 2, num_samples=16)
    assert len(basic._points_to_evaluate) == 5


def test_data_is_built_once_in_the_driver_unless_a_data_field_is_searched(tmp_path):
    shared = plan.shared_data(prep(tmp_path, target="freq", smoke=True))
    key, data = shared
    assert key[0] == "sweeplab.trainables.freq" and data["train"].inputs.shape == (4, 1000, 5)
    # freq_noise searches phase_noise, which changes the data: each trial process builds its own
    assert plan.shared_data(prep(tmp_path, target="freq_noise", smoke=True)) is None


def test_a_trial_bigger_than_the_local_machine_is_refused(tmp_path):
    with pytest.raises(
        UserError, match=r"a trial needs 4.1 CPUs \(2 worker\(s\) x 2 \+ 0.1 for its driver\); this machine has 2"
    ):
        prep(tmp_path, target="freq", workers_per_trial=2, cpus_per_trial=2, num_cpus=2)
    with pytest.raises(UserError, match="a trial needs 1 GPU"):
        prep(tmp_path, target="freq", gpus_per_trial=1, num_cpus=2)
    assert prep(tmp_path, target="freq", workers_per_trial=2, cpus_per_trial=0.5, num_cpus=2).trial_plan.workers == 2


def test_a_metric_without_goal_needs_one_unless_it_is_the_registry_metric(tmp_path):
    space = tmp_path / "m.yaml"
    space.write_text("metric: val_mse\nparameters:\n  lr: {values: [0.001]}\n")
    assert prep(tmp_path, target="freq", space=str(space)).mode == "min"
    space.write_text("metric: train_loss\nparameters:\n  lr: {values: [0.001]}\n")
    with pytest.raises(UserError, match=r"m.yaml: metric: give \{name: train_loss, goal: minimize\|maximize\}"):
        prep(tmp_path, target="freq", space=str(space))
    code = tmp_path / "mine.py"
    code.write_text("def train(config):\n    pass\n")
    for name in ("status", "best/val_mse", "config/lr"):  # a user trainable's metric: no registry to check it
        space.write_text(f"metric: {{name: {name}, goal: minimize}}\nparameters:\n  lr: {{values: [0.001]}}\n")
        with pytest.raises(
            UserError, match=f"m.yaml: metric: '{name}' is a name the results store keeps for its own column"
        ):
            prep(tmp_path, trainable=f"{code}:train", space=str(space))


def test_optuna_never_proposes_a_config_it_has_run_and_finishes_a_space_of_choices(tmp_path):
    """TPE draws each categorical on its own and repeats configs; every trial has the sweep's
    seed, so a repeat would retrace the same curve."""
    from ray.tune.search import Searcher

    space = tmp_path / "s.yaml"
    space.write_text(
        "experiment: freq\nmethod: bayes\nparameters:\n  hidden_size: {values: [16, 32, 64]}\n"
        "  lr: {values: [1.0e-3, 1.0e-2]}\n  seq_length: {values: [50, 100]}\n"
    )
    p = prep(tmp_path, target="freq", space=str(space))
    searcher = factories.make_searcher("optuna", p.spec, 0, 2, num_samples=30)
    searcher.set_search_properties(p.metric, p.mode, p.spec.param_space())
    configs = []
    for i in range(13):
        config = searcher.suggest(f"t{i}")
        if config is Searcher.FINISHED:
            break
        configs.append((config["hidden_size"], config["lr"], config["seq_length"]))
        searcher.on_trial_complete(f"t{i}", {"val_mse": 0.1 + 0.01 * (config["hidden_size"] == 16)})
    assert len(configs) == 12 and len(set(configs)) == 12  # every config once, then finished


def ended_sweep(folder, trials):
    """A sweep folder as an ended sweep leaves it: sweep.json marked ended, Tune's state, its trials."""
    import json

    import pandas as pd

    from sweeplab import spaces

    folder.mkdir()
    (folder / "sweep.json").write_text(
        json.dumps(
            {
                "experiment": "freq",
                "name": "s",
                "options": {},
                "metric": "val_mse",
                "mode": "min",
                "ended": "2026-12-03T10:00:00",
            }
        )
    )
    (folder / "tuner.pkl").write_bytes(b"\x80\x04N.")
    (folder / "space.yaml").write_text(spaces.find("freq").read_text())
    pd.DataFrame(trials).to_parquet(folder / "trials.parquet")
    return folder


def test_resuming_a_sweep_that_ran_to_its_end_says_nothing_to_resume(tmp_path, capsys):
    from sweeplab.cli import main

    sweep = ended_sweep(
        tmp_path / "s",
        [
            {"trial_id": "a", "status": "TERMINATED", "iterations": 3},
            {"trial_id": "b", "status": "ERROR", "iterations": 1},
        ],
    )
    assert main(["resume", str(sweep)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{sweep}: the sweep ran to its end (1 trials finished, 1 errored (--retry-errored reruns them)); "
        "nothing to resume"
    )


def test_resuming_a_sweep_its_time_budget_ended_says_why_nothing_would_run(tmp_path, capsys, monkeypatch):
    """Tune restores a sweep's time budget as spent: resume would start Ray and train nothing."""
    import json

    sweep = ended_sweep(
        tmp_path / "s",
        [
            {"trial_id": "a", "status": "TERMINATED", "iterations": 20},
            {"trial_id": "b", "status": "PAUSED", "iterations": 6},
        ],
    )
    meta = json.loads((sweep / "sweep.json").read_text())
    del meta["ended"]
    (sweep / "sweep.json").write_text(
        json.dumps({**meta, "time_budget_s": 150.0, "time_budget_spent": "2026-12-03T18:10:26"})
    )
    monkeypatch.setattr(tuning, "start_ray", lambda prep: pytest.fail("Ray started"))
    assert tuning.resume(str(sweep)) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"{sweep}: the sweep's time budget (150 s) ended it (2026-12-03T18:10:26) and Tune counts it over every run "
        "of the sweep, so a resume would train nothing; to go on, start a new sweep (--time-budget sets its budget)"
    )


def test_a_sweep_resumed_after_it_ended_is_no_longer_marked_ended(tmp_path, monkeypatch):
    """--retry-errored runs an ended sweep again: were it killed now, a later resume must
    not take it for ended."""
    import json

    sweep = ended_sweep(tmp_path / "s", [{"trial_id": "b", "status": "ERROR", "iterations": 1}])

    class Started(Exception):
        pass

    monkeypatch.setattr(tuning, "shared_data", lambda prep: None)
    monkeypatch.setattr(tuning, "start_ray", lambda prep: (_ for _ in ()).throw(Started()))
    with pytest.raises(Started):
        tuning.resume(str(sweep), retry_errored=True)
    meta = json.loads((sweep / "sweep.json").read_text())
    assert "ended" not in meta and meta["experiment"] == "freq"


@pytest.mark.parametrize(
    "ended, statuses, retry, nothing",
    [
        ("t", ["TERMINATED", "ERROR"], False, True),
        ("t", ["TERMINATED", "ERROR"], True, False),  # errored trials to rerun
        ("t", ["TERMINATED", "PAUSED"], False, False),  # a paused trial goes on
        (None, ["TERMINATED", "TERMINATED"], False, False),  # killed between two trials: the searcher has more
    ],
)
def test_only_a_sweep_that_ran_to_its_end_with_nothing_to_rerun_is_left_alone(ended, statuses, retry, nothing):
    from types import SimpleNamespace

    from sweeplab.record import SweepRecord

    meta = SweepRecord(ended=ended)
    recorder = SimpleNamespace(trials={str(i): {"status": s} for i, s in enumerate(statuses)})
    assert tuning._nothing_to_resume(meta, recorder, retry, "DIR") is nothing


@pytest.mark.parametrize(
    "env, expected",
    [
        ({}, (8266, 100.0, "~/.cache/sweeplab", "")),
        (
            {
                "SWEEPLAB_DASHBOARD_PORT": "0",
                "SWEEPLAB_MIN_FREE_MB": "0.5",
                "SWEEPLAB_CACHE": "/c",
                "SWEEPLAB_FAULTS": "nan@2",
            },
            (0, 0.5, "/c", "nan@2"),
        ),
    ],
)
def test_settings_are_read_from_the_environment_in_one_place(env, expected):
    from pathlib import Path

    from sweeplab import settings

    s = settings.read(env)
    assert (s.dashboard_port, s.min_free_mb, s.cache_dir, s.faults) == (
        *expected[:2],
        Path(expected[2]).expanduser(),
        expected[3],
    )


@pytest.mark.parametrize(
    "env, message",
    [
        (
            {"SWEEPLAB_DASHBOARD_PORT": "http"},
            "SWEEPLAB_DASHBOARD_PORT='http': expected a port number, 0 to 65535 (0: any free port)",
        ),
        (
            {"SWEEPLAB_DASHBOARD_PORT": "70000"},
            "SWEEPLAB_DASHBOARD_PORT='70000': expected a port number, 0 to 65535 (0: any free port)",
        ),
        ({"SWEEPLAB_MIN_FREE_MB": "nan"}, "SWEEPLAB_MIN_FREE_MB='nan': expected a number of MiB >= 0"),
        ({"SWEEPLAB_MIN_FREE_MB": "-1"}, "SWEEPLAB_MIN_FREE_MB='-1': expected a number of MiB >= 0"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(env, message, monkeypatch, capsys):
    from sweeplab.cli import main

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(["list"]) == 2
    assert capsys.readouterr().err == f"sweeplab: error: {message}\n"


def test_a_relative_trainable_path_is_kept_absolute_for_a_resume_from_elsewhere(tmp_path, monkeypatch):
    """Issue 34.6: sweep.json keeps what resume needs to find the trainable."""
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "mine.py").write_text("def train(config):\n    pass\n")
    space = tmp_path / "s.yaml"
    space.write_text(
        "metric: {name: score, goal: maximize}\nparameters:\n  x: {values: [1, 2]}\n  epochs: {value: 2}\n"
    )
    monkeypatch.chdir(tmp_path)
    p = prep(tmp_path, trainable="code/mine.py:train", space=str(space))
    assert p.user_trainable == p.options.trainable == f"{tmp_path}/code/mine.py:train"
    assert plan.record_of(p).options.trainable == f"{tmp_path}/code/mine.py:train"
    assert prep(tmp_path, trainable="json:loads", space=str(space)).user_trainable == "json:loads"  # a module


def test_a_budget_the_presets_fill_is_said_before_anything_starts(tmp_path, capsys):
    """seqclf_gru's 6 presets of 60 epochs take 360 of --num-samples 8's 480 epochs: the
    search is left under 3 trials' epochs, said with what would leave it 3 (issue 32.5)."""
    prep(tmp_path, target="seqclf_gru", num_samples=8)
    assert (
        "note: the budget of 480 epochs leaves the search 120 after the 6 preset(s), which run first and in full "
        "(360 epochs): under 3 trials' worth, so little or nothing searched will run; --num-samples 9 (or "
        "--epoch-budget 540) runs every preset and leaves the search 3 trials' epochs"
    ) in capsys.readouterr().out
    prep(tmp_path, target="seqclf_gru", num_samples=9)
    assert "leaves the search" not in capsys.readouterr().out
    prep(tmp_path, target="seqclf_gru", num_samples=2, smoke=True)  # a smoke run checks the code path: no note
    assert "leaves the search" not in capsys.readouterr().out


def test_a_ray_address_from_the_environment_is_said_before_connecting(monkeypatch, capsys):
    """$RAY_ADDRESS left set (a profile, a `ray start` long ago) would put the sweep on a Ray
    the user did not start for it, silently (issue 32.8)."""
    import ray

    class Connected(Exception):
        pass

    def init(**kw):
        raise Connected(kw["address"])

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.5:6379")
    with pytest.raises(Connected, match="10.0.0.5:6379"):
        session.init_ray(None)
    assert capsys.readouterr().out == (
        "note: running on the Ray at 10.0.0.5:6379 (from $RAY_ADDRESS, not --address): its trials share that "
        "cluster; unset RAY_ADDRESS to run on a Ray of this sweep's own\n"
    )
    with pytest.raises(Connected, match="10.0.0.9:6379"):
        session.init_ray("10.0.0.9:6379")  # named: nothing to say
    monkeypatch.delenv("RAY_ADDRESS")
    with pytest.raises(Connected, match="local"):
        session.init_ray(None)
    assert capsys.readouterr().out == ""


def test_pbt_draws_from_the_sweeps_seed_and_leaves_the_process_generators_alone(tmp_path):
    """Ray's PBT draws from the global random module, unseeded: two sweeps of one seed
    exploited and perturbed differently. make_scheduler hands PBT the seed."""
    import random

    import numpy as np

    p = prep(tmp_path, target="freq", scheduler="pbt", search="random")
    draws = []
    for seed in (5, 5, 6):
        sched = factories.make_scheduler(p.scheduler, 10, p.spec, seed)
        random.seed(123)
        np.random.seed(123)
        outer = random.random(), np.random.random()
        random.seed(123)
        np.random.seed(123)
        draws.append(sched._seeded(lambda: (random.random(), np.random.random(), random.random())))
        assert (random.random(), np.random.random()) == outer  # the process's generators, untouched
    assert draws[0] == draws[1] != draws[2]
