"""The search-quality bench's wall clock (bench/_sq_wall.py) on a scripted method, curves
and epoch times written here: what each trial switch costs, a restart without checkpoints,
the order of events, the budget's end; and the time a curve takes to reach random
search's best (bench/_sq_curves.py, bench/_sq_runs.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from _sq_curves import time_to_reach  # noqa: E402
from _sq_lcbench import epoch_seconds  # noqa: E402
from _sq_sim import CONTINUE, PAUSE, STOP, Run, simulate  # noqa: E402
from _sq_wall import Costs, simulate_wall  # noqa: E402

# trial -> (value after each epoch, seconds each epoch takes)
TRIALS = {"a": ([10.0, 20.0, 30.0], [1.0, 2.0, 4.0]), "b": ([5.0, 6.0, 7.0], [1.0, 1.0, 1.0])}
COSTS = Costs(start=1.0, pause=0.5, resume=2.0, restart=3.0)
FREE = Costs(start=0.0, pause=0.0, resume=0.0, restart=0.0)


class Scripted:
    """Hands out trials in the order given (a key again: resume it), then nothing; answers
    each (key, epoch) as ``decisions`` says the first time, then CONTINUE (STOP at the last
    epoch). Writes down every call."""

    def __init__(self, order, decisions=None, max_epochs=3):
        self.order, self.decisions, self.max_epochs = list(order), dict(decisions or {}), max_epochs
        self.calls: list[tuple] = []

    def next(self):
        if not self.order:
            self.calls.append(("next", None))
            return None
        key = self.order.pop(0)
        self.calls.append(("next", key))
        return key, {"key": key}

    def report(self, key, epoch, value):
        self.calls.append(("report", key, epoch, value))
        default = STOP if epoch >= self.max_epochs else CONTINUE
        return self.decisions.pop((key, epoch), default)


def values(trials):
    return lambda config: np.array(trials[config["key"]][0])


def seconds(trials):
    return lambda config: np.array(trials[config["key"]][1])


def reports(method):
    return [c[1:3] for c in method.calls if c[0] == "report"]


def test_a_start_a_pause_and_a_resume_each_cost_their_seconds_on_the_worker():
    method = Scripted(["a", "b", "a"], {("a", 1): PAUSE, ("b", 1): STOP})
    run = simulate_wall(
        method, values(TRIALS), seconds(TRIALS), budget_s=25.0, workers=1, max_epochs=3, costs=COSTS, points=5
    )
    # a: start 1 + epoch 1 s -> report at 2, paused: saved at 2.5; b: start 1 + 1 s -> 4.5, stopped;
    # a resumed: 2 + its epoch 2 (2 s) -> 8.5, epoch 3 (4 s) -> 12.5; then nothing: it ends there
    assert reports(method) == [("a", 1), ("b", 1), ("a", 2), ("a", 3)]
    assert run.overhead_s == pytest.approx(1.0 + 0.5 + 1.0 + 2.0)
    assert run.seconds_used == pytest.approx(12.5)
    assert run.notes == ["stopped on its own after 50.0% of the time budget"]
    assert (run.trials, run.resumes, run.full_trials, run.epochs_used, run.retrained) == (2, 1, 1, 4, 0)
    # best so far at 5, 10, 15, 20, 25 s
    assert run.curve.tolist() == [10.0, 20.0, 30.0, 30.0, 30.0]
    assert run.chosen == {"key": "a"}


def test_without_checkpoints_a_resumed_trial_trains_again_from_epoch_1_and_pays_for_it():
    method = Scripted(["a", "b", "a"], {("a", 1): PAUSE, ("b", 1): STOP})
    run = simulate_wall(
        method,
        values(TRIALS),
        seconds(TRIALS),
        budget_s=28.0,
        workers=1,
        max_epochs=3,
        costs=COSTS,
        checkpoint=False,
        points=4,
    )
    # a: 1 + 1 -> 2, paused (nothing to save: free at once); b: 1 + 1 -> 4; a restarted: 3 + 1 -> 8
    # (epoch 1 again), + 2 -> 10, + 4 -> 14
    assert reports(method) == [("a", 1), ("b", 1), ("a", 1), ("a", 2), ("a", 3)]
    assert run.overhead_s == pytest.approx(1.0 + 1.0 + 3.0)
    assert run.seconds_used == pytest.approx(14.0)
    assert (run.resumes, run.epochs_used, run.retrained) == (1, 5, 1)
    assert run.curve.tolist() == [10.0, 30.0, 30.0, 30.0]  # at 7, 14, 21, 28 s


def test_the_epoch_clock_restarts_a_trial_without_checkpoints_too():
    method = Scripted(["a", "b", "a"], {("a", 1): PAUSE, ("b", 1): STOP})
    run = simulate(method, values(TRIALS), budget=10, workers=1, max_epochs=3, checkpoint=False)
    assert reports(method) == [("a", 1), ("b", 1), ("a", 1), ("a", 2), ("a", 3)]
    assert (run.epochs_used, run.retrained) == (5, 1)


def test_a_trial_promoted_as_it_is_paused_resumes_once_its_checkpoint_is_saved():
    trials = {"a": ([1.0, 2.0], [2.0, 1.0]), "b": ([3.0, 4.0], [2.0, 1.0])}
    method = Scripted(["a", "b", "a"], {("a", 1): PAUSE, ("b", 1): STOP}, max_epochs=2)
    run = simulate_wall(
        method,
        values(trials),
        seconds(trials),
        budget_s=10.0,
        workers=2,
        max_epochs=2,
        costs=Costs(start=0.0, pause=1.0, resume=0.5, restart=0.0),
        points=10,
    )
    # both report at 2 s (worker 0 first): a paused, saved at 3; b stopped, its worker asks and gets a:
    # it waits for the save, then 0.5 + 1 s -> a's epoch 2 at 4.5
    assert reports(method) == [("a", 1), ("b", 1), ("a", 2)]
    assert run.seconds_used == pytest.approx(4.5)
    assert run.overhead_s == pytest.approx(1.0 + 0.5)


def test_events_run_in_time_order_and_ties_in_worker_order_then_free_workers_ask_in_worker_order():
    trials = {k: ([1.0, 2.0], [1.0, 1.0]) for k in ("p", "q", "r", "s")}
    trials["s"] = ([1.0, 2.0], [0.5, 0.5])
    method = Scripted(["p", "q", "r", "s"], max_epochs=2)
    simulate_wall(method, values(trials), seconds(trials), budget_s=100.0, workers=2, max_epochs=2, costs=FREE)
    assert method.calls == [
        ("next", "p"),
        ("next", "q"),  # worker 0, then worker 1
        ("report", "p", 1, 1.0),
        ("report", "q", 1, 1.0),  # a tie at 1 s: worker 0 first
        ("report", "p", 2, 2.0),
        ("report", "q", 2, 2.0),  # both stop at 2 s
        ("next", "r"),
        ("next", "s"),  # worker 0 takes r, worker 1 s
        ("report", "s", 1, 1.0),  # 2.5 s: s's epochs are shorter, so worker 1's comes first
        ("report", "r", 1, 1.0),
        ("report", "s", 2, 2.0),  # a tie at 3 s: worker 0 first
        ("next", None),  # worker 1 free, nothing more to run
        ("report", "r", 2, 2.0),
        ("next", None),
    ]


def test_the_run_ends_at_the_time_budget_an_epoch_ending_on_it_counts_one_ending_after_does_not():
    trials = {"a": ([1.0, 2.0, 3.0], [1.0, 1.0, 1.0])}
    method = Scripted(["a"])
    run = simulate_wall(
        method, values(trials), seconds(trials), budget_s=2.0, workers=1, max_epochs=3, costs=FREE, points=4
    )
    assert reports(method) == [("a", 1), ("a", 2)]
    assert run.curve.tolist() == [pytest.approx(np.nan, nan_ok=True), 1.0, 1.0, 2.0]  # at 0.5, 1, 1.5, 2 s
    assert (run.epochs_used, run.seconds_used, run.notes) == (2, 2.0, [])


def test_an_overhead_past_the_budget_is_charged_up_to_its_end():
    trials = {"a": ([1.0], [1.0])}
    run = simulate_wall(
        Scripted(["a"], max_epochs=1),
        values(trials),
        seconds(trials),
        budget_s=1.0,
        workers=1,
        max_epochs=1,
        costs=Costs(start=1.5, pause=0.0, resume=0.0, restart=0.0),
        points=2,
    )
    assert run.overhead_s == pytest.approx(1.0)
    assert np.isnan(run.curve).all() and run.epochs_used == 0


def test_a_cost_below_zero_is_refused():
    with pytest.raises(ValueError):
        Costs(start=0.1, pause=-0.01, resume=0.0, restart=0.0)


def test_epoch_seconds_are_the_cumulative_times_differences_never_below_a_floor():
    # the surrogate's cumulative time dips between epochs 2 and 3
    assert epoch_seconds([2.0, 5.0, 4.0, 9.0]).tolist() == pytest.approx([2.0, 3.0, 0.01 * 9.0 / 4, 5.0])


def test_time_to_reach_is_the_first_fraction_of_the_budget_at_the_target_or_none():
    curve = np.array([1.0, 2.0, 3.0, 4.0])
    assert [time_to_reach(curve, t) for t in (1.0, 2.5, 4.0, 4.5)] == [0.25, 0.75, 1.0, None]


def test_time_to_random_best_counts_never_as_the_whole_budget_and_counts_the_nevers():
    from _sq_runs import summarise

    curves = {("random", 0): [1, 2, 3, 4], ("m", 0): [2, 4, 4, 4], ("random", 1): [1, 1, 5, 5], ("m", 1): [3, 3, 3, 3]}
    runs = {
        (m, "t", s): Run(curve=np.array(c, dtype=float), epochs_used=4, trials=1, resumes=0, full_trials=1)
        for (m, s), c in curves.items()
    }
    out = summarise(["random", "m"], ["random", "m"], runs, {"t": {"best": 10.0, "worst": 0.0}}, ["t"], 2, 4)
    # m reaches random's 4 at half the budget on seed 0, never its 5 on seed 1
    assert out["m"]["time_to_random_best"] == {"mean": pytest.approx(0.75), "never": 1}
    # random reaches its own final best, by definition: at the end (seed 0), at 3/4 (seed 1)
    assert out["random"]["time_to_random_best"] == {"mean": pytest.approx(0.875), "never": 0}
    assert out["m"]["lost_to_random"] == 1  # seed 0 ends level with random: not below it


def test_ray_schedulers_are_told_whether_a_report_carried_a_checkpoint(monkeypatch):
    from ray.tune.schedulers import FIFOScheduler
    from ray.tune.search import Searcher

    import _sq_methods as sqm

    class Seen(FIFOScheduler):
        def __init__(self):
            super().__init__()
            self.results = []

        def on_trial_result(self, tune_controller, trial, result):
            self.results.append(result)
            return super().on_trial_result(tune_controller, trial, result)

    class Fixed(Searcher):
        def suggest(self, trial_id):
            return {"x": 1}

    for checkpoint, expected in ((True, ["checkpoint_000001", "checkpoint_000002"]), (False, [None, None])):
        monkeypatch.setattr(sqm, "CHECKPOINT", checkpoint)
        scheduler = Seen()
        # 3 epochs of budget: two reported, the third spent as the budget ends
        simulate(
            sqm.RayMethod(scheduler, Fixed(), max_pending=1),
            lambda config: np.arange(52.0),
            budget=3,
            workers=1,
            max_epochs=52,
        )
        assert [r["checkpoint_dir_name"] for r in scheduler.results] == expected


@pytest.mark.parametrize("at", ["x", "0.5,1.5", ""])
def test_kill_budget_refuses_a_stop_point_outside_the_budget_in_one_line(at):
    import subprocess

    bench = Path(__file__).resolve().parents[1] / "bench" / "kill_budget.py"
    done = subprocess.run([sys.executable, str(bench), "--at", at], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == f"kill_budget: --at {at!r}: expected fractions of the budget between 0 and 1, like 0.5,0.8\n"
