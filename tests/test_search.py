"""sweeplab's default search, driven as Tune's controller drives it (no Ray runtime):
promotion ASHA pauses below a rung's cutoff and promotes later, never cuts a preset or a
tie, records every decision in the results store and stops what can no longer be
promoted; RungTPE learns each rung from that rung's scores only, keeps to an epoch budget
and survives a save / restore."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest
from ray import tune
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from sweeplab import store
from sweeplab.search.promotion import PromotionASHA
from sweeplab.search.rung_tpe import RungTPE
from sweeplab.search.rungs import default_grace, rung_milestones
from sweeplab.record import SweepRecord

CONTINUE, PAUSE, STOP = TrialScheduler.CONTINUE, TrialScheduler.PAUSE, TrialScheduler.STOP


class FakeTrial:
    def __init__(self, trial_id, config=None):
        self.trial_id, self.config, self.status = trial_id, config or {"lr": 0.1}, Trial.RUNNING
        self.last_result = {"trial_id": trial_id, "training_iteration": 1}  # it has reported

    def set_status(self, status):
        self.status = status


class FakeController:
    """What Tune hands a scheduler: its trials, stop_trial and whether the search is done."""

    def __init__(self, trials, finished=False):
        self.trials, self.stopped = trials, []
        self.search_alg = SimpleNamespace(is_finished=lambda: finished)

    def get_trials(self):
        return self.trials

    def stop_trial(self, trial):
        trial.status = Trial.TERMINATED
        self.stopped.append(trial.trial_id)


def choose(s, ctrl):
    """Tune starts whatever the scheduler chooses."""
    trial = s.choose_trial_to_run(ctrl)
    if trial is not None:
        trial.status = Trial.RUNNING
    return trial


def result(epoch, value, checkpoint=True):
    """A function trainable's result as Tune gives it: ``checkpoint_dir_name`` is set
    where that report saved a checkpoint."""
    return {
        "training_iteration": epoch,
        "acc": value,
        "checkpoint_dir_name": f"checkpoint_{epoch:06d}" if checkpoint else None,
    }


@pytest.mark.parametrize(
    "max_t, grace, rungs",
    [
        (52, 4, [4, 12, 36]),  # LCBench: the lowest rung at 2 x 52 / 27
        (100, 7, [7, 21, 63]),
        (60, 4, [4, 12, 36]),
        (20, 2, [2, 6, 18]),  # never a rung at epoch 1
        (12, 2, [2, 6]),  # too short for three rungs from epoch 2
        (3, 2, [2]),
        (2, 2, []),  # no rung below max_t: every trial runs its full length
    ],
)
def test_rungs_sit_three_below_max_t_the_lowest_never_at_the_first_epoch(max_t, grace, rungs):
    assert default_grace(max_t, 3) == grace and rung_milestones(grace, 3, max_t) == rungs
    assert rung_milestones(60, 3, 60) == [] and len(rung_milestones(1, 3, 1000)) > 3  # a user's grace: any ladder


def test_the_endgame_finishes_the_best_paused_trials_instead_of_starting_what_it_could_not_finish():
    """Rungs at epochs 1 and 3 of 9, 2 workers, a budget of 20 epochs: once what is left only
    pays for finishing the best paused trial of each worker, they are resumed (room or not)
    and run to max_t through the rung they would have waited at, while a config made
    meanwhile is not started; once the budget is spent nothing more is resumed."""
    s = scheduler(epoch_budget=20, max_concurrent=2)
    trials = [FakeTrial(t) for t in "abc"]
    ctrl = FakeController(trials)
    for t, v in zip(trials, (0.5, 0.9, 0.7)):
        assert s.on_trial_result(ctrl, t, result(1, v)) == PAUSE
        t.status = Trial.PAUSED
    assert not s.endgame()  # 17 epochs left; b and c would need 8 each
    assert choose(s, ctrl) is trials[1]  # the rung's one promotion, as without a budget
    assert s.on_trial_result(ctrl, trials[1], result(3, 0.95)) == PAUSE  # alone at rung 3: no room
    trials[1].status = Trial.PAUSED
    assert not s.endgame()  # 15 left; b needs 6 from rung 3, c 8
    late = FakeTrial("d")
    ctrl.trials.append(late)
    assert s.on_trial_result(ctrl, late, result(1, 0.1)) == PAUSE
    late.status = Trial.PAUSED
    assert s.endgame()  # 14 left: what b and c need
    made = FakeTrial("e")
    made.status = Trial.PENDING
    ctrl.trials.append(made)
    assert choose(s, ctrl) is trials[1]  # b first (the highest rung), no room there
    assert choose(s, ctrl) is trials[2]  # then c, before the new config
    assert made.status == Trial.PENDING
    assert s.on_trial_result(ctrl, trials[2], result(3, 0.2)) == CONTINUE  # c goes through rung 3
    assert s.on_trial_result(ctrl, trials[1], result(9, 0.97)) == STOP
    trials[1].status = Trial.TERMINATED
    assert s.on_trial_result(ctrl, trials[2], result(9, 0.8)) == STOP
    trials[2].status = Trial.TERMINATED
    # 20 spent: no paused trial is resumed (a and d stay paused); the config Tune made runs
    assert not s.endgame() and s.choose_trial_to_run(ctrl) is made


def test_a_config_made_but_not_started_holds_no_worker_and_a_promotion_goes_first():
    """Tune makes configs ahead of free workers; a promotable paused trial goes before them."""
    s = scheduler(max_concurrent=1)
    trials = [FakeTrial(t) for t in "abc"]
    ctrl = FakeController(trials)
    for t, v in zip(trials, (0.5, 0.9, 0.7)):
        s.on_trial_result(ctrl, t, result(1, v))
        t.status = Trial.PAUSED
    made = FakeTrial("d")
    made.status = Trial.PENDING
    ctrl.trials.append(made)
    assert s.choose_trial_to_run(ctrl) is trials[1]  # handed out; Tune starts it (still PAUSED here)
    trials[1].status = Trial.PENDING
    assert s.choose_trial_to_run(ctrl) is None  # b, handed out and starting, holds the one worker
    s.on_trial_result(ctrl, trials[1], result(2, 0.9))
    trials[1].status = Trial.RUNNING
    assert s.choose_trial_to_run(ctrl) is None
    s.on_trial_complete(ctrl, trials[1], {})
    trials[1].status = Trial.TERMINATED
    assert s.choose_trial_to_run(ctrl) is made


def scheduler(**kw):
    s = PromotionASHA(**{"max_t": 9, "grace_period": 1, "reduction_factor": 3, **kw})
    s.set_search_properties("acc", "max")
    return s


def test_a_trial_below_the_cutoff_waits_and_is_promoted_once_the_rung_has_room():
    s = scheduler()
    trials = [FakeTrial(t) for t in "abcdef"]
    ctrl = FakeController(trials)
    # the first two have nobody to be compared with: they wait (Ray's ASHA would let them go on)
    assert s.on_trial_result(ctrl, trials[0], result(1, 0.50)) == PAUSE
    assert s.on_trial_result(ctrl, trials[1], result(1, 0.90)) == PAUSE
    trials[0].status = trials[1].status = Trial.PAUSED
    # a third score gives the rung room for one promotion: the best of three, not the latest
    assert s.on_trial_result(ctrl, trials[2], result(1, 0.70)) == PAUSE
    trials[2].status = Trial.PAUSED
    assert choose(s, ctrl) is trials[1]
    assert choose(s, ctrl) is None  # no room for another, nothing pending
    # three more; room for a second promotion, and the best waiting one (0.70) gets it
    for t, v in zip(trials[3:], (0.1, 0.2, 0.3)):
        assert s.on_trial_result(ctrl, t, result(1, v)) == PAUSE
        t.status = Trial.PAUSED
    assert choose(s, ctrl) is trials[2]
    # a score at the top of a rung with room goes straight on
    late = FakeTrial("g")
    ctrl.trials.append(late)
    assert s.on_trial_result(ctrl, late, result(1, 0.95)) == PAUSE  # 7 scores: room for 2, both given
    assert s.on_trial_result(ctrl, trials[1], result(3, 0.9)) == PAUSE
    assert s.on_trial_result(ctrl, trials[1], result(9, 0.9)) == STOP  # the budget: done


def test_ties_with_the_cutoff_carry_no_information_and_are_not_cut():
    s = scheduler()
    trials = [FakeTrial(t) for t in "abcd"]
    ctrl = FakeController(trials)
    # all at the majority-class floor: the third has room and ties the cutoff, so it goes on
    decisions = [s.on_trial_result(ctrl, t, result(1, 0.067)) for t in trials[:3]]
    assert decisions == [PAUSE, PAUSE, CONTINUE]
    trials[0].status = trials[1].status = Trial.PAUSED
    assert choose(s, ctrl) is None  # the rung's one promotion is given
    for t, v in zip(trials[3:], (0.05,)):
        assert s.on_trial_result(ctrl, t, result(1, v)) == PAUSE
        t.status = Trial.PAUSED
    # Ray's ASHA would have cut a and b at once (score < a cutoff computed from ties); here they
    # wait, and with room they rise before the one strictly below them
    for t in "efg":
        ctrl.trials.append(FakeTrial(t))
        s.on_trial_result(ctrl, ctrl.trials[-1], result(1, 0.01))
        ctrl.trials[-1].status = Trial.PAUSED
    assert choose(s, ctrl) in (trials[0], trials[1])


def test_a_trial_arriving_at_a_rung_does_not_jump_a_better_one_waiting_there():
    """seqclf's first rung: most trials sit at the majority-class floor (0.181). One that
    tied early went on; a good one (0.418) then came when the rung had no room and waits.
    When the rung has room again, a late arrival tied with the cutoff (0.181) must not take
    it: it waits, and the free worker resumes the one that scored 0.418."""
    s = scheduler()
    trials = [FakeTrial(t) for t in "abcdef"]
    ctrl = FakeController(trials)
    decisions = [
        s.on_trial_result(ctrl, t, result(1, v)) for t, v in zip(trials[:5], (0.181, 0.181, 0.181, 0.418, 0.181))
    ]
    assert decisions == [PAUSE, PAUSE, CONTINUE, PAUSE, PAUSE]  # c tied with room; d came with none
    for t in (trials[0], trials[1], trials[3], trials[4]):
        t.status = Trial.PAUSED
    # six scores: room for a second promotion, and the cutoff (the 2nd best) is 0.181
    assert s.on_trial_result(ctrl, trials[5], result(1, 0.181)) == PAUSE
    trials[5].status = Trial.PAUSED
    assert choose(s, ctrl) is trials[3]
    assert s.promoted[1] == {"c", "d"}


def test_presets_always_go_on_and_paused_trials_are_stopped_once_nothing_can_promote_them(tmp_path):
    uri = str(tmp_path / "s")
    recorder = store.SweepRecorder(uri, SweepRecord(), "acc", "max")
    recorder.open()
    s = scheduler(presets={"report": {"lr": 1e-3}}, store_uri=uri)
    preset, other = FakeTrial("p", {"lr": 1e-3}), FakeTrial("q", {"lr": 0.5})
    for t in (preset, other):
        recorder.started(t.trial_id, t.config)
    ctrl = FakeController([preset, other], finished=True)
    assert s.on_trial_result(ctrl, preset, result(1, 0.1)) == CONTINUE  # the worst score, a preset
    assert s.on_trial_result(ctrl, other, result(1, 0.2)) == PAUSE
    other.status = Trial.PAUSED
    assert choose(s, ctrl) is None  # the preset still runs: it could add to the rung
    preset.status = Trial.TERMINATED
    assert choose(s, ctrl) is None and ctrl.stopped == ["q"]
    recorder.close({"p": "TERMINATED", "q": "TERMINATED"})
    decisions = pd.read_parquet(tmp_path / "s" / store.DECISIONS)
    assert list(zip(decisions["trial_id"], decisions["rung"], decisions["action"])) == [
        ("p", 1, "continue"),
        ("q", 1, "pause"),
        ("q", 1, "stop"),
    ]
    scores = json.loads(decisions["scores"].iloc[-1])
    assert scores == {"n": 2, "promoted": 1, "cutoff": None, "top": {"q": 0.2, "p": 0.1}}
    trials = pd.read_parquet(tmp_path / "s" / store.TRIALS).set_index("trial_id")
    assert trials.loc["q", "status"] == "TERMINATED" and trials.loc["q", "stopped_at_rung"] == 1


def test_a_pause_records_why_the_trial_waits_and_the_dashboard_says_it(tmp_path):
    """The rung's best trial paused because a preset took the rung's one promotion: the
    decisions grid says so ("rung full") instead of showing a best score paused unexplained."""
    from sweeplab.analysis import load
    from sweeplab.dashboard import insight

    uri = str(tmp_path / "s")
    recorder = store.SweepRecorder(uri, SweepRecord(metric="acc", mode="max"), "acc", "max")
    recorder.open()
    s = scheduler(presets={"report": {"lr": 1e-3}}, store_uri=uri)
    trials = [
        FakeTrial("p", {"lr": 1e-3}),
        FakeTrial("b", {"lr": 0.2}),
        FakeTrial("c", {"lr": 0.5}),
        FakeTrial("d", {"lr": 0.7}),
    ]
    for t in trials:
        recorder.started(t.trial_id, t.config)
    ctrl = FakeController(trials)
    for t, value in zip(trials, (0.1, 0.05, 0.3, 0.01)):
        recorder.result(t.trial_id, {"training_iteration": 1, "acc": value})
        assert s.on_trial_result(ctrl, t, result(1, value)) == (CONTINUE if t.trial_id == "p" else PAUSE)
    recorder.close({})
    decisions = pd.read_parquet(tmp_path / "s" / store.DECISIONS)
    reasons = {t: json.loads(sc).get("reason") for t, sc in zip(decisions["trial_id"], decisions["scores"])}
    # b: two scores, none promotable yet; c: the rung's best, its one promotion the preset's; d: below the cutoff
    assert reasons == {"p": None, "b": "few_scores", "c": "no_room", "d": "below_cutoff"}
    grid = {d["trial_id"]: d for d in insight.decisions(load.load_sweep(uri))["decisions"]}
    assert grid["c"]["rank"] == 1 and grid["c"]["why"].startswith(
        "waits: good enough to go on, but the rung's promotions"
    )


def test_min_mode_scores_and_a_resumed_scheduler_rebuilds_its_rungs_from_the_store(tmp_path):
    import pickle

    uri = str(tmp_path / "s")
    recorder = store.SweepRecorder(uri, SweepRecord(), "loss", "min")
    recorder.open()
    for t, values in {"a": [0.9, 0.5], "b": [0.3], "c": [0.8]}.items():
        recorder.started(t, {"lr": 0.1})
        for i, v in enumerate(values, 1):
            recorder.result(t, {"training_iteration": i, "loss": v})
    recorder.close({})
    s = PromotionASHA(max_t=9, grace_period=1, reduction_factor=3, store_uri=uri)
    s.set_search_properties("loss", "min")
    restored = pickle.loads(pickle.dumps(s))  # what Tune gives back on a resume
    restored.choose_trial_to_run(FakeController([]))
    assert restored.rungs[1] == {"a": -0.9, "b": -0.3, "c": -0.8} and restored.promoted[1] == {"a"}


SPACE = {"lr": tune.loguniform(1e-4, 1e-1), "width": tune.choice([8, 16, 32])}


def searcher(**kw):
    s = RungTPE(max_t=9, grace_period=1, reduction_factor=3, seed=0, **kw)
    s.set_search_properties("acc", "max", SPACE)
    return s


def test_rung_tpe_learns_each_rung_from_that_rung_only_and_keeps_to_its_budget():
    s = searcher(min_points=3, epoch_budget=12, points_to_evaluate=[{"lr": 1e-3, "width": 8}])
    first = s.suggest("t0")
    assert first == {"lr": 1e-3, "width": 8}  # presets first
    for i in range(1, 5):
        s.suggest(f"t{i}")
    for i, t in enumerate(["t0", "t1", "t2"]):
        s.on_trial_result(t, {"training_iteration": 1, "acc": 0.1 * i})
        s.on_trial_result(t, {"training_iteration": 2, "acc": 0.2 * i})  # no rung: not learnt
    done = lambda m: len(s.studies[m].get_trials(states=(__import__("optuna").trial.TrialState.COMPLETE,)))  # noqa: E731
    assert (done(1), done(3), done(9)) == (3, 0, 0)
    assert s.spent() == 6
    s.on_trial_result("t3", {"training_iteration": 3, "acc": 0.5})
    s.on_trial_result("t4", {"training_iteration": 3, "acc": 0.5})
    assert s.spent() == 12 and s.suggest("t5") == Searcher.FINISHED
    keys = {tuple(sorted(c.items())) for c in (s.params[t] for t in s.params)}
    assert len(keys) == len(s.params)  # never the same config twice


def test_rung_tpe_counts_epochs_trained_again_after_a_restart_against_its_budget():
    """A trial that saved no checkpoint restarts at epoch 1 (promoted, or resumed after a
    kill): those epochs are trained and spent. Counting the highest epoch reached instead,
    a killed and resumed sweep of such a trainable trained 112 epochs on a 60-epoch budget."""
    s = searcher(min_points=3, epoch_budget=8)
    s.suggest("t0")
    for it in (1, 2, 1, 2, 3, 3):  # 2 epochs, then from scratch to 3; Tune hands the last result in twice
        s.on_trial_result("t0", {"training_iteration": it, "acc": 0.1})
    assert s.spent() == 5
    s.suggest("t1")
    for it in (1, 2, 3):
        s.on_trial_result("t1", {"training_iteration": it, "acc": 0.2})
    assert s.spent() == 8 and s.suggest("t2") == Searcher.FINISHED  # reached only 6 of the 8


def test_rung_tpe_save_and_restore_go_on_with_the_same_proposals(tmp_path):
    a = searcher(min_points=3)
    for i in range(6):
        a.suggest(f"t{i}")
        a.on_trial_result(f"t{i}", {"training_iteration": 1, "acc": 0.1 * i})
    a.save(str(tmp_path / "state.pkl"))
    b = searcher(min_points=3)
    b.restore(str(tmp_path / "state.pkl"))
    assert [a.suggest(f"n{i}") for i in range(4)] == [b.suggest(f"n{i}") for i in range(4)]


def test_a_trial_that_ends_its_own_shorter_budget_teaches_the_top_study():
    s = RungTPE(max_t=9, grace_period=1, reduction_factor=3, seed=0, min_points=3)
    s.set_search_properties("acc", "max", {**SPACE, "epochs": tune.choice([5, 9])})
    s.points = [{"lr": 1e-3, "width": 8, "epochs": 5}, {"lr": 1e-2, "width": 8, "epochs": 9}]
    s.suggest("t0"), s.suggest("t1")
    s.on_trial_complete("t0", {"training_iteration": 5, "acc": 0.7, "done": True})  # its own 5 epochs
    s.on_trial_complete("t1", {"training_iteration": 5, "acc": 0.6, "done": True})  # stopped early
    assert [t.value for t in s.studies[9].get_trials()] == [0.7]


def test_the_result_tune_stops_a_trial_on_reaches_the_searcher_through_on_trial_complete():
    """TuneController gives the result a trial stops on (max_t, a cut at a rung) only to
    on_trial_complete: its epochs count toward the budget and its score teaches its rung,
    once, even where Tune also sent it to on_trial_result."""
    s = searcher(min_points=3, epoch_budget=10)
    s.suggest("t0"), s.suggest("t1")
    for it in range(1, 9):
        s.on_trial_result("t0", {"training_iteration": it, "acc": 0.1 * it})
    s.on_trial_complete("t0", {"training_iteration": 9, "acc": 0.95, "done": True})  # STOP at max_t
    s.on_trial_complete("t1", {"training_iteration": 1, "acc": 0.2, "done": True})  # cut at rung 1
    s.on_trial_complete("t1", {"training_iteration": 1, "acc": 0.2, "done": True})
    assert [t.value for t in s.studies[9].get_trials()] == [0.95]
    assert sorted(t.value for t in s.studies[1].get_trials()) == [0.1, 0.2]
    assert s.spent() == 10 and s.suggest("t2") == Searcher.FINISHED


@pytest.mark.parametrize("budget", [None, 30])
def test_the_sweep_plan_budgets_epochs_only_where_trials_are_cut(tmp_path, budget):
    from sweeplab import plan

    opts = plan.SweepOptions(target="seqclf_gru", storage=str(tmp_path), name="x", epoch_budget=budget)
    prep = plan.prepare(opts)
    assert (prep.search, prep.scheduler.name) == ("rung_tpe", "promotion")
    assert (prep.search_budget, prep.epochs_to_spend) == (budget or 16 * 60, budget or 16 * 60)
    fifo = plan.prepare(plan.SweepOptions(target="seqclf_gru", storage=str(tmp_path), name="y", scheduler="fifo"))
    assert (fifo.search_budget, fifo.epochs_to_spend) == (None, None)
    stopped = plan.prepare(
        plan.SweepOptions(target="seqclf_gru", storage=str(tmp_path), name="z", scheduler="fifo", epoch_budget=40)
    )
    assert (stopped.search_budget, stopped.epochs_to_spend) == (None, 40)  # the --epoch-budget stopper ends it


class Counting(Searcher):
    def __init__(self):
        super().__init__(metric="acc", mode="max")
        self.n = 0

    def suggest(self, trial_id):
        self.n += 1
        return {"lr": 0.1 * self.n}

    def on_trial_complete(self, trial_id, result=None, error=False):
        pass


def test_max_concurrent_holds_paused_trials_free_their_slot_and_a_promotion_goes_before_a_new_config():
    """Tune starts every pending trial it has room for, so the limit sits where trials are
    made: a paused trial frees its worker for a new config, and once a paused trial can be
    promoted no new config comes until it has its worker back."""
    from sweeplab.search.pausing import PausingLimiter

    limiter = PausingLimiter(Counting(), max_concurrent=1)
    s = PromotionASHA(max_t=9, grace_period=1, reduction_factor=3, max_concurrent=1)
    s.set_search_properties("acc", "max")
    trials = []
    ctrl = FakeController(trials)
    ctrl.search_alg.searcher = limiter

    def start(trial_id):
        config = limiter.suggest(trial_id)
        if config is None:
            return None
        trials.append(FakeTrial(trial_id, config))
        return trials[-1]

    def report(trial, value):
        action = s.on_trial_result(ctrl, trial, result(1, value))
        if action == PAUSE:
            trial.status = Trial.PAUSED
        return action

    t0 = start("t0")
    assert start("t1") is None  # one trial holds the one worker
    assert report(t0, 0.9) == PAUSE  # the rung's first score: no room to promote yet
    t1 = start("t1")
    assert t1 is not None and report(t1, 0.1) == PAUSE
    t2 = start("t2")
    assert report(t2, 0.5) == PAUSE  # three scores: t0's 0.9 is the cutoff, and t0 waits
    assert limiter.reserved == 1 and start("t3") is None  # the promotion goes first
    assert choose(s, ctrl) is t0 and limiter.reserved == 0
    assert start("t3") is None  # t0 holds the worker again
    assert [t.trial_id for t in trials if t.status == Trial.RUNNING] == ["t0"]


def test_a_scheduler_pickled_by_an_older_sweeplab_resumes():
    """Tune pickles the scheduler with the experiment; one saved before the endgame existed
    has none of its fields and must still schedule."""
    import pickle

    s = scheduler()
    state = {
        k: v for k, v in s.__dict__.items() if k not in ("epoch_budget", "reached", "spent", "finishing", "starting")
    }
    old = PromotionASHA.__new__(PromotionASHA)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    trials = [FakeTrial("a")]
    ctrl = FakeController(trials)
    assert old.on_trial_result(ctrl, trials[0], result(1, 0.5)) == PAUSE and not old.endgame()


def test_a_trial_without_a_checkpoint_is_paused_only_where_a_restart_is_cheap(capsys):
    """A trial with nothing to resume from restarts at epoch 1 when promoted. Rungs 1 and 3 of
    8, eta 3: at rung 1 a restart costs 1 epoch (<= 8/3) and trials below the cutoff are
    paused; promoted, a trial trains from epoch 1 again and goes through rung 1 without a
    second decision (no pause-promote loop), every epoch counted. At rung 3 a restart would
    cost 3 (> 8/3): ASHA's rule there (on at or above the cutoff, or while the rung has fewer
    than eta scores; else stopped)."""
    s = scheduler(max_t=8)
    trials = [FakeTrial(t) for t in "abcdfg"]
    ctrl = FakeController(trials)
    plain = lambda epoch, value: result(epoch, value, checkpoint=False)  # noqa: E731
    decisions = [s.on_trial_result(ctrl, t, plain(1, v)) for t, v in zip(trials, (0.5, 0.9, 0.2, 0.95, 0.1, 0.15))]
    assert decisions == [PAUSE, PAUSE, PAUSE, CONTINUE, PAUSE, PAUSE]  # d: at the cutoff, nothing better waits
    assert capsys.readouterr().out.count("without having saved a checkpoint") == 1
    for t in trials:
        t.status = Trial.PAUSED if t.trial_id != "d" else Trial.RUNNING
    assert s._to_finish("b") == 8  # promoted, it trains the whole trial
    assert choose(s, ctrl) is trials[1]  # rung 1's second place (6 scores / 3): b, the best waiting
    assert s.on_trial_result(ctrl, trials[1], plain(1, 0.88)) == CONTINUE  # trained again: no second decision
    assert s.rungs[1]["b"] == 0.9 and s.spent == 7 and s.uncheckpointed == "a"

    top = scheduler(max_t=8)
    ctrl = FakeController([FakeTrial(t) for t in "xyz"])
    assert [top.on_trial_result(ctrl, t, plain(3, v)) for t, v in zip(ctrl.trials, (0.5, 0.9, 0.2))] == [
        CONTINUE,
        CONTINUE,
        STOP,
    ]


def _decisions_of(s, uri):
    """Drive a sweep's scheduler with its decisions recorded in a results store at ``uri``."""
    recorder = store.SweepRecorder(uri, SweepRecord(), "acc", "max", flush_every=0)
    recorder.open()
    return recorder


def test_a_resumed_scheduler_knows_its_paused_trials_the_endgames_and_the_epochs_trained(tmp_path):
    """Tune does not save a scheduler: a resumed sweep's rebuilds from the store which trials
    wait at which rung (they are not run on without a promotion), which the endgame is
    finishing, and the epochs already trained, so the budget holds across the resume."""
    import pickle

    uri = str(tmp_path / "s")
    recorder = _decisions_of(None, uri)
    s = scheduler(store_uri=uri, epoch_budget=20, max_concurrent=2)
    trials = [FakeTrial(t) for t in "abc"]
    ctrl = FakeController(trials)
    for t, v in zip(trials, (0.5, 0.9, 0.7)):
        recorder.started(t.trial_id, t.config)
        recorder.result(t.trial_id, result(1, v))
        assert s.on_trial_result(ctrl, t, result(1, v)) == PAUSE
        t.status = Trial.PAUSED
    assert choose(s, ctrl) is trials[1]
    recorder.result("b", result(2, 0.91))
    recorder.result("b", result(3, 0.95))
    s.on_trial_result(ctrl, trials[1], result(2, 0.91))
    assert s.on_trial_result(ctrl, trials[1], result(3, 0.95)) == PAUSE
    trials[1].status = Trial.PAUSED
    d = FakeTrial("d")
    ctrl.trials.append(d)
    recorder.started("d", d.config)
    recorder.result("d", result(1, 0.1))
    assert s.on_trial_result(ctrl, d, result(1, 0.1)) == PAUSE
    d.status = Trial.PAUSED
    assert s.endgame() and choose(s, ctrl) is trials[1]  # finishing b
    recorder.close({})
    before = (dict(s.paused_at), set(s.finishing), s.spent)

    restored = pickle.loads(pickle.dumps(scheduler(store_uri=uri, epoch_budget=20, max_concurrent=2)))
    restored.set_search_properties("acc", "max")
    ctrl = FakeController([FakeTrial(t) for t in "abcd"])
    for t in ctrl.trials:
        t.status = Trial.PENDING if t.trial_id == "b" else Trial.PAUSED  # b was running when the driver died
    assert before == ({"a": 1, "c": 1, "d": 1}, {"b"}, 6)
    # b runs (Tune starts it itself); 14 epochs left only finish b and c: the endgame resumes c
    assert restored.choose_trial_to_run(ctrl).trial_id == "c"
    assert (restored.paused_at, restored.finishing, restored.spent) == ({"a": 1, "d": 1}, {"b", "c"}, 6)


def test_a_resumed_sweep_runs_the_trials_its_endgame_was_finishing_before_resuming_any_other(tmp_path):
    """Killed in the endgame with two trials finishing that save no checkpoint: resumed, they
    train again from epoch 1, and that uses what is left of the budget. Before, the resumed
    endgame saw the budget's last epochs free and resumed more paused trials as well (a
    sweep of 120 epochs trained 160 after a kill at 112)."""
    import pickle

    uri = str(tmp_path / "s")
    recorder = _decisions_of(None, uri)
    s = scheduler(store_uri=uri, epoch_budget=20, max_concurrent=2)
    trials = {t: FakeTrial(t) for t in "abcd"}
    ctrl = FakeController(list(trials.values()))

    def run(t, epoch, value):
        recorder.result(t, result(epoch, value, checkpoint=False))
        return s.on_trial_result(ctrl, trials[t], result(epoch, value, checkpoint=False))

    for t, v in zip("abc", (0.5, 0.9, 0.7)):
        recorder.started(t, trials[t].config)
        assert run(t, 1, v) == PAUSE
        trials[t].status = Trial.PAUSED
    assert s.endgame() and choose(s, ctrl) is trials["b"]  # 17 left; b and c need 9 each, from epoch 1
    assert [run("b", e, 0.9 + e / 100) for e in (1, 2, 3)] == [CONTINUE] * 3
    recorder.started("d", trials["d"].config)
    assert run("d", 1, 0.1) == PAUSE
    trials["d"].status = Trial.PAUSED
    assert s.spent == 7 and choose(s, ctrl) is trials["c"]
    for e in (1, 2, 3):
        run("c", e, 0.7 + e / 100)
    for e in (4, 5, 6, 7):
        run("b", e, 0.9 + e / 100)
    recorder.close({})  # the driver dies with b and c running: 14 of 20 epochs spent
    assert (s.spent, s.finishing, s.paused_at) == (14, {"b", "c"}, {"a": 1, "d": 1})

    restored = pickle.loads(pickle.dumps(scheduler(store_uri=uri, epoch_budget=20, max_concurrent=2)))
    restored.set_search_properties("acc", "max")
    ctrl = FakeController([FakeTrial(t) for t in "abcd"])
    for t in ctrl.trials:
        t.status = Trial.PENDING  # as Tune restores them
        restored.on_trial_add(ctrl, t)
    # b and c owe 9 epochs each, from epoch 1: nothing of the 6 left is free for a or d (before:
    # a and d were resumed as well)
    first, second = choose(restored, ctrl), choose(restored, ctrl)
    assert {first.trial_id, second.trial_id} == {"b", "c"}
    assert restored._ready({"a", "d"}) == (False, []) and restored.paused_at == {"a": 1, "d": 1}


def test_a_resumed_sweep_leaves_its_paused_trials_waiting_though_tune_brings_them_back_pending(tmp_path):
    """A resumed Tune restores paused trials as pending, and starts every pending trial: a
    trial that saved no checkpoint trained again from epoch 1 up to the rung it waited at,
    only to pause there again. They are filed as paused and wait for a promotion; new
    configs go first."""
    import pickle

    uri = str(tmp_path / "s")
    recorder = _decisions_of(None, uri)
    s = scheduler(store_uri=uri, max_concurrent=1)
    trials = [FakeTrial(t) for t in "abc"]
    ctrl = FakeController(trials)
    for t, v in zip(trials, (0.5, 0.9, 0.7)):
        recorder.started(t.trial_id, t.config)
        recorder.result(t.trial_id, result(1, v, checkpoint=False))
        assert (
            s.on_trial_result(ctrl, t, result(1, v, checkpoint=False)) == PAUSE
        )  # no checkpoint: a restart costs one epoch
        t.status = Trial.PAUSED
    recorder.close({})
    assert s.paused_at == {"a": 1, "b": 1, "c": 1}

    restored = pickle.loads(pickle.dumps(scheduler(store_uri=uri, max_concurrent=1)))
    restored.set_search_properties("acc", "max")
    ctrl = FakeController([FakeTrial(t) for t in "abcd"])
    for t in ctrl.trials:
        t.status = Trial.PENDING  # as Tune restores them (and starts every pending trial); d: a new config
        restored.on_trial_add(ctrl, t)
    assert [t.status for t in ctrl.trials] == [Trial.PAUSED, Trial.PAUSED, Trial.PAUSED, Trial.PENDING]
    assert choose(restored, ctrl).trial_id == "b"  # the rung's best: a promotion goes before a new config
    assert restored.paused_at == {"a": 1, "c": 1}
    assert restored.choose_trial_to_run(ctrl) is None  # its one worker is b's
    ctrl.trials[1].status = Trial.TERMINATED
    assert choose(restored, ctrl).trial_id == "d"  # a and c, below the cutoff, wait; before: a ran again
    assert restored.paused_at == {"a": 1, "c": 1}


def test_a_new_config_under_the_id_of_a_trial_that_died_with_the_driver_starts_fresh(tmp_path):
    """A trial started (and paused) after Tune's last saved state dies with the driver; the
    restored random generator makes a new config under its id. Before, that config was filed
    as the dead trial's pause and stopped at the end without running a single epoch (and
    Ray's result grid raised on the never-started trial)."""
    import pickle

    uri = str(tmp_path / "s")
    recorder = _decisions_of(None, uri)
    s = scheduler(store_uri=uri, max_concurrent=2)
    trials = [FakeTrial(t) for t in "abc"]
    ctrl = FakeController(trials)
    for t, v in zip(trials, (0.5, 0.9, 0.7)):
        recorder.started(t.trial_id, t.config)
        recorder.result(t.trial_id, result(1, v))
        assert s.on_trial_result(ctrl, t, result(1, v)) == PAUSE
    restored = pickle.loads(pickle.dumps(scheduler(store_uri=uri, max_concurrent=2)))
    restored.set_search_properties("acc", "max")
    known = FakeTrial("a")
    known.status = Trial.PENDING
    restored.on_trial_add(ctrl, known)
    assert recorder.reconcile({"a", "b"}) == ["c"]  # Tune's first step: the store drops c, which died
    fresh = FakeTrial("c", {"lr": 0.3})  # Tune never saved c: a new config under its id
    fresh.status, fresh.last_result = Trial.PENDING, {"trial_id": "c"}
    restored.on_trial_add(ctrl, fresh)
    assert (known.status, fresh.status) == (Trial.PAUSED, Trial.PENDING)
    assert "c" not in restored.paused_at and "c" not in restored.rungs[1] and "a" in restored.paused_at


def test_a_paused_trial_tune_runs_anyway_waits_again_for_its_promotion():
    """A driver killed after a pause but before Tune saved its state brings the trial back as
    pending, and Tune starts it: at its next result it is paused again at the same rung."""
    s = scheduler()
    trials = [FakeTrial(t) for t in "abc"]
    ctrl = FakeController(trials)
    for t, v in zip(trials, (0.5, 0.9, 0.7)):
        assert s.on_trial_result(ctrl, t, result(1, v)) == PAUSE
    assert s.on_trial_result(ctrl, trials[0], result(2, 0.55)) == PAUSE
    assert s.paused_at == {"a": 1, "b": 1, "c": 1} and s.spent == 4


def test_random_and_grid_under_promotion_count_paused_trials_apart():
    """Ray's generator counts a paused trial as live: with every slot paused it made no more
    configs and nothing came to promote them, so the sweep hung."""
    from sweeplab.search.pausing import PausingVariantGenerator

    tune.register_trainable("sweeplab_test_noop", lambda config: None)
    gen = PausingVariantGenerator(max_concurrent=2)
    gen.add_configurations({"x": {"run": "sweeplab_test_noop", "config": {"lr": tune.uniform(0, 1)}, "num_samples": 5}})
    first, second = gen.next_trial(), gen.next_trial()
    assert gen.next_trial() is None  # both slots run
    gen.on_pause(first.trial_id)
    gen.on_pause(second.trial_id)
    assert gen.next_trial() is not None  # paused trials hold no worker
    gen.reserved = 1  # a promotion waits for the next free worker
    assert gen.next_trial() is None


def test_under_a_time_budget_the_endgame_starts_when_the_time_left_only_finishes_the_best_paused_trial():
    """The endgame counts seconds too: each paused trial's epochs to max_t at its own pace
    (Tune's time_this_iter_s), against the workers' seconds left of --time-budget."""
    now = [0.0]
    s = scheduler(time_budget_s=100.0, max_concurrent=1)
    s.clock = lambda: now[0]
    trials = [FakeTrial(t) for t in "abc"]
    ctrl = FakeController(trials)
    for t, v, pace in zip(trials, (0.5, 0.9, 0.7), (1.0, 5.0, 2.0)):
        assert s.on_trial_result(ctrl, t, {**result(1, v), "time_this_iter_s": pace}) == PAUSE
        t.status = Trial.PAUSED
    # b, the most promising, needs 8 epochs x 5 s = 40 s: not yet with 100 s left
    assert not s.endgame()
    now[0] = 61.0  # 39 s left
    assert s.endgame() and choose(s, ctrl) is trials[1]
    assert s.finishing == {"b"}


def test_hyperband_stops_a_trial_left_paused_when_its_brackets_last_running_trial_ends():
    """Ray's HyperBand processes a bracket on a trial's removal only while it is unfinished:
    the trial paused at the last rung waiting for the other one stayed paused for good when
    that one ended, and the sweep hung (a smoke grid under hyperband, 1 run in 4 or 5)."""
    from ray.tune.schedulers import HyperBandScheduler

    from sweeplab.search.preset_keeping import EndingHyperBand

    def bracket_of_two(cls):
        s = cls(time_attr="training_iteration", max_t=2)
        s.set_search_properties("acc", "max")
        a, b = FakeTrial("a"), FakeTrial("b")
        ctrl = FakeController([a, b])
        for t in (a, b):
            s.on_trial_add(ctrl, t)
        bracket, _ = s._trial_info[a]
        assert s._trial_info[b][0] is bracket and bracket._halves == 0  # one bracket of 2, its last rung
        assert s.on_trial_result(ctrl, a, result(2, 0.9)) == PAUSE  # b has not reached it yet
        a.status = Trial.PAUSED
        b.status = Trial.TERMINATED
        s.on_trial_complete(ctrl, b, result(1, 0.5))  # b ended early (its own budget, an error...)
        return ctrl

    assert bracket_of_two(HyperBandScheduler).stopped == []  # Ray's: a stays paused, nothing runs
    assert bracket_of_two(EndingHyperBand).stopped == ["a"]


@pytest.mark.parametrize(
    "constraints, decisions, promoted",
    [
        ((), [PAUSE, PAUSE, PAUSE], "b"),
        (("cost <= 2",), [PAUSE, PAUSE, CONTINUE], None),  # c, the front's best that keeps it, goes on at once
    ],
)
def test_mo_asha_ranks_a_rung_by_its_pareto_front_and_a_broken_constraint_last(constraints, decisions, promoted):
    """Two objectives (accuracy up, cost down): a is dominated by c, so the rung's one
    promotion goes to the front (b or c); b breaks a cost limit, so then c."""
    from sweeplab.search.pareto import parse_constraint

    s = scheduler(objectives=[("acc", "max"), ("cost", "min")], constraints=[parse_constraint(c) for c in constraints])
    trials = [FakeTrial(t) for t in "abc"]
    ctrl = FakeController(trials)
    made = []
    for t, (acc, cost) in zip(trials, [(0.5, 1.0), (0.9, 5.0), (0.6, 0.5)]):
        made.append(s.on_trial_result(ctrl, t, {**result(1, acc), "cost": cost}))
        t.status = Trial.PAUSED if made[-1] == PAUSE else Trial.RUNNING
    assert made == decisions
    assert s.rungs[1]["a"] < s.rungs[1]["c"] and (s.rungs[1]["b"] < s.rungs[1]["a"]) == bool(constraints)
    chosen = s.choose_trial_to_run(ctrl)
    assert (chosen.trial_id if chosen else None) == promoted


def test_with_several_objectives_rung_tpe_learns_the_first_alone_too_and_alternates_its_proposals(tmp_path):
    """Each rung's score goes into the multi-objective study and, its first value, into a
    study of the first objective alone; model proposals alternate between them
    (primary_share 0.5); 0 is MOTPE alone. A searcher pickled before this restores as MOTPE."""
    import optuna

    objectives = [("acc", "max"), ("cost", "min")]

    def learnt() -> RungTPE:
        s = RungTPE(max_t=9, grace_period=1, reduction_factor=3, seed=0, min_points=3, objectives=objectives)
        s.set_search_properties("acc", "max", SPACE)
        for i in range(4):
            s.suggest(f"t{i}")
            s.on_trial_result(f"t{i}", {"training_iteration": 1, "acc": 0.1 * i, "cost": 5.0 - i})
        return s

    s = learnt()
    done = (optuna.trial.TrialState.COMPLETE,)  # a proposal is told FAIL: not a score
    assert [t.values for t in s.studies[1].get_trials(states=done)] == [[0.1 * i, 5.0 - i] for i in range(4)]
    assert [t.value for t in s.primary[1].get_trials(states=done)] == [0.1 * i for i in range(4)]

    asked = []
    for study in [*s.studies.values(), *s.primary.values()]:
        original = study.ask
        study.ask = lambda space, study=study, original=original: asked.append(study) or original(space)
    for _ in range(4):
        s._model()
    from_primary = [a is s.primary[1] for a in asked]
    assert len(asked) == 4 and from_primary in ([True, False, True, False], [False, True, False, True])

    alone = RungTPE(max_t=9, seed=0, objectives=objectives, primary_share=0.0)
    alone.set_search_properties("acc", "max", SPACE)
    assert alone.primary == {}
    state = {k: v for k, v in learnt().__dict__.items() if not k.startswith("primary")}  # an older sweeplab's pickle
    (tmp_path / "old.pkl").write_bytes(__import__("pickle").dumps(state))
    old = RungTPE(max_t=9, grace_period=1, reduction_factor=3, seed=0, min_points=3, objectives=objectives)
    old.restore(str(tmp_path / "old.pkl"))
    assert old.primary == {} and old._model() is not None
    assert optuna.trial.TrialState.COMPLETE in {t.state for t in old.studies[1].get_trials()}
