"""sweeplab's own progress display: what it says from the store's rows (exact lines, a fake
clock), how it writes on a terminal and off one, and a real smoke sweep's whole output."""

from __future__ import annotations

import io
import subprocess

import pytest

from sweeplab.progress import Display, Progress

from conftest import sweeplab_process


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def rows(*specs):
    out = {}
    for tid, status, best, it, extra in specs:
        out[tid] = {
            "trial_id": tid,
            "status": status,
            "best/val_mse": best,
            "best_iteration": it,
            "iterations": it,
            **extra,
        }
    return out


def test_progress_counts_names_and_estimates_from_the_store_rows():
    clock = Clock()
    p = Progress("val_mse", "min", total=4, clock=clock)
    first = rows(("a", "RUNNING", 0.5, 1, {"preset": "initial"}), ("b", "RUNNING", None, 0, {}))
    assert p.update(first) == []
    clock.t = 60
    second = rows(
        ("a", "TERMINATED", 0.4, 3, {"preset": "initial"}),
        ("b", "ERROR", None, 1, {"error": "Traceback\nValueError: boom"}),
        ("c", "TERMINATED", 0.6, 1, {"stopped_at_rung": 1}),
        ("d", "PAUSED", 0.7, 1, {}),
    )
    assert p.update(second) == [
        "  finished run #1 (preset initial) after 3 epochs: val_mse 0.4 (epoch 3) - best so far",
        "  failed   run #2 after 1 epoch: ValueError: boom",
        "  stopped  run #3 after 1 epoch: val_mse 0.6 (epoch 1)",
    ]
    assert p.update(second) == []  # each end is said once
    assert p.status(second) == (
        "3 of 4 trials ended, 1 stopped, 1 failed, 1 paused | 1:00 elapsed, ~0:20 left"
        " | best val_mse 0.4: run #1 (preset initial)"
    )


def test_an_epoch_budget_and_a_time_budget_set_the_estimate():
    clock = Clock()
    p = Progress("val_mse", "min", total=10, epoch_budget=40, time_budget=100, clock=clock)
    clock.t = 30
    state = rows(("a", "RUNNING", 0.5, 10, {}))
    p.update(state)
    assert (
        p.status(state)
        == "0 trials ended, 1 running, 10 of 40 epochs | 0:30 elapsed, ~1:10 left | best val_mse 0.5: run #1"
    )
    # trials running when the budget is reached finish their epochs: never "45 of 40"
    state = rows(("a", "TERMINATED", 0.5, 45, {}))
    p.update(state)
    assert p.status(state).startswith("1 trials ended, 45 epochs (budget 40: the last trials finish) | 0:30 elapsed")


def test_epochs_count_what_was_trained_and_time_left_what_running_trials_still_train():
    clock = Clock()
    p = Progress("val_mse", "min", epoch_budget=40, clock=clock, max_t=9)
    clock.t = 80
    # a restarted trial trained 12 epochs to reach epoch 6; b runs at epoch 3 of 9 with the budget spent
    state = rows(("a", "TERMINATED", 0.5, 6, {"epochs_trained": 12}), ("b", "RUNNING", 0.6, 3, {"epochs_trained": 28}))
    assert p.update(state) == ["  finished run #1 after 6 epochs (12 trained): val_mse 0.5 (epoch 6) - best so far"]
    # 40 of 40 epochs trained in 80 s: b's 6 epochs left take ~12 s, never "~0:00 left" while it runs
    assert p.status(state) == (
        "1 trials ended, 1 running, 40 of 40 epochs | 1:20 elapsed, ~0:12 left | best val_mse 0.5: run #1"
    )
    state["b"]["status"] = "TERMINATED"
    assert ", ~0:00 left" in p.status(state)


def test_off_a_terminal_the_status_is_a_plain_line_every_30_s_and_ends_as_they_come():
    clock, out = Clock(), io.StringIO()
    d = Display(Progress("val_mse", "min", total=2, clock=clock), out, tty=False)
    d.tick(rows(("a", "RUNNING", None, 0, {})))
    clock.t = 10
    d.tick(rows(("a", "TERMINATED", 0.3, 2, {})))
    clock.t = 20
    d.tick(rows(("a", "TERMINATED", 0.3, 2, {})), final=True)
    assert out.getvalue().splitlines() == [
        "0 of 2 trials ended, 1 running | 0:00 elapsed",
        "  finished run #1 after 2 epochs: val_mse 0.3 (epoch 2) - best so far",
        "1 of 2 trials ended | 0:20 elapsed, ~0:20 left | best val_mse 0.3: run #1",
    ]
    assert "\r" not in out.getvalue()


def test_on_a_terminal_the_status_line_is_redrawn_in_place():
    clock, out = Clock(), io.StringIO()
    d = Display(Progress("val_mse", "min", total=1, clock=clock), out, tty=True)
    d.tick(rows(("a", "RUNNING", None, 0, {})))
    clock.t = 1
    d.tick(rows(("a", "TERMINATED", 0.3, 2, {})), final=True)
    assert out.getvalue() == (
        "0 of 1 trials ended, 1 running | 0:00 elapsed"
        "\r\033[K  finished run #1 after 2 epochs: val_mse 0.3 (epoch 2) - best so far\n"
        "1 of 1 trials ended | 0:01 elapsed, ~0:00 left | best val_mse 0.3: run #1\n"
    )


@pytest.mark.slow
def test_a_smoke_sweeps_default_output_is_short_and_has_no_ray_tables(tmp_path):
    args = [
        "tune",
        "seqclf_gru",
        "--smoke",
        "--storage",
        str(tmp_path),
        "--name",
        "s",
        "--num-samples",
        "2",
        "--max-concurrent",
        "2",
    ]
    with sweeplab_process(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        out, _ = proc.communicate(timeout=600)
    text = out.decode()
    assert proc.returncode == 0, text[-3000:]
    lines = text.splitlines()
    assert len(lines) <= 40, text
    assert not any(s in text for s in ("Trial status", "Configuration for experiment", "╭", "Token authentication"))
    assert sum(line.startswith("  finished ") or line.startswith("  stopped ") for line in lines) >= 2
    assert any("trials ended" in line and "best val_macro_f1" in line for line in lines)


def test_a_long_set_up_step_says_how_far_it_is_every_10_s_and_a_quick_one_says_nothing():
    from sweeplab.progress import Ticker

    clock, out = Clock(), io.StringIO()
    tick = Ticker("tokenising reviews:", 50_000, clock=clock, stream=out)
    for done, t in ((1000, 4), (2600, 10.5), (3000, 12), (5400, 21)):
        clock.t = t
        tick(done)
    assert out.getvalue().splitlines() == [
        "  tokenising reviews: 2600 of 50000, 10 s",
        "  tokenising reviews: 5400 of 50000, 21 s",
    ]


def test_rows_read_back_after_a_resume_name_a_trial_without_a_nan_preset_or_a_float_epoch():
    """A resumed sweep's rows come from Parquet: no preset is NaN and epochs are floats."""
    p = Progress("val_mse", "min", total=2, clock=Clock())
    ended = rows(("a", "TERMINATED", 0.4, 20.0, {"preset": float("nan")}))
    assert p.update(ended) == ["  finished run #1 after 20 epochs: val_mse 0.4 (epoch 20) - best so far"]
    assert p.status(ended).endswith("best val_mse 0.4: run #1")
